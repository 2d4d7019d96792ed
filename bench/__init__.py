"""FinanceLake benchmarks: figures from real runs on the embedded broker, never asserts on time.

Run `make bench` or `python -m bench.run --help`; see bench/README.md for what each figure means.
"""
