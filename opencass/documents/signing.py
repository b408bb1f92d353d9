"""PAdES signatures of the PDFs a close issues (invoices, sales reports, airline reports).

Theory of operation
-------------------
``[gateway.pdf_signing]`` names the CASS office's signing certificate and private key (PEM
files, or one PKCS#12 file) and, optionally, an RFC 3161 time-stamp server.  Every PDF of a
final close is then signed as PAdES baseline B-B (B-T with the time-stamp server) by
``pyhanko``: an incremental update that adds a signature field whose CMS signature covers
every byte of the file but the signature itself, so any later change is detected.

The signing time is the close's reference time, not the clock: a re-run of the same close
signs the same bytes the same way (RSA PKCS #1 v1.5 signatures are deterministic) and gives the
same file.  With a time-stamp server the token differs on every run; such a file is still
valid and is only replaced, never changed, by a re-run.

The private key is read from its file by the process that signs, kept in memory, and never
written anywhere else or logged; its password, if any, comes from the environment variable
``password_env`` names.

``verify_pdf`` checks every signature of a file: integrity (the signed bytes are unchanged),
whether it covers the whole file (nothing was appended after signing), the signer and
whether the signer's certificate chains to a trusted one (by default: the configured
signing certificate itself).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import os
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from opencass.config.model import PdfSigningSettings
from opencass.errors import ConfigurationError

__all__ = ["SignatureReport", "SigningError", "import_pyhanko", "sign_pdf", "verify_pdf"]

FIELD = "CASS-Signature"
T = TypeVar("T")


class SigningError(ConfigurationError):
    """The signing certificate or key cannot be used."""

    code = "SIGNING_INVALID"


@dataclass(frozen=True, slots=True)
class SignatureReport:
    """What ``verify_pdf`` found about one signature."""

    field: str
    signer: str  # the certificate's subject, human readable
    signed_at: str  # the signing time the signature claims (ISO 8601)
    intact: bool  # the signed bytes are unchanged
    whole_file: bool  # nothing was added after the signature
    valid: bool  # the cryptographic signature is valid
    trusted: bool  # the signer's certificate chains to a trusted certificate
    timestamped: bool  # carries an RFC 3161 time-stamp token (PAdES B-T)

    @property
    def ok(self) -> bool:
        """Intact, valid, trusted and covering the whole file."""
        return self.intact and self.valid and self.trusted and self.whole_file


@functools.cache
def import_pyhanko() -> None:
    """Import pyhanko once, without the deprecation warning its DSA support raises on import
    (DSA is never used here)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="DSA is deprecated")
        import pyhanko.sign.signers
        import pyhanko.sign.validation  # noqa: F401


@functools.lru_cache(maxsize=4)
def _signer(certificate: str, key: str, chain: str, password_env: str, _mtime: float) -> Any:
    from pyhanko.sign import signers

    password = os.environ.get(password_env, "").encode() if password_env else None
    try:
        if certificate.endswith((".p12", ".pfx")):
            signer = signers.SimpleSigner.load_pkcs12(certificate, passphrase=password)
        else:
            extra = [chain] if chain else []
            signer = signers.SimpleSigner.load(
                key, certificate, ca_chain_files=extra, key_passphrase=password or None
            )
    except (OSError, ValueError) as e:
        raise SigningError(f"cannot load the PDF signing certificate or key: {e}") from None
    if signer is None:
        raise SigningError("cannot load the PDF signing certificate or key (see the log)")
    return _cached_key_signer(signer)


@dataclass(frozen=True, slots=True)
class _CmsTemplate:
    """A signature's CMS structure as DER, with where its two varying parts lie: the document's
    digest (inside the signed attributes) and the signature value.  Every other byte is the
    same for every document one signer signs with the same settings (no time-stamp token: the
    signing time of a PAdES signature is in the PDF, not in the CMS), and both parts have a
    fixed length (the digest's; an RSA signature is as long as the key's modulus)."""

    der: bytes
    attrs: tuple[int, int]  # the signed attributes ([0] IMPLICIT SET OF): start, end
    digest: tuple[int, int]  # the message digest, relative to the attributes
    signature: tuple[int, int]

    @classmethod
    def of(cls, made: Any, digest: bytes) -> _CmsTemplate | None:
        """The template of a CMS ``made`` for ``digest``; None when its parts cannot be told
        apart (each must occur exactly once)."""
        der = made.dump()
        info = made["content"]["signer_infos"][0]
        attrs, value = info["signed_attrs"].dump(), bytes(info["signature"].native)
        if der.count(attrs) != 1 or attrs.count(digest) != 1 or der.count(value) != 1:
            return None
        at, d, v = der.index(attrs), attrs.index(digest), der.index(value)
        return cls(der, (at, at + len(attrs)), (d, d + len(digest)), (v, v + len(value)))

    def fill(self, digest: bytes, sign: Callable[[bytes], bytes]) -> bytes | None:
        """The DER for ``digest``, signed by ``sign``; None when a length differs."""
        (a0, a1), (d0, d1), (v0, v1) = self.attrs, self.digest, self.signature
        if len(digest) != d1 - d0:
            return None
        attrs = self.der[a0 : a0 + d0] + digest + self.der[a0 + d1 : a1]
        signature = sign(b"\x31" + attrs[1:])  # signed as a SET OF (RFC 5652, 5.4)
        if len(signature) != v1 - v0:
            return None
        der = self.der[:a0] + attrs + self.der[a1:v0] + signature + self.der[v1:]
        return der if a1 <= v0 else None


def _cached_key_signer(loaded: Any) -> Any:
    """``loaded`` (a pyhanko ``SimpleSigner``) that parses its RSA key once, not per signature
    (parsing and checking an RSA-3072 key costs ~0.1 s; the signature itself ~3 ms), and builds
    the CMS structure of a signature once per settings: pyhanko assembles it with asn1crypto
    from Python values every time (~10 ms); the next signatures fill a ``_CmsTemplate``."""
    from asn1crypto import cms
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from cryptography.hazmat.primitives.serialization import load_der_private_key
    from pyhanko.sign.general import get_pyca_cryptography_hash
    from pyhanko.sign.signers import SimpleSigner

    class CachedKey(SimpleSigner):
        def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
            mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
            if mechanism.signature_algo != "rsassa_pkcs1v15":
                return bytes(super().sign_raw(data, digest_algorithm))
            # pyhanko loaded this key with cryptography, which checked it: not again (0.3 s).
            key: Any = load_der_private_key(
                self.signing_key.dump(), None, unsafe_skip_rsa_key_validation=True
            ) if self._pyca is None else self._pyca  # fmt: skip
            self._pyca = key
            hash_algo = get_pyca_cryptography_hash(digest_algorithm)
            return bytes(key.sign(data, PKCS1v15(), hash_algo))

        async def async_sign(self, data_digest: bytes, digest_algorithm: str,
                             *args: Any, **kw: Any) -> Any:  # fmt: skip
            plain = not args and not kw.get("dry_run") and kw.get("timestamper") is None
            plain = plain and kw.get("encap_content_info") is None and self.templates is not None
            key = (digest_algorithm, repr(sorted(kw.items())))
            template = self.templates.get(key) if plain else None
            if template is not None:
                der = template.fill(data_digest, lambda b: self.sign_raw(b, digest_algorithm))
                if der is not None:
                    return cms.ContentInfo.load(der)
            made = await super().async_sign(data_digest, digest_algorithm, *args, **kw)
            if plain and len(self.templates) < 8:
                self.templates[key] = _CmsTemplate.of(made, data_digest)
            return made

    signer = CachedKey(
        signing_cert=loaded.signing_cert, signing_key=loaded.signing_key,
        cert_registry=loaded.cert_registry,
    )  # fmt: skip
    signer._pyca = None
    signer.templates = {}
    return signer


def _load(settings: PdfSigningSettings) -> Any:
    import_pyhanko()
    mtime = max(
        (Path(p).stat().st_mtime for p in (settings.certificate, settings.key) if p), default=0.0
    )
    return _signer(settings.certificate, settings.key, settings.chain, settings.password_env,
                   mtime)  # fmt: skip


def _fixed_time_signer(meta: Any, signer: Any, at: datetime, timestamper: Any) -> Any:
    from pyhanko.sign.signers.pdf_signer import PdfSigner

    class FixedTime(PdfSigner):  # the session's clock is the close's reference time
        def init_signing_session(self, pdf_out: Any, existing_fields_only: bool = False) -> Any:
            session = super().init_signing_session(pdf_out, existing_fields_only)
            session.system_time = at
            return session

    return FixedTime(meta, signer=signer, timestamper=timestamper)


def _pinned_metadata(meta: Any, at: datetime) -> Any:
    """The writer's document metadata, its modification date pinned to ``at`` (pyhanko sets it
    to "now" when it writes the update; the signed bytes must not depend on the clock)."""
    import dataclasses

    class Pinned(type(meta)):  # type: ignore[misc]
        def __setattr__(self, name: str, value: Any) -> None:
            super().__setattr__(name, at if name == "last_modified" and value == "now" else value)

    values = {f.name: getattr(meta, f.name) for f in dataclasses.fields(meta)}
    return Pinned(**values)


def sign_pdf(data: bytes, settings: PdfSigningSettings, at: datetime, reason: str = "") -> bytes:
    """``data`` signed PAdES B-B (B-T with a time-stamp server) at ``at`` (aware)."""
    import_pyhanko()
    at = at.astimezone(UTC)  # one instant, one encoding, whatever zone the caller holds it in
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    signer = _load(settings)
    meta = signers.PdfSignatureMetadata(
        field_name=FIELD,
        subfilter=fields.SigSeedSubFilter.PADES,
        md_algorithm="sha256",
        reason=reason or None,
        use_pades_lta=False,
    )
    stamper = None
    if settings.timestamp_url:  # requests, not aiohttp: no client session outlives the call
        from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

        stamper = RequestsHTTPTimeStamper(settings.timestamp_url, timeout=30)
    writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
    # The file's second identifier is derived from its content and the signing time rather
    # than drawn at random, so that a re-run gives the same bytes.
    first = writer.document_id[0]
    second = hashlib.sha256(data + at.isoformat().encode()).digest()[:16]
    writer._document_id = generic.ArrayObject(
        [generic.ByteStringObject(first), generic.ByteStringObject(second)]
    )
    writer._meta = _pinned_metadata(writer._meta, at)
    out = io.BytesIO()
    reserve = 32768 if stamper else 16384  # room for the CMS (no trial signature needed)
    pdf_signer = _fixed_time_signer(meta, signer, at, stamper)
    _run(lambda: pdf_signer.async_sign_pdf(writer, output=out, bytes_reserved=reserve))
    return out.getvalue()


def _run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run pyhanko's coroutine to its end: here, or in a helper thread when this thread runs an
    event loop already (pyhanko's own synchronous functions would fail there)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    with ThreadPoolExecutor(1) as helper:
        return helper.submit(lambda: asyncio.run(make())).result()


def _trust_roots(paths: tuple[Path, ...]) -> list[Any]:
    from pyhanko.keys import load_certs_from_pemder

    return list(load_certs_from_pemder([str(p) for p in paths]))


def verify_pdf(data: bytes, trusted: tuple[Path, ...]) -> list[SignatureReport]:
    """Every signature of ``data`` checked against the certificates in ``trusted``."""
    import_pyhanko()
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import async_validate_pdf_signature
    from pyhanko_certvalidator import ValidationContext

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    roots = _trust_roots(trusted)
    out = []
    for sig in reader.embedded_signatures:
        context = ValidationContext(trust_roots=roots, allow_fetching=False)
        status = _run(lambda: async_validate_pdf_signature(sig, context))  # noqa: B023
        subject = status.signing_cert.subject.human_friendly if status.signing_cert else ""
        coverage = getattr(status, "coverage", None)
        whole = coverage is not None and coverage.name == "ENTIRE_FILE"
        when = status.signer_reported_dt.isoformat() if status.signer_reported_dt else ""
        out.append(
            SignatureReport(
                field=sig.field_name, signer=subject, signed_at=when, intact=status.intact,
                whole_file=whole, valid=status.valid, trusted=status.trusted,
                timestamped=status.timestamp_validity is not None,
            )
        )  # fmt: skip
    return out
