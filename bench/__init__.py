"""Benchmarks and their deterministic data generators (``make bench``)."""

import opencass  # noqa: F401 - first: it silences the named third-party warnings
