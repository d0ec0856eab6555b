"""The event store and the Kafka event log. Knows nothing about the business modules."""
