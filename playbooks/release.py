"""Which release a rollout installs, found and checksum-verified before anything starts.

A release directory holds ``kiosk-app-VERSION.tar.gz`` and, beside it,
``kiosk-app-VERSION.tar.gz.sha256`` (``sha256sum`` format). A release may also come from a
URL with its sha256 given explicitly; the controller downloads it once to verify it, then
each kiosk downloads it itself (``get_url`` checks the sum again).
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playbooks.errors import ReleaseError
from playbooks.sample_app import release_filename

logger = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ReleaseSpec:
    """A verified release: its version, checksum and where kiosks get it from."""

    version: str
    sha256: str
    file: Path | None = None
    url: str | None = None

    def extravars(self) -> dict[str, Any]:
        """The ``kiosk-update.yml`` variables for this release."""
        return {
            "kiosk_release_version": self.version,
            "kiosk_release_sha256": self.sha256,
            "kiosk_release_file": str(self.file) if self.file else "",
            "kiosk_release_url": self.url or "",
        }

    def as_params(self) -> dict[str, Any]:
        """JSON-ready form, stored in the rollout's params."""
        return {
            "version": self.version,
            "sha256": self.sha256,
            "file": str(self.file) if self.file else None,
            "url": self.url,
        }

    @classmethod
    def from_params(cls, data: dict[str, Any]) -> ReleaseSpec:
        """Inverse of :meth:`as_params`."""
        return cls(
            version=data["version"],
            sha256=data["sha256"],
            file=Path(data["file"]) if data.get("file") else None,
            url=data.get("url"),
        )


def check_version(version: str) -> str:
    """Return ``version`` when it is a safe release name, else raise."""
    if not VERSION_RE.match(version or ""):
        raise ReleaseError(
            f"release version {version!r} is not valid: use letters, digits and . _ + - "
            "(for example 1.4.0)"
        )
    return version


def _check_sha(sha256: str) -> str:
    value = sha256.strip().lower()
    if not SHA256_RE.match(value):
        raise ReleaseError(f"--sha256 {sha256!r} is not 64 hexadecimal digits")
    return value


def file_sha256(path: Path) -> str:
    """The sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def available_versions(release_dir: Path) -> list[str]:
    """Versions present in a release directory."""
    prefix, suffix = "kiosk-app-", ".tar.gz"
    return sorted(
        p.name[len(prefix) : -len(suffix)]
        for p in release_dir.glob(f"{prefix}*{suffix}")
        if p.is_file()
    )


def resolve_release(
    version: str,
    *,
    release_dir: Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    timeout: float = 60.0,
) -> ReleaseSpec:
    """Find release ``version`` and verify its checksum; raise :class:`ReleaseError` if the
    release is unknown, has no checksum, or its checksum does not match."""
    check_version(version)
    if url:
        if not sha256:
            raise ReleaseError("a release from --url needs its --sha256")
        expected = _check_sha(sha256)
        if not url.startswith(("https://", "http://")):
            raise ReleaseError(f"--url {url!r} must be an http(s) URL")
        actual = _url_sha256(url, timeout=timeout)
        if actual != expected:
            raise ReleaseError(
                f"checksum mismatch for release {version} at {url}: expected {expected}, "
                f"got {actual}; check the --sha256 or the file on the server"
            )
        return ReleaseSpec(version=version, sha256=expected, url=url)
    if release_dir is None:
        raise ReleaseError(
            "no release source: pass --release-dir DIR (or set KENTONGAN_RELEASE_DIR), "
            "or --url URL --sha256 HEX"
        )
    path = release_dir / release_filename(version)
    if not path.is_file():
        known = ", ".join(available_versions(release_dir)) if release_dir.is_dir() else ""
        raise ReleaseError(
            f"unknown release {version}: {path} does not exist"
            + (f" (available: {known})" if known else f" ({release_dir} has no releases)")
        )
    sidecar = path.with_name(path.name + ".sha256")
    if sha256:
        expected = _check_sha(sha256)
    elif sidecar.is_file():
        words = sidecar.read_text().split()
        expected = _check_sha(words[0] if words else "")
    else:
        raise ReleaseError(
            f"release {version} has no checksum: write {sidecar.name} "
            f"(sha256sum {path.name} > {sidecar.name}) or pass --sha256"
        )
    actual = file_sha256(path)
    if actual != expected:
        raise ReleaseError(
            f"checksum mismatch for release {version} ({path}): expected {expected}, "
            f"got {actual}; the tarball is corrupt or the checksum is stale"
        )
    return ReleaseSpec(version=version, sha256=expected, file=path.resolve())


def _url_sha256(url: str, *, timeout: float) -> str:
    import httpx

    digest = hashlib.sha256()
    try:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code != 200:
                raise ReleaseError(f"unknown release at {url}: HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                digest.update(chunk)
    except httpx.HTTPError as exc:
        raise ReleaseError(f"cannot download {url}: {exc}") from exc
    return digest.hexdigest()
