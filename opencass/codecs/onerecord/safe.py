"""Hardened, streaming parsing of untrusted XML, and schema validation with located findings.

Theory of operation
-------------------
Nothing in an input may make the parser read a file, open a socket or expand entities:

1. ``check_prolog`` reads the bytes before the root element itself.  A DOCTYPE is refused
   outright (billion laughs, quadratic blow-up, external entities and external DTDs all need
   one), as is any encoding but UTF-8 (so that the scan cannot be fooled by UTF-16).
2. libxml2 then parses with DTD loading, entity resolution and network access off and its
   default resource limits on (``huge_tree`` off); a DOCTYPE that got past step 1 anyway is
   refused from the parsed document's info.
3. ``ElementStream`` feeds the parser in chunks and hands out the root's children once they are
   complete, so the caller can validate, decode and drop them: memory holds one chunk and one
   element.  After every chunk it checks the open elements' depth and how long the current
   element has been growing, so deep nesting and giant elements stop early.

The schema is not attached to the parser: libxml2's streaming validation swallows
well-formedness errors (a truncated document passes) and reports no lines.  Callers validate
each complete element with ``validate``, which runs libxml2's validator on that subtree (same
speed) and yields a finding with the source line.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from importlib import resources
from typing import Any, BinaryIO

from lxml import etree

from opencass.errors import InputError
from opencass.findings import Finding, finding

__all__ = [
    "CHUNK",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_DEPTH",
    "MAX_ATTRIBUTES",
    "MAX_ELEMENT_BYTES",
    "PROFILE_DEPTH",
    "ElementStream",
    "Rejected",
    "check_attributes",
    "check_depth",
    "check_prolog",
    "load_schema",
    "parse_document",
    "safe_parser",
    "validate",
]

DEFAULT_MAX_BYTES = 512 * 2**20
DEFAULT_MAX_DEPTH = 64
CHUNK = 1 << 16
#: What is read of a file before parsing: its prolog (declaration, comments) must fit.
PROLOG_BYTES = 1 << 20
MAX_ELEMENT_BYTES = 4 * 2**20  # one waybill element: a real one is a few kilobytes
# Attributes of one element: the profile's elements carry at most three (rdf:about,
# rdf:resource, rdf:datatype) and a few namespace declarations; tens of thousands would make
# copying or validating the element cost quadratic time.
MAX_ATTRIBUTES = 64
#: How deep the XSD lets elements nest (submission → … → a charge line's numerical value).
PROFILE_DEPTH = 10

SAFE_OPTIONS: dict[str, Any] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "attribute_defaults": False,
}

_SPACE = re.compile(rb"[ \t\r\n]*")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UTF_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


class Rejected(InputError):  # noqa: N818 - a signal carrying a finding, not an error report
    """The input cannot be read on; ``finding`` says why (a file-level finding)."""

    code = "XML_REJECTED"

    def __init__(self, found: Finding) -> None:
        super().__init__(found.message)
        self.finding = found


def _malformed(message: str, line: int | None = 1) -> Rejected:
    return Rejected(finding("XML_MALFORMED", message, line=line))


def check_prolog(data: bytes) -> int:
    """Refuse a DOCTYPE or a non-UTF-8 encoding; returns the offset just after the declaration."""
    if data.startswith(_UTF_BOMS) or data[:1] == b"\x00" or data[1:2] == b"\x00":
        raise _malformed("the document is not UTF-8 (opencass XML is UTF-8 only)")
    i = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    start = i
    if data.startswith(b"<?xml", i) and data[i + 5 : i + 6] in (b" ", b"\t", b"\r", b"\n", b"?"):
        end = data.find(b"?>", i)
        if end < 0:
            raise _malformed("unterminated XML declaration")
        m = _ENCODING.search(data, i, end)
        if m and m.group(1).lower() not in (b"utf-8", b"utf8"):
            raise _malformed(f"encoding {m.group(1).decode('ascii')!r}: only UTF-8 is accepted")
        start = i = end + 2
    while True:
        i = _SPACE.match(data, i).end()  # type: ignore[union-attr]  # always matches
        if data.startswith(b"<!--", i):
            end = data.find(b"-->", i + 4)
            if end < 0:
                raise _malformed("unterminated comment before the root element")
            i = end + 3
        elif data.startswith(b"<?", i):
            end = data.find(b"?>", i + 2)
            if end < 0:
                raise _malformed("unterminated processing instruction")
            i = end + 2
        elif data.startswith(b"<!", i):
            if data[i : i + 9].upper() == b"<!DOCTYPE":
                line = data.count(b"\n", 0, i) + 1
                raise Rejected(
                    finding(
                        "XML_DOCTYPE_FORBIDDEN",
                        "the document has a DOCTYPE; DTDs and entity declarations are refused",
                        line=line,
                    )
                )
            raise _malformed("markup before the root element", data.count(b"\n", 0, i) + 1)
        else:
            return start


def safe_parser(**extra: Any) -> etree.XMLParser:
    """A non-validating parser with entities, DTDs and network access off."""
    return etree.XMLParser(**SAFE_OPTIONS, **extra)


_PER_THREAD = threading.local()


def load_schema(name: str = "cass.xsd") -> etree.XMLSchema:
    """The opencass XSD (the four schema documents shipped in ``schema/``), one per thread.

    An lxml schema keeps the error log of its last validation on itself, so threads that
    validate at the same time each get their own compiled copy.
    """
    schemas: dict[str, etree.XMLSchema] | None = getattr(_PER_THREAD, "schemas", None)
    if schemas is None:
        schemas = _PER_THREAD.schemas = {}
    found = schemas.get(name)
    if found is None:
        path = resources.files(__package__).joinpath("schema", name)
        with resources.as_file(path) as real:
            found = schemas[name] = etree.XMLSchema(etree.parse(str(real), safe_parser()))
    return found


def parse_document(data: bytes, max_bytes: int) -> Any:
    """A whole (small) message parsed safely: its size, its prolog (no DOCTYPE, UTF-8 only) and
    its syntax checked; ``Rejected`` with the finding otherwise.  Comments and processing
    instructions are dropped.  (Large billing submissions are streamed by ``ElementStream``.)"""
    if len(data) > max_bytes:
        raise Rejected(finding("FILE_TOO_LARGE", f"{len(data)} bytes, at most {max_bytes} allowed"))
    check_prolog(data)
    try:
        root = etree.fromstring(data, safe_parser(remove_comments=True, remove_pis=True))
    except etree.XMLSyntaxError as exc:
        raise Rejected(syntax_finding(exc)) from None
    for el in root.iter():
        check_attributes(el)
    return root


def check_attributes(el: Any) -> None:
    """Raise when ``el`` carries more than ``MAX_ATTRIBUTES`` attributes."""
    if len(el.attrib) > MAX_ATTRIBUTES:
        raise Rejected(
            finding(
                "XML_TOO_MANY_ATTRIBUTES",
                f"{len(el.attrib)} attributes on one element, at most {MAX_ATTRIBUTES} allowed",
                line=el.sourceline,
            )
        )


def syntax_finding(exc: etree.XMLSyntaxError) -> Finding:
    """The finding for a parse error: malformed, or nested beyond libxml2's own limit."""
    message = str(exc.msg or exc)
    line = exc.lineno or None
    if "depth" in message.lower():
        return finding("XML_TOO_DEEP", message, line=line)
    return finding("XML_MALFORMED", message, line=line)


def check_depth(el: Any, max_depth: int) -> None:
    """Raise when ``el``'s subtree nests deeper than ``max_depth`` (a limit below the profile's)."""
    if max_depth < PROFILE_DEPTH and _deepest(el) > max_depth:
        raise Rejected(
            finding("XML_TOO_DEEP", f"elements nest deeper than {max_depth}", line=el.sourceline)
        )


def _deepest(el: Any) -> int:
    """Depth (the document's root is 1) of the deepest element in ``el``'s subtree."""
    return max(sum(1 for _ in node.iterancestors()) for node in el.iter()) + 1


def validate(schema: etree.XMLSchema, el: Any, max_depth: int) -> Finding | None:
    """None when ``el`` (a complete element) is valid, else the finding with its line."""
    if schema(el):
        return None
    if _deepest(el) > max_depth:
        return finding("XML_TOO_DEEP", f"elements nest deeper than {max_depth}", line=el.sourceline)
    err = schema.error_log.last_error  # type: ignore[attr-defined]  # missing from the stubs
    line = err.line if err is not None and err.line else el.sourceline
    message = err.message if err is not None else "the element does not fit the schema"
    return finding("XML_SCHEMA_INVALID", message, line=line)


class ElementStream:
    """Feed bytes to libxml2 in chunks; yield each child of the root once it is complete.

    Comments and processing instructions inside a yielded element are removed first, so a
    value's text is one string however the sender interleaved them.

    Yielded children are removed from the tree when the next chunk has been parsed; a caller
    that needs one longer keeps a reference to it.
    """

    def __init__(self, source: bytes | BinaryIO, max_depth: int) -> None:
        if isinstance(source, bytes):
            self._data, self._file = source, None
        else:  # a file: its head is read to check the prolog, the rest chunk by chunk
            self._data, self._file = source.read(PROLOG_BYTES), source
        self._offset = check_prolog(self._data)
        self.max_depth = max_depth
        self.root: Any = None
        self._parser = etree.XMLPullParser(events=("comment", "pi"), **SAFE_OPTIONS)
        self._anchor: Any = None
        self._done = 0
        self._growing: Any = None
        self._grown = 0
        # True once the document has shown a comment or a PI besides the anchor: only then can
        # an element hold one to strip
        self._marked = False

    def _chunks(self) -> Iterator[bytes]:
        data, step = self._data, CHUNK
        for pos in range(self._offset, len(data), step):
            yield data[pos : pos + step]
        self._data = b""  # a file's head is not kept
        if self._file is not None:
            while chunk := self._file.read(step):
                yield chunk

    def __iter__(self) -> Iterator[Any]:
        parser = self._parser
        try:
            # A comment after the declaration hands us the document being built without a
            # Python callback per element (an element event filter costs a third of the parse).
            parser.feed(self._data[: self._offset])
            parser.feed(b"<!---->")
            for chunk in self._chunks():
                parser.feed(chunk)
                yield from self._complete(last_open=True)
            parser.close()
        except etree.XMLSyntaxError as exc:
            raise Rejected(syntax_finding(exc)) from exc
        yield from self._complete(last_open=False)

    def _complete(self, *, last_open: bool) -> Iterator[Any]:
        # libxml2 reports every comment and PI as it parses it, so before an element is
        # complete: the first is ours (the anchor), any other means there are some to strip.
        # Reading the events also keeps them from piling up.
        for _event, node in self._parser.read_events():
            if self._anchor is None:
                self._anchor = node
            else:
                self._marked = True
        root = self.root
        if root is None:
            if self._anchor is None:
                return
            # A tree object remembers the root it saw when made: ask anew until there is one.
            tree = self._anchor.getroottree()
            root = tree.getroot()
            if root is None:
                return
            if tree.docinfo.doctype:  # defence in depth: check_prolog refuses them first
                raise Rejected(finding("XML_DOCTYPE_FORBIDDEN", "the document has a DOCTYPE"))
            self.root = root
        if self._done:
            # Drop what the caller has seen, in one go and once it has let go of the elements:
            # libxml2 then frees them outright instead of moving them to a document of their own.
            del root[: self._done]
            self._done = 0
        child = root[0] if len(root) else None
        while child is not None:
            following = child.getnext()
            if following is None and last_open:
                self._watch(child)
                return
            self._done += 1
            if self._marked and isinstance(child.tag, str):
                # Comments and processing instructions may split a value's text: drop them.
                etree.strip_tags(child, etree.Comment, etree.ProcessingInstruction)
            yield child
            child = following

    def _watch(self, open_child: Any) -> None:
        """Stop on deep nesting or an element that keeps growing (checked once per chunk)."""
        el, depth = open_child, 2
        while len(el):
            el = el[-1]
            depth += 1
            if depth > self.max_depth:
                raise Rejected(
                    finding(
                        "XML_TOO_DEEP",
                        f"elements nest deeper than {self.max_depth}",
                        line=el.sourceline,
                    )
                )
        if open_child is self._growing:
            self._grown += CHUNK
            if self._grown > MAX_ELEMENT_BYTES:
                raise Rejected(
                    finding(
                        "XML_ELEMENT_TOO_LARGE",
                        f"element {open_child.tag} grows beyond {MAX_ELEMENT_BYTES} bytes",
                        line=open_child.sourceline,
                    )
                )
        else:
            self._growing, self._grown = open_child, 0
