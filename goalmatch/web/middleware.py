"""ASGI middleware of the review app: what holds for every request and response, before any route.

:class:`BodyLimit` refuses a request body over the limit as it streams in, counting the
bytes received, with or without a ``Content-Length`` (a chunked upload is not spooled to
disk past the limit before the route, the sign-in or the CSRF check looks at it).
:class:`SecurityHeaders` gives every response (pages, JSON, the export, static files,
redirects, errors) ``X-Content-Type-Options: nosniff`` and a Content-Security-Policy,
unless the route set its own.
"""

from __future__ import annotations

import logging

from goalmatch.web import require_web

require_web()

from starlette.datastructures import MutableHeaders  # noqa: E402
from starlette.exceptions import HTTPException as StarletteHTTPException  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

__all__ = ["TOO_LARGE", "BodyLimit", "SecurityHeaders"]

log = logging.getLogger(__name__)

TOO_LARGE = "Begäran är för stor."


class BodyLimit:
    """Refuse (413) a request whose body grows past ``max_bytes`` while it is being received.

    The 413 is an ``HTTPException`` raised from ``receive``, so whoever was reading the body
    (the form parser, the JSON reader) stops there and the app's handler answers it, as a
    page or as JSON; nothing past the limit is read.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    log.warning("refused %s %s: the body passed %d bytes", scope.get("method"), scope.get("path"),
                                self.max_bytes)
                    raise StarletteHTTPException(413, TOO_LARGE)
            return message

        await self.app(scope, counted, send)


class SecurityHeaders:
    """Add ``headers`` to every HTTP response that does not already carry them (by name)."""

    def __init__(self, app: ASGIApp, headers: dict[str, str]) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    if name not in present:
                        present[name] = value
            await send(message)

        await self.app(scope, receive, with_headers)
