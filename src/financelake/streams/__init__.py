"""Wiring of the streaming queries: which source, which transforms, which sink, which checkpoint."""
