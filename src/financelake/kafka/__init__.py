"""Kafka edges: the embedded broker's life cycle and client configuration."""
