"""One module per integration (Postgres, Redis, RabbitMQ/Celery, Kafka, logging)."""
