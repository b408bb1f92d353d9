"""The ``opencass`` command.

Exit codes (the contract in ARCHITECTURE.md): 0 success, 1 the input was judged bad,
2 usage or configuration error, 3 internal failure.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from opencass import __version__
from opencass.cli.common import fail, load
from opencass.clock import Clock, clock_from_environment
from opencass.codecs import detect_format, hot
from opencass.codecs.result import DecodeResult
from opencass.errors import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, ConfigurationError
from opencass.findings import Finding, finding

DEFAULT_CONFIG = "/etc/opencass"
MAX_XML_BYTES = 512 * 2**20


class UsageError(ConfigurationError):
    """Bad arguments or an unreadable input path (exit 2)."""

    code = "USAGE"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    from opencass.cli.calendar import add_calendar_parser
    from opencass.cli.dispute import add_dispute_parser
    from opencass.cli.outbox import add_outbox_parser
    from opencass.cli.payment import add_payment_parser
    from opencass.cli.period import add_period_parser

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="DIR",
        default=os.environ.get("OPENCASS_CONFIG", DEFAULT_CONFIG),
        help="configuration directory (env OPENCASS_CONFIG, default %(default)s)",
    )
    p = _Parser(prog="opencass", description="Open CASS gateway.", parents=[common])
    p.add_argument("--version", action="version", version=f"opencass {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_file_commands(sub, common)
    _add_demo_commands(sub, common)
    k = sub.add_parser("check-config", parents=[common], help="load and check the configuration")
    k.add_argument("--format", choices=["text", "json"], default="text")
    sv = sub.add_parser("serve", parents=[common], help="run the gateway daemon")
    sv.add_argument("--port", type=int, help="SFTP port (overrides gateway.toml)")
    for add in (
        add_period_parser,
        add_dispute_parser,
        add_calendar_parser,
        add_payment_parser,
        add_outbox_parser,
    ):
        add(sub, common)
    r = sub.add_parser("receipt", parents=[common], help="receipts")
    rsub = r.add_subparsers(dest="receipt_command", required=True, parser_class=_Parser)
    rv = rsub.add_parser("verify", parents=[common], help="check a receipt's signature")
    rv.add_argument("file", type=Path, help="the receipt; its signature is FILE.sig")
    rv.add_argument("--signature", type=Path, help="signature file (default FILE.sig)")
    rv.add_argument("--key", type=Path, help="gateway public key PEM (default: from --config)")
    return p


def _add_file_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``validate`` and ``convert``."""
    v = sub.add_parser("validate", parents=[common], help="validate a HOT or XML billing file")
    v.add_argument("file", type=Path)
    v.add_argument("--format", choices=["text", "json"], default="text")
    v.add_argument(
        "--workers", type=int, default=0, help="processes for large HOT files (default: cores)"
    )
    c = sub.add_parser("convert", parents=[common], help="convert between HOT, XML and JSON-LD")
    c.add_argument("file", type=Path)
    c.add_argument("--to", choices=["hot", "xml", "jsonld"], required=True)
    c.add_argument("-o", "--output", type=Path, help="output file (default: standard output)")
    c.add_argument("--dialect", choices=["handoff", "participant"], help="HOT dialect to write")
    c.add_argument("--format", choices=["text", "json"], default="text", help="findings format")


def _add_demo_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """``demo sample``, ``demo init`` and ``demo push-server``."""
    from opencass.cli.push import add_push_server_parser

    d = sub.add_parser("demo", parents=[common], help="demo material")
    dsub = d.add_subparsers(dest="demo_command", required=True, parser_class=_Parser)
    s = dsub.add_parser("sample", parents=[common], help="write sample billing files into DIR")
    s.add_argument("dir", type=Path)
    i = dsub.add_parser("init", parents=[common], help="write a complete demo configuration")
    i.add_argument("dir", type=Path)
    i.add_argument("--sftp-port", type=int, default=2222)
    add_push_server_parser(dsub, common)


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

        size = path.stat().st_size
        if size > MAX_XML_BYTES:
            too_big = finding("FILE_TOO_LARGE", f"{size} bytes, at most {MAX_XML_BYTES} allowed")
            return DecodeResult("xml", None, None, [too_big], {"errors": 1, "warnings": 0})
        return onerecord.decode_submission(path.read_bytes())
    unknown = finding(
        "FORMAT_UNKNOWN", "the file is neither a HOT billing file nor an opencass XML message"
    )
    return DecodeResult("unknown", None, None, [unknown], {"errors": 1, "warnings": 0})


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
    asyncio.run(Gateway(config_dir, port=args.port, fault=_crash_hook(), clock=clock).run())
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


def cmd_demo_sample(args: argparse.Namespace, today: date) -> int:
    """``opencass demo sample DIR``: sample billing files (this month's period) to try on."""
    from opencass.cli.samples import write_samples

    for path in write_samples(args.dir, today):
        print(path)
    return EXIT_OK


def main(argv: Sequence[str] | None = None, clock: Clock | None = None) -> int:
    """Entry point of the ``opencass`` console script; ``clock`` tells every command the time
    (by default the wall clock, or the start given in ``OPENCASS_CLOCK_START``)."""
    from opencass.cli.calendar import cmd_calendar
    from opencass.cli.dispute import cmd_dispute
    from opencass.cli.outbox import cmd_outbox
    from opencass.cli.payment import cmd_payment
    from opencass.cli.period import cmd_period
    from opencass.config.commands import cmd_check_config, cmd_demo_init

    args = _parser().parse_args(argv)
    try:
        clock = clock or clock_from_environment(os.environ)
    except ValueError as e:
        print(f"opencass: {e}", file=sys.stderr)
        return EXIT_CONFIG
    now = clock()
    with_now = functools.partial
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "validate": cmd_validate,
        "convert": cmd_convert,
        "check-config": cmd_check_config,
        "serve": with_now(cmd_serve, clock=clock),
        "receipt": cmd_receipt_verify,
        "period": with_now(cmd_period, now=now),
        "dispute": cmd_dispute,
        "calendar": with_now(cmd_calendar, now=now),
        "payment": with_now(cmd_payment, now=now),
        "outbox": with_now(cmd_outbox, now=now),
    }
    try:
        if args.command == "demo" and args.demo_command == "push-server":
            from opencass.cli.push import cmd_push_server

            return cmd_push_server(args)
        if args.command == "demo":
            today = now.date()
            if args.demo_command == "init":
                return cmd_demo_init(args, today)
            return cmd_demo_sample(args, today)
        return handlers[args.command](args)
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:
        return fail(e)
