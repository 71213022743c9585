"""Request and job ids in context variables, and the JSON log format that carries them.

A request id is set by the request middleware for the request's task; a job id by the job runner for
the job's thread. Every log record formatted while either is set carries it, whichever module logs.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

request_id_var: ContextVar[str | None] = ContextVar("reelcart_request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("reelcart_job_id", default=None)

LogFormat = Literal["text", "json"]

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of its message
)


@contextmanager
def job_context(job_id: uuid.UUID | str) -> Iterator[None]:
    """Every log line inside carries `job_id` (the runner wraps each job's work in this)."""
    token = job_id_var.set(str(job_id))
    try:
        yield
    finally:
        job_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request and job ids when set,
    fields given through `extra=`, and the traceback (`exc`) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # A record may name its ids itself (the 500 handler logs outside the request's context).
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        job_id = getattr(record, "job_id", None) or job_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        if job_id:
            entry["job_id"] = job_id
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is when a record arrives (as logging's last-resort handler
    does), not to the stream that was current when logging was configured."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        return None


# Uvicorn's own loggers: their lines join ours in the JSON stream; its access line is replaced by
# the request middleware's, which knows the route template and the request id.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error")
_SERVER_ACCESS_LOGGER = "uvicorn.access"


def configure_logging(log_format: LogFormat, *, stream: TextIO | None = None) -> Callable[[], None]:
    """With `json`, every record at INFO and above goes to stderr (or `stream`) as one JSON line.
    `text` leaves logging as the server configured it. Returns what undoes the change."""
    if log_format != "json":
        return lambda: None
    root = logging.getLogger()
    handler: logging.StreamHandler[TextIO] = (
        logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    )
    handler.setFormatter(JsonFormatter())
    saved_level = root.level
    saved: dict[str, tuple[list[logging.Handler], bool]] = {}
    for name in (*_SERVER_LOGGERS, _SERVER_ACCESS_LOGGER):
        logger = logging.getLogger(name)
        saved[name] = (list(logger.handlers), logger.propagate)
        logger.handlers = []
        logger.propagate = name != _SERVER_ACCESS_LOGGER
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def undo() -> None:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        for name, (handlers, propagate) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers, logger.propagate = handlers, propagate

    return undo
