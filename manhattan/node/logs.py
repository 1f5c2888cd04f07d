"""The node's log output: text for people, or JSON lines for log pipelines.

``node.log_format = "json"`` writes one JSON object per line with ``ts``,
``level``, ``logger``, ``msg`` and ``node_id``, plus ``request_id``, ``method``
and ``tenant`` when the line was logged while serving a request (and ``exc``
with a traceback). The request fields come from the request scope the rpc layer
opens; a filter copies them onto the record when it is logged, so they are
right even if a handler formats the record later.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import TextIO

from manhattan.rpc import request_context

_REQUEST_FIELDS = ("request_id", "method", "tenant")


class RequestFilter(logging.Filter):
    """Stamps each record with the node id and the current request's scope."""

    def __init__(self, node_id: int) -> None:
        super().__init__()
        self.node_id = node_id

    def filter(self, record: logging.LogRecord) -> bool:
        record.node_id = self.node_id
        scope = request_context.current()
        record.request_id = scope.request_id if scope else None
        record.method = scope.method if scope else None
        record.tenant = scope.tenant if scope else None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc)
                  .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "node_id": getattr(record, "node_id", None),
        }
        for name in _REQUEST_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The classic line, with ``[req=... tenant=...]`` appended inside a request."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id is None:
            return line
        tenant = getattr(record, "tenant", None)
        suffix = f" [req={request_id}" + (f" tenant={tenant}]" if tenant else "]")
        head, newline, rest = line.partition("\n")  # keep a traceback below the line
        return head + suffix + newline + rest


def configure_logging(node_id: int, fmt: str = "text", level: str = "info",
                      stream: TextIO | None = None) -> logging.Handler:
    """Send every log record to ``stream`` (stderr) in ``fmt``; returns the handler."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestFilter(node_id))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    return handler
