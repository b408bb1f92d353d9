"""opencass: an open, self-hostable CASS gateway."""

from opencass import thirdparty_warnings

__version__ = "0.1.0"

thirdparty_warnings.install()
