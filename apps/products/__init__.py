"""Products: the catalog, prices, stock and reservations. The module's shape is every
module's (docs/architecture.md); no extras."""
