"""Logging for the service and its workers: plain text or JSON lines (``MATCHER_LOG_FORMAT``),
each line with the request id of the request it belongs to.

What never goes into a log: names, notes, contacts, tokens, file names from families, query
strings. The code logs ids, codes and counts only; the access log (``api.middleware``) names
the route *template* (``/v1/reports/{report_id}/media``), not the path or its query string;
uvicorn's own access log (which prints the full URL) is switched off; and exceptions are
logged as their type and stack frames without their message, because a database error's
message can carry the values of the row it failed to write.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import traceback
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("matcher_request_id", default=None)
EXTRA_FIELDS = ("method", "route", "status", "ms", "client_id")
HANDLER_NAME = "matcher"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        return True


def safe_exception(exc_info) -> str:
    """``ValueError`` plus where it was raised (file:line in function), without its message."""
    kind, _value, tb = exc_info
    frames = traceback.extract_tb(tb)[-8:]
    where = " <- ".join(f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in reversed(frames))
    return f"{getattr(kind, '__name__', 'Exception')} at {where}" if where else getattr(kind, "__name__", "Exception")


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def formatException(self, ei) -> str:
        return safe_exception(ei)

    def formatStack(self, stack_info: str) -> str:
        return ""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id_var.get() or None,
        }
        for key in EXTRA_FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = safe_exception(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def formatter_for(fmt: str) -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure_logging(fmt: str = "text", level: str = "info", stream=None) -> None:
    """One handler on the root logger (stderr); uvicorn's loggers go through it and its
    access log is off. Safe to call again (the handler is replaced, not added twice)."""
    root = logging.getLogger()
    # ours from an earlier call, and plain console handlers (the CLI's basicConfig): one format only
    for h in [h for h in root.handlers if h.get_name() == HANDLER_NAME or type(h) is logging.StreamHandler]:
        root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(formatter_for(fmt))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    access = logging.getLogger("uvicorn.access")
    access.handlers.clear()
    access.propagate = False
    access.disabled = True  # prints the full URL with its query string; api.middleware logs the route template instead
    for noisy in ("multipart", "python_multipart", "PIL", "matplotlib", "sqlalchemy.engine", "httpx", "httpcore"):  # httpx logs full URLs
        logging.getLogger(noisy).setLevel(logging.WARNING)
