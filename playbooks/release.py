"""Which release a rollout installs, found and checksum-verified before anything starts.

A release directory holds ``kiosk-app-VERSION.tar.gz`` and, beside it,
``kiosk-app-VERSION.tar.gz.sha256`` (``sha256sum`` format). A release may also come from a
URL with its sha256 given explicitly; the controller downloads it once to verify it, then
each kiosk downloads it itself (``get_url`` checks the sum again).

The controller is not a fetcher: a URL must lie under one of the base URLs of
``KENTONGAN_RELEASE_SOURCES``, redirects are followed only within those, and a download
has an overall time limit and a size limit. Whoever asked learns only "not an allowed
source", "download failed" or "checksum mismatch", never what the server answered; the
details go to the log and every attempt to the ``record`` callback (the audit).
"""

from __future__ import annotations

import hashlib
import logging
import posixpath
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit

from playbooks.errors import ReleaseError
from playbooks.sample_app import release_filename

logger = logging.getLogger(__name__)

VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


DEFAULT_TIMEOUT = 300.0
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
MAX_REDIRECTS = 5
NOT_ALLOWED = "not an allowed source"
DOWNLOAD_FAILED = "download failed"
CHECKSUM_MISMATCH = "checksum mismatch"


class DownloadOutcome(StrEnum):
    """How one release download attempt ended."""

    ACCEPTED = "accepted"
    NOT_ALLOWED = "not_allowed"
    FAILED = "failed"
    MISMATCH = "checksum_mismatch"


@dataclass(frozen=True, slots=True)
class DownloadAttempt:
    """One attempt to fetch a release from a URL, for the audit log.

    ``reason`` is for the operator (``redirect``, ``status``, ``timeout``, ``too_large``,
    ``network``, ``host`` …); it never holds what the server sent.
    """

    url: str
    version: str
    outcome: DownloadOutcome
    reason: str | None = None
    size: int | None = None

    def as_details(self) -> dict[str, Any]:
        """JSON-ready form for an audit entry."""
        return {
            "url": self.url,
            "version": self.version,
            "outcome": str(self.outcome),
            "reason": self.reason,
            "bytes": self.size,
        }


AttemptRecorder = Callable[[DownloadAttempt], None]


@dataclass(frozen=True, slots=True)
class ReleaseSources:
    """Where releases may come from: directories and base URLs (``KENTONGAN_RELEASE_SOURCES``,
    parsed by :func:`core.settings.parse_release_sources`)."""

    directories: tuple[Path, ...] = ()
    base_urls: tuple[str, ...] = ()

    @classmethod
    def from_entries(cls, entries: Sequence[str]) -> ReleaseSources:
        """Split normalised entries into directories and base URLs."""
        return cls(
            directories=tuple(Path(e) for e in entries if e.startswith("/")),
            base_urls=tuple(e for e in entries if not e.startswith("/")),
        )

    def allows(self, url: str) -> bool:
        """True when ``url`` is a plain http(s) URL under one of the base URLs."""
        return _under_base(url, self.base_urls)


def pick_release_dir(version: str, directories: Sequence[Path | None]) -> Path | None:
    """The first of ``directories`` holding release ``version`` (else the first one, whose
    error message then lists what it has; None when there is none)."""
    present = [d for d in directories if d is not None]
    for directory in present:
        if (directory / release_filename(version)).is_file():
            return directory
    return present[0] if present else None


def _origin_and_path(url: str) -> tuple[str, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None or parts.fragment:
        return None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname.lower()
    path = unquote(parts.path or "/")
    if any(seg in ("..", ".") for seg in path.split("/")) or "\\" in path:
        return None
    if posixpath.normpath(path) != path.rstrip("/") and path != "/":
        return None
    return f"{parts.scheme}://{host}:{port or default}", path


def _under_base(url: str, bases: Sequence[str]) -> bool:
    target = _origin_and_path(url)
    if target is None or len(url) > 2048 or any(not 33 <= ord(c) <= 126 for c in url):
        return False
    for base in bases:
        allowed = _origin_and_path(base)
        if allowed is not None and target[0] == allowed[0] and target[1].startswith(allowed[1]):
            return True
    return False


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
    sources: ReleaseSources | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    record: AttemptRecorder | None = None,
) -> ReleaseSpec:
    """Find release ``version`` and verify its checksum; raise :class:`ReleaseError` if the
    release is unknown, has no checksum, or its checksum does not match.

    A ``url`` must lie under one of ``sources.base_urls``; it is downloaded within
    ``timeout`` seconds overall and ``max_bytes``, and every attempt is passed to ``record``.
    """
    check_version(version)
    if url:
        if not sha256:
            raise ReleaseError("a release from --url needs its --sha256")
        expected = _check_sha(sha256)
        allowed = sources.base_urls if sources else ()
        if not _under_base(url, allowed):
            logger.warning("release %s: refused %r, not under %s", version, url, allowed)
            _record(record, DownloadAttempt(url, version, DownloadOutcome.NOT_ALLOWED,
                                            "outside KENTONGAN_RELEASE_SOURCES"))
            raise ReleaseError(
                f"release {version}: the URL is {NOT_ALLOWED}; releases come from the base "
                "URLs in KENTONGAN_RELEASE_SOURCES (ask the administrator), or from the "
                "release directory without a URL"
            )
        attempt, actual = _download_sha256(
            url, version, allowed, timeout=timeout, max_bytes=max_bytes
        )
        if attempt.outcome == DownloadOutcome.ACCEPTED and actual != expected:
            attempt = DownloadAttempt(url, version, DownloadOutcome.MISMATCH, None, attempt.size)
        _record(record, attempt)
        if attempt.outcome == DownloadOutcome.MISMATCH:
            raise ReleaseError(
                f"release {version}: {CHECKSUM_MISMATCH} at the URL; check the sha256 or the "
                "file on the release server"
            )
        if attempt.outcome != DownloadOutcome.ACCEPTED:
            raise ReleaseError(
                f"release {version}: {DOWNLOAD_FAILED}; check the URL and that the release "
                "server is up (the server log has the details)"
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


def _record(record: AttemptRecorder | None, attempt: DownloadAttempt) -> None:
    logger.info("release %s download %s: %s (%s)", attempt.version, attempt.outcome,
                attempt.url, attempt.reason or "-")
    if record is not None:
        record(attempt)


def _download_sha256(
    url: str, version: str, bases: Sequence[str], *, timeout: float, max_bytes: int
) -> tuple[DownloadAttempt, str | None]:
    """Download ``url`` (redirects only within ``bases``) and hash it: the attempt and,
    when it was downloaded, the sha256 hex digest."""
    import httpx

    deadline = time.monotonic() + timeout
    per_op = httpx.Timeout(min(timeout, 30.0))

    def failed(reason: str, size: int | None = None) -> tuple[DownloadAttempt, None]:
        return DownloadAttempt(url, version, DownloadOutcome.FAILED, reason, size), None

    current = url
    try:
        with httpx.Client(timeout=per_op, follow_redirects=False, trust_env=False) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                if time.monotonic() > deadline:
                    return failed("timeout")
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        location = response.headers.get("location", "")
                        following = urljoin(current, location)
                        if not _under_base(following, bases):
                            logger.warning("release %s: %s redirects outside the sources to %r",
                                           version, current, following)
                            return failed("redirect outside the release sources")
                        current = following
                        continue
                    if response.status_code != 200:
                        logger.warning("release %s: %s answered HTTP %d", version, current,
                                       response.status_code)
                        return failed(f"status {response.status_code}")
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > max_bytes:
                        return failed("too_large")
                    digest = hashlib.sha256()
                    size = 0
                    for chunk in response.iter_raw():  # as received: no buffering past the deadline
                        size += len(chunk)
                        if size > max_bytes:
                            return failed("too_large", size)
                        if time.monotonic() > deadline:
                            return failed("timeout", size)
                        digest.update(chunk)
                    accepted = DownloadAttempt(url, version, DownloadOutcome.ACCEPTED, None, size)
                    return accepted, digest.hexdigest()
            return failed("too many redirects")
    except httpx.TimeoutException:
        return failed("timeout")
    except httpx.HTTPError as exc:
        logger.warning("release %s: cannot download %s: %s", version, current, exc)
        return failed(f"network: {type(exc).__name__}")
