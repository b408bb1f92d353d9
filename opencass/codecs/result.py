"""What every decoder returns: the decoded file (when framing allowed it) and all findings."""

from __future__ import annotations

from dataclasses import dataclass, field

from opencass.findings import Finding, Severity
from opencass.model import BillingFile


@dataclass(slots=True)
class DecodeResult:
    """The outcome of decoding and validating one input."""

    format: str  # "hot" or "xml"
    dialect: str | None
    file: BillingFile | None
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    #: the source line of each record of ``file`` (XML: the line its waybill element starts
    #: on; findings about a record carry the same line), when the decoder knows them
    record_lines: tuple[int, ...] | None = None

    @property
    def errors(self) -> list[Finding]:
        """The findings that reject something."""
        return [f for f in self.findings if f.severity is Severity.ERROR]

    @property
    def valid(self) -> bool:
        """True when no finding is an error (warnings allowed)."""
        return self.counts.get("errors", len(self.errors)) == 0
