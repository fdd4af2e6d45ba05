"""The outermost layer of every request (pure ASGI): a request id (``X-Request-ID``, on
``request.state`` and in every log line of the request), conservative security headers,
the Prometheus request counters, and one access-log line.

The access line names the route *template* (``/v1/reports/{report_id}/media``; the mount's
prefix for static files; ``<unmatched>`` for a 404), never the path's values or the query
string, so nothing a person typed (a name in a search URL, a file name) reaches the log.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.datastructures import MutableHeaders

from matcher.logs import request_id_var

access_log = logging.getLogger("matcher.access")
UNMATCHED = "<unmatched>"


def route_template(scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return UNMATCHED
    root = scope.get("root_path", "")
    return f"{root}{path}" if root and not path.startswith(root) else path


class ObservabilityMiddleware:
    def __init__(self, app, metrics=None, security_headers: dict[str, str] | None = None) -> None:
        self.app = app
        self.metrics = metrics
        self.security_headers = [(k.lower().encode(), v.encode()) for k, v in (security_headers or {}).items()]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_headers(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                for key, value in self.security_headers:
                    if key.decode() not in headers:
                        headers.append(key.decode(), value.decode())
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "-")
            if self.metrics is not None:
                self.metrics.observe_request(method, route, status, seconds)
            access_log.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                seconds * 1000,
                extra={"method": method, "route": route, "status": status, "ms": round(seconds * 1000, 1)},
            )
            request_id_var.reset(token)
