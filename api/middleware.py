"""ASGI middleware that works before any route: the request-body limit and the access log.

Both are plain ASGI (no ``BaseHTTPMiddleware``): they see every request, including the ones
the routers never reach, and they count bytes as they stream in rather than trusting
``Content-Length``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)
access_logger = logging.getLogger("kentongan.access")

SECRET_QUERY_WORDS = ("token", "secret", "password", "passwd", "key", "auth", "credential",
                      "community", "session", "signature", "sig")
REDACTED = "[redacted]"


def _json_error(status: int, detail: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps({"detail": detail}).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close")],
    }
    return start, {"type": "http.response.body", "body": body}


class BodyLimitMiddleware:
    """Refuse request bodies over a limit (413) or that arrive too slowly (408), before
    authentication and parsing.

    The limit is ``default_limit`` bytes, or the value of the longest prefix of the path in
    ``limits`` (a route that takes uploads may raise it there). ``Content-Length`` above the
    limit is refused without reading; a chunked body (no ``Content-Length``) is counted as it
    streams and cut off as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, default_limit: int, timeout_seconds: float,
                 limits: Mapping[str, int] | None = None) -> None:
        self.app = app
        self.default_limit = default_limit
        self.timeout_seconds = timeout_seconds
        self.limits = dict(limits or {})

    def limit_for(self, path: str) -> int:
        """The body limit of ``path``."""
        best, limit = -1, self.default_limit
        for prefix, value in self.limits.items():
            if path.startswith(prefix) and len(prefix) > best:
                best, limit = len(prefix), value
        return limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _send_error(send, 400, "malformed Content-Length header")
                return
            if size > limit:
                logger.warning("request body refused: %s declares %d bytes (limit %d)",
                               scope.get("path"), size, limit)
                await _send_error(send, 413, f"request body too large: the limit here is "
                                             f"{limit} bytes")
                return
        received = 0
        deadline = time.monotonic() + self.timeout_seconds
        started = False
        refused = False

        async def refuse(status: int, detail: str) -> Message:
            # Answer now, then tell the app the client left: whatever it sends is dropped.
            nonlocal refused, started
            if not started:
                await _send_error(send, status, detail)
                started = True
            refused = True
            return {"type": "http.disconnect"}

        async def limited_receive() -> Message:
            nonlocal received
            if refused:
                return {"type": "http.disconnect"}
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                async with asyncio.timeout(remaining):
                    message = await receive()
            except TimeoutError:
                logger.warning("request body refused: %s not received within %.0f s",
                               scope.get("path"), self.timeout_seconds)
                return await refuse(408, f"request body not received within "
                                         f"{self.timeout_seconds:g} s")
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    logger.warning("request body refused: %s passed %d bytes while streaming",
                                   scope.get("path"), limit)
                    return await refuse(413, f"request body too large: the limit here is "
                                             f"{limit} bytes")
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


async def _send_error(send: Send, status: int, detail: str) -> None:
    start, body = _json_error(status, detail)
    await send(start)
    await send(body)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def safe_path(scope: Scope) -> str:
    """The request path with its query, values of secret-looking parameters redacted."""
    path = quote(scope.get("path", ""), safe="/-._~%:@!$&'()*+,;=")
    raw = scope.get("query_string", b"")
    if not raw:
        return path
    pairs = parse_qsl(bytes(raw).decode("latin-1"), keep_blank_values=True)
    cleaned = [
        (k, REDACTED if any(w in k.lower() for w in SECRET_QUERY_WORDS) else v)
        for k, v in pairs
    ]
    return f"{path}?{urlencode(cleaned)}"


class AccessLogMiddleware:
    """One line per request on the ``kentongan.access`` logger: method, path (secret query
    values redacted), status, duration and the principal's name (``-`` when anonymous).

    It never logs headers: no token, Authorization or cookie value reaches the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        if access_logger.level == logging.NOTSET:
            # on by default: the lines pass even when the root logger only shows warnings
            access_logger.setLevel(logging.INFO)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def tracking_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        finally:
            state = scope.get("state") or {}
            principal = state.get("principal")
            who = getattr(principal, "name", None) or "-"
            client = scope.get("client")
            access_logger.info(
                '%s %s "%s %s" %d %.1fms',
                client[0] if client else "-", who, scope.get("method", "-"), safe_path(scope),
                status, (time.perf_counter() - t0) * 1000.0,
            )
