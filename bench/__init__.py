"""FinanceLake benchmarks: figures from real runs on the embedded broker, never asserts on time
(`make bench`, `python -m bench.run --help`; bench/README.md says what each figure means)."""
