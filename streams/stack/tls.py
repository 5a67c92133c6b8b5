"""Certificates for the dev stack's secured Kafka, made with openssl into ``<stack dir>/tls``.

A CA of the stack's own signs the broker's certificate (for 127.0.0.1 and localhost) and a client
certificate (for SSL with client certificates); clients trust ``ca.pem``. Made once: a restarted
stack keeps them, so clients configured with them keep working.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from streams.stack.processes import StackError

DAYS = "825"  # what browsers and JDKs still accept for a leaf certificate


@dataclass(frozen=True, slots=True)
class StackCertificates:
    """The files of one stack's certificates (PEM); keys are unencrypted PKCS#8."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def broker_keystore(self) -> Path:
        """The broker's key followed by its certificate: Kafka's PEM key store."""
        return self.directory / "broker-keystore.pem"

    @property
    def client_cert(self) -> Path:
        return self.directory / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.directory / "client.key"


def stack_certificates(directory: Path) -> StackCertificates:
    """The certificates in ``directory``, made first if missing."""
    certificates = StackCertificates(directory)
    if not certificates.client_key.exists():  # written last: its presence means complete
        _make(certificates)
    return certificates


def _make(certificates: StackCertificates) -> None:
    if shutil.which("openssl") is None:
        raise StackError(
            "openssl is needed for a secured Kafka: install it (apt-get install openssl)"
        )
    directory = certificates.directory
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)  # private keys
    ca_key = directory / "ca.key"
    _openssl(
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", DAYS],
        ["-keyout", str(ca_key), "-out", str(certificates.ca), "-subj", "/CN=segstream dev CA"],
        ["-addext", "basicConstraints=critical,CA:TRUE"],
        ["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
    )
    broker_key, broker_cert = directory / "broker.key", directory / "broker.pem"
    _signed(certificates.ca, ca_key, broker_key, broker_cert, name="localhost", usage="serverAuth")
    broker = broker_key.read_text() + broker_cert.read_text()
    certificates.broker_keystore.touch(mode=0o600)
    certificates.broker_keystore.write_text(broker)
    client_key = directory / "client.key.partial"
    _signed(
        certificates.ca,
        ca_key,
        client_key,
        certificates.client_cert,
        name="client",
        usage="clientAuth",
    )
    client_key.rename(certificates.client_key)


def _signed(ca: Path, ca_key: Path, key: Path, cert: Path, *, name: str, usage: str) -> None:
    """A key and a certificate for ``name`` (and 127.0.0.1, localhost), signed by the CA."""
    request = cert.with_suffix(".csr")
    _openssl(
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(request)],
        ["-subj", f"/CN={name}"],
    )
    extensions = cert.with_suffix(".ext")
    extensions.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        f"extendedKeyUsage={usage}\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl(
        ["x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key)],
        ["-CAcreateserial", "-days", DAYS, "-extfile", str(extensions), "-out", str(cert)],
    )
    request.unlink()
    extensions.unlink()


def _openssl(*parts: list[str]) -> None:
    command = ["openssl", *(arg for part in parts for arg in part)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StackError(f"openssl {parts[0][0]} failed: {done.stderr.strip()[-300:]}")
