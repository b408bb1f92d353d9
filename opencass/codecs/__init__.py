"""Sans-IO translation between bytes and the canonical model (HOT, ONE Record XML)."""

from __future__ import annotations

__all__ = ["detect_format"]

_HOT_HEADERS = (b"AAA", b"ALS", b"AA2", b"AA3")


def detect_format(head: bytes) -> str:
    """``"hot"``, ``"xml"`` or ``"unknown"`` from the first bytes of an input."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if text.startswith(b"<"):
        return "xml"
    if text[:3] in _HOT_HEADERS:
        return "hot"
    sample = head[:4096]
    if not sample:
        return "hot"  # empty: the HOT reader says FILE_EMPTY
    printable = sum(32 <= b < 127 or b in (10, 13) for b in sample)
    if b"\x00" in sample or printable < 0.95 * len(sample):
        return "unknown"
    return "hot"  # text that is not a valid HOT file: the reader lists what is wrong
