"""Rule versions through Kafka: every worker follows one compacted topic, so all switch alike."""
