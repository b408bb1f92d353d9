"""Small helpers that write the opencass RDF/XML profile as text.

Every message is striped RDF/XML: node elements (a class, with ``rdf:about``) and property
elements (one literal, one ``rdf:resource`` link or one nested node element) alternate.  Writers
build strings directly (much faster than building an lxml tree and serialising it); these helpers
keep the escaping and the attribute spelling in one place.  Values that are known to need no
escaping (numbers, dates, IRIs built from digits) may be passed through ``raw`` variants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from opencass.codecs.onerecord.vocab import BOOLEAN, DATE, DATETIME, DOUBLE, INTEGER, PREFIXES

__all__ = [
    "boolean",
    "close_node",
    "date_literal",
    "datetime_literal",
    "decimal_literal",
    "escape_attr",
    "escape_text",
    "integer",
    "link",
    "literal",
    "open_node",
    "root_end",
    "root_start",
]

_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_DT = {dt: f' rdf:datatype="{dt}"' for dt in (BOOLEAN, DATE, DATETIME, DOUBLE, INTEGER)}
DT_DOUBLE, DT_DATETIME, DT_DATE = _DT[DOUBLE], _DT[DATETIME], _DT[DATE]
DT_BOOLEAN, DT_INTEGER = _DT[BOOLEAN], _DT[INTEGER]
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def escape_text(text: str) -> str:
    """``text`` escaped for element content; refuses characters XML 1.0 cannot carry."""
    if not text.isprintable():
        raise ValueError(f"{text!r}: control characters cannot be written to XML")
    return text.translate(_TEXT)


def escape_attr(text: str) -> str:
    """``text`` escaped for a double-quoted attribute value."""
    if not text.isprintable():
        raise ValueError(f"{text!r}: control characters cannot be written to XML")
    return text.translate(_ATTR)


def literal(prop: str, text: str) -> str:
    """A plain string literal property element."""
    return f"<{prop}>{escape_text(text)}</{prop}>"


def decimal_literal(prop: str, value: Decimal) -> str:
    """An ``xsd:double`` literal written fixed-point, exactly as the Decimal holds it."""
    return f"<{prop}{DT_DOUBLE}>{value:f}</{prop}>"


def datetime_literal(prop: str, value: object) -> str:
    """An ``xsd:dateTime`` literal at midnight UTC of a ``date``."""
    return f"<{prop}{DT_DATETIME}>{value}T00:00:00Z</{prop}>"


def date_literal(prop: str, value: object) -> str:
    """An ``xsd:date`` literal."""
    return f"<{prop}{DT_DATE}>{value}</{prop}>"


def boolean(prop: str, value: bool) -> str:
    """An ``xsd:boolean`` literal."""
    return f"<{prop}{DT_BOOLEAN}>{'true' if value else 'false'}</{prop}>"


def integer(prop: str, value: int) -> str:
    """An ``xsd:integer`` literal."""
    return f"<{prop}{DT_INTEGER}>{value}</{prop}>"


def link(prop: str, iri: str) -> str:
    """A property element linking to ``iri`` (another node or a code-list member)."""
    return f'<{prop} rdf:resource="{escape_attr(iri)}"/>'


def open_node(prop: str, cls: str, about: str) -> str:
    """The start of a property element holding a node element of class ``cls``."""
    return f'<{prop}><{cls} rdf:about="{escape_attr(about)}">'


def close_node(prop: str, cls: str) -> str:
    """The end of what ``open_node`` started."""
    return f"</{cls}></{prop}>"


def root_start(cls: str, about: str, prefixes: Iterable[str] = ("rdf", "cargo", "cass")) -> str:
    """XML declaration and the start tag of a message's root node element."""
    ns: Mapping[str, str] = PREFIXES
    decls = " ".join(f'xmlns:{p}="{ns[p]}"' for p in prefixes)
    return f'{XML_DECLARATION}<{cls} {decls} rdf:about="{escape_attr(about)}">\n'


def root_end(cls: str) -> str:
    """The end tag of a message's root node element."""
    return f"</{cls}>\n"
