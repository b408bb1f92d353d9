"""Commands on files: ``validate``, ``convert``, ``receipt verify``, ``demo sample``, and
``serve`` (the daemon)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

from opencass.cli.common import fail, load
from opencass.clock import Clock
from opencass.codecs import detect_format, hot
from opencass.codecs.result import DecodeResult
from opencass.errors import EXIT_INPUT, EXIT_OK, ConfigurationError
from opencass.findings import Finding, finding

MAX_XML_BYTES = 512 * 2**20


class UsageError(ConfigurationError):
    """Bad arguments or an unreadable input path (exit 2)."""

    code = "USAGE"


# --- reading inputs ---------------------------------------------------------------------------


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(4096)
    except OSError as e:
        raise UsageError(f"cannot read {path}: {e.strerror}") from None


def decode_path(path: Path, *, keep_records: bool, workers: int = 0) -> DecodeResult:
    """Decode and validate the file at ``path``, its format detected from its content."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    kind = detect_format(_head(path))
    if kind == "hot":
        if keep_records:
            from opencass.gateway.validate import file_chunks

            return hot.decode_chunks(file_chunks(path), keep_records=True)
        from opencass.gateway.validate import validate_hot_file

        return validate_hot_file(path, workers=workers or None)
    if kind == "xml":
        from opencass.codecs import onerecord

        # validating keeps no record (memory bounded whatever the size); converting needs them
        sink = None if keep_records else _Discard()
        return onerecord.decode_submission_file(path, max_bytes=MAX_XML_BYTES, sink=sink)
    unknown = finding(
        "FORMAT_UNKNOWN", "the file is neither a HOT billing file nor an opencass XML message"
    )
    return DecodeResult("unknown", None, None, [unknown], {"errors": 1, "warnings": 0})


class _Discard:
    """A record sink that keeps nothing: ``validate`` needs the findings only."""

    def header(self, header: object) -> None:
        pass

    def record(self, rec: object, line: int) -> None:
        pass


# --- reporting --------------------------------------------------------------------------------


def _report_json(path: Path, result: DecodeResult) -> str:
    counts = dict(result.counts)
    counts.setdefault("errors", len(result.errors))
    counts.setdefault("warnings", len(result.findings) - len(result.errors))
    doc = {
        "file": str(path),
        "format": result.format,
        "dialect": result.dialect,
        "valid": result.valid,
        "counts": counts,
        "findings": [f.as_dict() for f in result.findings],
    }
    return json.dumps(doc, indent=2)


def _finding_line(f: Finding) -> str:
    where = []
    if f.line is not None:
        where.append(f"line {f.line}")
    if f.record_type:
        where.append(f.record_type.strip() or repr(f.record_type))
    if f.field:
        cols = f" [{f.columns[0]}-{f.columns[1]}]" if f.columns else ""
        where.append(f"{f.field}{cols}")
    elif f.columns:
        where.append(f"columns {f.columns[0]}-{f.columns[1]}")
    loc = ", ".join(where) or "file"
    return f"{f.severity.upper():7} {f.code:28} {loc}: {f.message}"


def _report_text(path: Path, result: DecodeResult) -> str:
    verdict = "valid" if result.valid else "INVALID"
    dialect = f" ({result.dialect})" if result.dialect else ""
    counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
    lines = [f"{path}: {result.format}{dialect}: {verdict}", f"  {counts}"]
    lines += [f"  {_finding_line(f)}" for f in result.findings]
    return "\n".join(lines)


def _print_findings(path: Path, result: DecodeResult, fmt: str, stream: Any) -> None:
    text = _report_json(path, result) if fmt == "json" else _report_text(path, result)
    print(text, file=stream)


# --- commands ---------------------------------------------------------------------------------


def cmd_validate(args: argparse.Namespace) -> int:
    """``opencass validate FILE``."""
    result = decode_path(args.file, keep_records=False, workers=args.workers)
    _print_findings(args.file, result, args.format, sys.stdout)
    return EXIT_OK if result.valid else EXIT_INPUT


def cmd_convert(args: argparse.Namespace) -> int:
    """``opencass convert FILE --to hot|xml|jsonld``."""
    from opencass.model import Dialect

    result = decode_path(args.file, keep_records=True)
    if not result.valid or result.file is None:
        _print_findings(args.file, result, args.format, sys.stderr)
        return EXIT_INPUT
    if args.to == "hot":
        out = hot.encode(result.file, Dialect(args.dialect) if args.dialect else None)
    else:
        from opencass.codecs import onerecord

        out = onerecord.encode_submission(result.file)
        if args.to == "jsonld":
            out = onerecord.to_jsonld(out).encode()
    if args.output:
        tmp = args.output.with_name(f".{args.output.name}.tmp")
        tmp.write_bytes(out)
        tmp.replace(args.output)
    else:
        sys.stdout.buffer.write(out)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, clock: Clock) -> int:
    """``opencass serve``: the daemon, until SIGTERM/SIGINT."""
    import asyncio

    from opencass.config.loader import ConfigError
    from opencass.gateway.app import Gateway
    from opencass.gateway.logs import configure

    config_dir = Path(args.config)
    try:
        level = load(args).gateway.log_level
    except ConfigError as e:
        return fail(e, args)
    configure(level)
    gateway = Gateway(
        config_dir, port=args.port, fault=_crash_hook(), clock=clock, node=args.node or ""
    )
    asyncio.run(gateway.run())
    return EXIT_OK


def _crash_hook() -> Any:
    """Test fault injection: ``OPENCASS_TEST_CRASH_AT=<step>`` kills the process (SIGKILL) when
    intake reaches that step, to prove recovery; unset in production."""
    step = os.environ.get("OPENCASS_TEST_CRASH_AT")
    if not step:
        return None
    import signal

    def crash(at: str) -> None:
        if at == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return crash


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    """``opencass receipt verify FILE``: 0 when the signature is valid, 1 when not."""
    from opencass.gateway.answers import public_key_pem, verify

    signature = args.signature or args.file.with_name(args.file.name + ".sig")
    for p in (args.file, signature):
        if not p.is_file():
            raise UsageError(f"{p}: no such file")
    if args.key:
        public = args.key.read_bytes()
    else:
        from opencass.config.loader import ConfigError
        from opencass.gateway.answers import load_signing_key

        try:
            key_path = load(args).gateway.signing_key
        except ConfigError as e:
            raise UsageError(f"no --key given and the configuration does not load:\n{e}") from e
        public = public_key_pem(load_signing_key(key_path))
    if verify(public, args.file.read_bytes(), signature.read_bytes()):
        print(f"{args.file}: signature valid")
        return EXIT_OK
    print(f"{args.file}: signature INVALID", file=sys.stderr)
    return EXIT_INPUT


def cmd_document_verify(args: argparse.Namespace) -> int:
    """``opencass document verify FILE.pdf``: who signed it, and whether it is unchanged since.

    0 when the file has a signature and every one is valid, intact, covers the whole file and
    chains to a trusted certificate; 1 otherwise."""
    import dataclasses

    from opencass.documents.signing import verify_pdf

    if not args.file.is_file():
        raise UsageError(f"{args.file}: no such file")
    trusted = tuple(args.trust)
    if not trusted:
        from opencass.config.loader import ConfigError

        try:
            signing = load(args).gateway.pdf_signing
        except ConfigError as e:
            raise UsageError(f"no --trust given and the configuration does not load:\n{e}") from e
        if not signing.enabled:
            raise UsageError("no --trust given and the gateway has no [gateway.pdf_signing]")
        trusted = (Path(signing.chain or signing.certificate), Path(signing.certificate))
    try:
        reports = verify_pdf(args.file.read_bytes(), trusted)
    except Exception as e:  # a file that is no PDF, a broken signature dictionary
        print(f"{args.file}: cannot be read as a signed PDF ({e})", file=sys.stderr)
        return EXIT_INPUT
    ok = bool(reports) and all(r.ok for r in reports)
    if args.format == "json":
        print(
            json.dumps(
                {
                    "file": str(args.file),
                    "valid": ok,
                    "signatures": [dict(dataclasses.asdict(r), ok=r.ok) for r in reports],
                },
                indent=2,
            )
        )
        return EXIT_OK if ok else EXIT_INPUT
    if not reports:
        print(f"{args.file}: not signed", file=sys.stderr)
        return EXIT_INPUT
    for r in reports:
        state = "valid" if r.ok else "INVALID"
        why = [name for name, good in (("changed after signing", r.intact),
               ("bad signature", r.valid), ("content added after signing", r.whole_file),
               ("signer not trusted", r.trusted)) if not good]  # fmt: skip
        print(f"{args.file}: signature {state}: signed by {r.signer} at {r.signed_at}"
              + (f" ({'; '.join(why)})" if why else "; the file is unchanged since"))  # fmt: skip
    return EXIT_OK if ok else EXIT_INPUT


def cmd_demo_sample(args: argparse.Namespace, today: date) -> int:
    """``opencass demo sample DIR``: sample billing files (this month's period) to try on."""
    from opencass.cli.samples import write_samples

    for path in write_samples(args.dir, today):
        print(path)
    return EXIT_OK
