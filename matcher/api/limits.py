"""ASGI middleware that refuses request bodies over a byte cap, streamed or not.

It answers 413 from the Content-Length header when there is one, and otherwise
counts bytes as they arrive, so a 200 MB body is refused without being stored. A few paths
(archive uploads) may have a cap of their own (``larger``).
"""

from __future__ import annotations

import json


class BodyTooLarge(Exception):
    """Internal signal from ``limited_receive`` to ``BodySizeLimit.__call__``; never leaves
    this module. Deliberately not a ``MatcherError``: the app's ``MatcherError`` handlers
    (JSON and pages) would catch it inside the app and answer before the middleware can
    refuse the body, and a handler already streaming a response must not get a second one."""


class BodySizeLimit:
    def __init__(self, app, max_bytes: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger = dict(larger or {})  # exact path -> its own cap

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        max_bytes = self.larger.get(scope.get("path", ""), self.max_bytes)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_bytes:
            return await self._refuse(send, max_bytes)
        seen = 0
        started = False

        async def limited_receive():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > max_bytes:
                    raise BodyTooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(send, max_bytes)

    async def _refuse(self, send, max_bytes: int) -> None:
        mb = max_bytes / (1024 * 1024)
        body = json.dumps({"error": {"code": "file_too_large", "message": f"The upload is larger than the {mb:.0f} MB limit."}}).encode()
        await send(
            {"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
        )
        await send({"type": "http.response.body", "body": body})
