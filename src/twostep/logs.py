"""Logging set-up: plain text by default, one JSON object per line with TWOSTEP_LOG_FORMAT=json."""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime

# Structured fields copied from ``extra=``: identifiers and measurements only, never a password, code,
# secret or token (the access log names routes by template, so a token in a URL never reaches it).
_EXTRA_FIELDS = (
    "request_id",
    "http_method",
    "route",
    "status",
    "duration_ms",
    "user_id",
    "event",
    "outcome",
    "method",
)


class TextFormatter(logging.Formatter):
    """The standard text format, with the date and time formatted once a second rather than per
    record (``formatTime``'s localtime + strftime was a tenth of the logging cost of an API check)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._second = -1
        self._stamp = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        second = int(record.created)
        if second != self._second:
            self._stamp = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second
        return f"{self._stamp},{int(record.msecs):03d}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in _EXTRA_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    # No formatter here uses the caller's file and line, the thread or the process name: skip collecting
    # them for every record (the logging HOWTO's "Optimization"; two records per API check).
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    root = logging.getLogger("twostep")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def uvicorn_log_config(log_format: str) -> dict[str, object]:
    """uvicorn's own loggers in the same format as ours, so TWOSTEP_LOG_FORMAT=json is JSON throughout."""
    formatter: dict[str, object] = (
        {"()": "twostep.logs.JsonFormatter"}
        if log_format == "json"
        else {"()": "twostep.logs.TextFormatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            "uvicorn.error": {"handlers": ["default"], "level": "WARNING", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
