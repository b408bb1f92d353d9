"""opencass: an open, self-hostable CASS gateway."""

__version__ = "0.1.0"
