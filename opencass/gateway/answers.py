"""The answers to a file: validation report (XML and text) and a signed receipt, in the outbox.

Every answer is written atomically (temp name, fsync, rename, fsync of the directory) under a
name fixed by the file (``<received-at>_<kind>_<file id>.<ext>``), so writing it again after a
crash replaces the same file and the submitter never sees two reports for one upload.
"""

from __future__ import annotations

import base64
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from opencass.findings import Finding
from opencass.store.rows import FileRow

OUTCOME_TEXT = {
    "accepted": "accepted",
    "partially_accepted": "partially accepted",
    "rejected": "rejected",
    "duplicate": "duplicate: already received, nothing booked again",
}


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The gateway's Ed25519 receipt-signing key (PKCS#8 PEM)."""
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def public_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The PEM of the public half."""
    return key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def sign(key: Ed25519PrivateKey, data: bytes) -> bytes:
    """The detached signature file's content: base64 of the Ed25519 signature."""
    return base64.b64encode(key.sign(data)) + b"\n"


def verify(public_pem: bytes, data: bytes, signature_file: bytes) -> bool:
    """True when ``signature_file`` is a valid signature of ``data``."""
    key = load_pem_public_key(public_pem)
    if not isinstance(key, Ed25519PublicKey):
        return False
    try:
        key.verify(base64.b64decode(signature_file.strip(), validate=True), data)
    except (InvalidSignature, ValueError):
        return False
    return True


def stamp(received_at: str) -> str:
    """``20261121T233000Z`` from an ISO timestamp."""
    return datetime.fromisoformat(received_at).strftime("%Y%m%dT%H%M%SZ")


def _where(f: Finding) -> str:
    parts = []
    if f.line is not None:
        parts.append(f"line {f.line}")
    if f.record_type:
        parts.append(f"record {f.record_type.strip() or '?'}")
    if f.field:
        parts.append(f"field {f.field}")
    if f.columns:
        parts.append(f"columns {f.columns[0]}-{f.columns[1]}")
    return ", ".join(parts) or "whole file"


def printable(text: str) -> str:
    """``text`` with control and format characters (newlines, ANSI escapes, bidi overrides)
    shown as escapes, so that a file name or value cannot forge lines or colours in a
    report read in a terminal; other characters, accents included, are kept."""
    out = []
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def report_text(row: FileRow, findings: list[Finding]) -> str:
    """The human-readable validation report (names and messages made ``printable``)."""
    counts = ", ".join(f"{k} {v}" for k, v in sorted(row.counts.items()))
    lines = [
        f"opencass validation report for {printable(row.name)}",
        "",
        f"File id:      {row.id}",
        f"Received at:  {row.received_at}",
        f"Size:         {row.size} bytes",
        f"SHA-256:      {row.sha256}",
        f"Format:       {row.format or '-'}{f' ({row.dialect})' if row.dialect else ''}",
        f"Country:      {row.country or '-'}   Period: {row.period or '-'}",
        f"Outcome:      {OUTCOME_TEXT.get(row.outcome or '', row.outcome)}"
        + ("   (sandbox: nothing booked)" if row.sandbox else ""),
        f"Counts:       {counts or '-'}",
    ]
    if row.duplicate_of:
        lines.append(f"Duplicate of: {row.duplicate_of}")
    lines += ["", f"Findings ({len(findings)}):" if findings else "No findings."]
    for f in findings:
        lines.append(f"- {f.severity.upper()} {f.code} ({_where(f)}): {printable(f.message)}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class AnswerNames:
    """The outbox names of one file's answers."""

    report_xml: str
    report_txt: str
    receipt: str
    signature: str

    @classmethod
    def of(cls, row: FileRow) -> AnswerNames:
        """Names fixed by the file's id and arrival time."""
        base = stamp(row.received_at)
        return cls(
            f"{base}_validation_{row.id}.xml",
            f"{base}_validation_{row.id}.txt",
            f"{base}_receipt_{row.id}.xml",
            f"{base}_receipt_{row.id}.xml.sig",
        )
