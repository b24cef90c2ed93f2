"""The raw lake: the sink's JSON-lines files in the Kafka Connect S3 sink's layout."""
