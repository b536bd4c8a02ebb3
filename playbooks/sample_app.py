"""A tiny stand-in kiosk app release, for tests, benchmarks and trying rollouts out.

A release tarball holds ``VERSION`` and an executable ``run`` (the entry point every
kiosk app release provides). This one serves ``GET /health`` with its version on
``$KIOSK_APP_LISTEN:$KIOSK_APP_PORT``. It can be made to fail its health check:

* built with ``broken=True`` (a ``BROKEN`` marker in the tarball) it answers 500;
* on a kiosk whose ``$KIOSK_ROOT/fail-versions`` lists its version it exits at once;
* on a kiosk whose ``$KIOSK_ROOT/hang-versions`` lists its version it hangs: the process
  stays alive and accepts connections on its port but never answers ``/health``.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

RUN_SCRIPT = '''#!/usr/bin/env python3
"""Sample Smart Kampung kiosk app: GET /health answers the release version."""
import http.server
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION = open(os.path.join(HERE, "VERSION")).read().strip()
ROOT = os.environ.get("KIOSK_ROOT", "")
try:
    with open(os.path.join(ROOT, "fail-versions")) as fh:
        if VERSION in fh.read().split():
            sys.exit(3)
except OSError:
    pass
BROKEN = os.path.exists(os.path.join(HERE, "BROKEN"))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/health" and not BROKEN
        body = ("kiosk-app %s %s\\n" % (VERSION, "ok" if ok else "broken")).encode()
        self.send_response(200 if ok else 500)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


LISTEN = os.environ.get("KIOSK_APP_LISTEN", "127.0.0.1")
PORT = int(os.environ.get("KIOSK_APP_PORT", "8080"))
try:
    with open(os.path.join(ROOT, "hang-versions")) as fh:
        HANG = VERSION in fh.read().split()
except OSError:
    HANG = False
if HANG:
    import socket
    import time
    hung = socket.socket()
    hung.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    hung.bind((LISTEN, PORT))
    hung.listen(64)
    while True:
        time.sleep(3600)
server = http.server.HTTPServer((LISTEN, PORT), Handler)
server.serve_forever()
'''


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def release_filename(version: str) -> str:
    """The tarball name of ``version`` inside a release directory."""
    return f"kiosk-app-{version}.tar.gz"


def build_sample_release(release_dir: Path, version: str, *, broken: bool = False) -> Path:
    """Write ``kiosk-app-VERSION.tar.gz`` and its ``.sha256`` into ``release_dir``."""
    release_dir.mkdir(parents=True, exist_ok=True)
    path = release_dir / release_filename(version)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        _add(tar, "VERSION", f"{version}\n".encode(), 0o644)
        _add(tar, "run", RUN_SCRIPT.encode(), 0o755)
        if broken:
            _add(tar, "BROKEN", b"this release answers 500\n", 0o644)
    path.write_bytes(buf.getvalue())
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    (release_dir / (path.name + ".sha256")).write_text(f"{digest}  {path.name}\n")
    return path
