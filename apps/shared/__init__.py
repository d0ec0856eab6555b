"""The shared kernel of the modules: domain error base, the HTTP conventions every module's API
follows (error format, command responses, If-Match, idempotency keys, pagination). It holds no
business rules and imports no module."""
