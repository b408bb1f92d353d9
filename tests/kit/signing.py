"""Self-signed certificates for the PDF signing tests (RSA-3072, valid 2000-2100)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def certificate(
    name: str, *, timestamping: bool = False
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A key and its self-signed CA certificate (for time-stamping when ``timestamping``)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2100, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    if timestamping:
        usage = x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING])
        builder = builder.add_extension(usage, critical=True)
    return key, builder.sign(key, hashes.SHA256())


def write_certificate(
    tmp_path: Path, name: str, password: bytes | None = None
) -> tuple[Path, Path]:
    """A certificate and its key (encrypted with ``password``) as PEM files: their paths."""
    key, cert = certificate(name)
    enc = ser.BestAvailableEncryption(password) if password else ser.NoEncryption()
    key_path, cert_path = tmp_path / f"{name}.key.pem", tmp_path / f"{name}.pem"
    key_path.write_bytes(key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, enc))
    cert_path.write_bytes(cert.public_bytes(ser.Encoding.PEM))
    return cert_path, key_path
