"""PAdES signing against real peers: an RFC 3161 time-stamp server on 127.0.0.1 (B-T), keys
with a password, PKCS #12 bundles, and pyhanko's validator as the judge."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.serialization import pkcs12

from opencass.config.model import PdfSigningSettings
from opencass.documents.signing import SigningError, sign_pdf, verify_pdf
from tests.kit.signing import certificate, write_certificate

AT = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


def _plain_pdf(path: Path) -> bytes:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), invariant=1)
    c.drawString(100, 700, "CASS invoice DE-2030-000001")
    c.save()
    return path.read_bytes()


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An RFC 3161 time-stamp server on 127.0.0.1 (pyhanko's own TSA logic behind HTTP)."""
    import warnings

    from asn1crypto import keys as asn1_keys
    from asn1crypto import tsp
    from asn1crypto import x509 as asn1_x509

    with warnings.catch_warnings():  # pyhanko's DSA support warns on import; DSA is unused
        warnings.filterwarnings("ignore", message="DSA is deprecated")
        from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key, cert = certificate("Test TSA", timestamping=True)
    der_key = key.private_bytes(ser.Encoding.DER, ser.PrivateFormat.PKCS8, ser.NoEncryption())
    stamper = DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(ser.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(der_key),
    )
    requests: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"] == "application/timestamp-query"
            response = stamper.request_tsa_response(tsp.TimeStampReq.load(body))
            data = response.dump()
            requests.append(len(body))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    cert_path = tmp_path / "tsa.pem"
    cert_path.write_bytes(cert.public_bytes(ser.Encoding.PEM))
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa", cert_path
    server.shutdown()
    server.server_close()
    assert requests, "the time-stamp server was never asked"


def test_b_t_signature_carries_a_time_stamp_from_the_server(
    tmp_path: Path, tsa: tuple[str, Path]
) -> None:
    url, tsa_cert = tsa
    cert, key = write_certificate(tmp_path, "office")
    settings = PdfSigningSettings(str(cert), str(key), timestamp_url=url)
    signed = sign_pdf(_plain_pdf(tmp_path / "a.pdf"), settings, AT)
    (report,) = verify_pdf(signed, (cert, tsa_cert))
    assert report.timestamped and report.ok


def test_b_b_signature_has_no_time_stamp(tmp_path: Path) -> None:
    cert, key = write_certificate(tmp_path, "office")
    signed = sign_pdf(_plain_pdf(tmp_path / "a.pdf"), PdfSigningSettings(str(cert), str(key)), AT)
    (report,) = verify_pdf(signed, (cert,))
    assert report.ok and not report.timestamped


def test_a_key_with_a_password_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = write_certificate(tmp_path, "locked", password=b"s3cret-pass")
    settings = PdfSigningSettings(str(cert), str(key), password_env="OPENCASS_TEST_PDF_KEY")
    pdf = _plain_pdf(tmp_path / "a.pdf")
    with pytest.raises(SigningError):
        sign_pdf(pdf, settings, AT)  # no password in the environment
    monkeypatch.setenv("OPENCASS_TEST_PDF_KEY", "s3cret-pass")
    (report,) = verify_pdf(sign_pdf(pdf, settings, AT), (cert,))
    assert report.ok


def test_a_pkcs12_bundle(tmp_path: Path) -> None:
    key, cert = certificate("bundle")
    bundle = tmp_path / "office.p12"
    bundle.write_bytes(
        pkcs12.serialize_key_and_certificates(b"office", key, cert, None, ser.NoEncryption())
    )
    cert_path = tmp_path / "bundle.pem"
    cert_path.write_bytes(cert.public_bytes(ser.Encoding.PEM))
    signed = sign_pdf(_plain_pdf(tmp_path / "a.pdf"), PdfSigningSettings(str(bundle)), AT)
    (report,) = verify_pdf(signed, (cert_path,))
    assert report.ok


async def test_signing_works_from_a_thread_that_runs_an_event_loop(tmp_path: Path) -> None:
    cert, key = write_certificate(tmp_path, "office")
    settings = PdfSigningSettings(str(cert), str(key))
    signed = sign_pdf(_plain_pdf(tmp_path / "a.pdf"), settings, AT)
    assert asyncio.get_running_loop() is not None
    (report,) = verify_pdf(signed, (cert,))
    assert report.ok


def test_later_signatures_are_the_bytes_pyhanko_makes_and_valid(tmp_path: Path) -> None:
    """The signer builds a signature's CMS structure once per settings and fills in the digest
    and signature after that: what it writes must be, byte for byte, what pyhanko builds."""
    from opencass.documents.pages import Heading, render_blocks
    from opencass.documents.signing import _load

    cert, key = write_certificate(tmp_path, "office")
    settings = PdfSigningSettings(str(cert), str(key))
    times = [AT, AT, AT.replace(year=2031), AT]
    pdfs = [render_blocks([Heading(f"Invoice {i}", "title")], lang="en", title=f"Invoice {i}",
                          created=at) for i, at in enumerate(times)]  # fmt: skip
    filled = [sign_pdf(pdf, settings, at) for pdf, at in zip(pdfs, times, strict=True)]
    signer = _load(settings)
    assert signer.templates and all(signer.templates.values())  # the later ones were filled
    signer.templates = None  # pyhanko's own assembly, every time
    try:
        built = [sign_pdf(pdf, settings, at) for pdf, at in zip(pdfs, times, strict=True)]
    finally:
        signer.templates = {}
    assert filled == built
    for signed in filled:
        (report,) = verify_pdf(signed, (cert,))
        assert report.ok, report
