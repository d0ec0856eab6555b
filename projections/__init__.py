"""The read side: projections built from the Kafka event log by Celery workers."""
