"""What users may name on the command line and in configuration: the document languages and the
calendar audiences (imported by the light command-line parser, so nothing else here)."""

from __future__ import annotations

__all__ = ["AUDIENCES", "LANGUAGES"]

#: the languages documents are rendered in (message catalogs, fonts)
LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "de", "zh", "ja")
#: who a calendar export is for (its columns and events)
AUDIENCES: tuple[str, ...] = ("airline", "agent")
