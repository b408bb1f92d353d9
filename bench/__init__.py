"""Benchmarks and their deterministic data generators (``make bench``)."""
