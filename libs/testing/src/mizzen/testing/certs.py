"""Test certificates made with the ``openssl`` command: self-signed ones, and a small CA
that issues server and client certificates (ECDSA P-256, valid two days)."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CertificateAuthority", "Issued", "self_signed"]

_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2")


async def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make test certificates"
    process = await asyncio.create_subprocess_exec(
        openssl, *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, error = await process.communicate()
    assert process.returncode == 0, error.decode()


@dataclass(frozen=True)
class Issued:
    """A certificate chain file and its key file."""

    cert: Path
    key: Path


async def self_signed(directory: Path, host: str) -> Issued:
    """``<host>.crt`` / ``<host>.key`` in ``directory``: a self-signed certificate for
    ``host`` (its common name and DNS subject alt name)."""
    issued = Issued(directory / f"{host}.crt", directory / f"{host}.key")
    await _openssl("req", "-x509", *_KEY, "-subj", f"/CN={host}",
                   "-addext", f"subjectAltName=DNS:{host}",
                   "-keyout", str(issued.key), "-out", str(issued.cert))  # fmt: skip
    return issued


@dataclass(frozen=True)
class CertificateAuthority:
    """A CA whose files live in ``directory`` (``<name>.crt``, ``<name>.key``)."""

    directory: Path
    name: str

    @property
    def cert(self) -> Path:
        """The CA certificate (what peers trust)."""
        return self.directory / f"{self.name}.crt"

    @classmethod
    async def create(cls, directory: Path, name: str = "test-ca") -> CertificateAuthority:
        """Make a new self-signed CA in ``directory``."""
        authority = cls(directory, name)
        await _openssl("req", "-x509", *_KEY, "-subj", f"/CN={name}",
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                       "-keyout", str(directory / f"{name}.key"),
                       "-out", str(authority.cert))  # fmt: skip
        return authority

    async def issue(self, name: str, *, dns: str | None = None) -> Issued:
        """A certificate signed by this CA with common name ``name`` (and DNS subject alt
        name ``dns``, for servers), as ``<name>.crt`` / ``<name>.key``."""
        issued = Issued(self.directory / f"{name}.crt", self.directory / f"{name}.key")
        extensions = ("-addext", f"subjectAltName=DNS:{dns}") if dns else ()
        await _openssl("req", "-x509", *_KEY, "-subj", f"/CN={name}",
                       "-addext", "basicConstraints=critical,CA:FALSE", *extensions,
                       "-CA", str(self.cert), "-CAkey", str(self.directory / f"{self.name}.key"),
                       "-keyout", str(issued.key), "-out", str(issued.cert))  # fmt: skip
        return issued
