"""FinanceLake: a streaming lakehouse for market data (Kafka -> Spark -> Delta Lake)."""

__version__ = "0.1.0"
