"""Log lines: one JSON object per line for log pipelines (with the trace
correlation Datadog joins on), or plain text for a person at a terminal.
The entry point configures logging with ``logging_config()`` before anything
else runs, so even start-up warnings come out in the chosen format."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

# Attributes ddtrace's log injection puts on every record made inside a span.
CORRELATION_ATTRIBUTES = ("dd.trace_id", "dd.span_id", "dd.service", "dd.env", "dd.version")
# The record attribute whose dict a JSON line adds as fields of its own.
FIELDS_ATTRIBUTE = "fields"


def with_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``extra=`` for a log call whose JSON line should carry ``fields`` too
    (a plain-text line shows the message only)."""
    return {FIELDS_ATTRIBUTE: fields}


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with the trace correlation Datadog joins on.

    uvicorn's access log records also get structured HTTP fields, so a log
    pipeline needs no grok parsing.
    """

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger.name": record.name,
            "message": record.getMessage(),
        }
        for attribute in CORRELATION_ATTRIBUTES:
            if attribute in record.__dict__:
                document[attribute] = str(record.__dict__[attribute])
        fields = record.__dict__.get(FIELDS_ATTRIBUTE)
        if isinstance(fields, dict):
            for key, value in fields.items():
                document.setdefault(key, value)
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            document.update(
                {
                    "network.client.ip": str(client).rsplit(":", 1)[0],
                    "http.method": method,
                    "http.url": path,
                    "http.version": http_version,
                    "http.status_code": status,
                }
            )
        if record.exc_info:
            document["error.stack"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


JsonFormatter.converter = time.gmtime  # timestamps in UTC, as the Z says


def logging_config(log_level: str, log_format: str) -> dict[str, Any]:
    """Logging for uvicorn and this package, one line per event on stdout:
    JSON for log pipelines, or plain text for a person at a terminal."""
    formatters: dict[str, Any] = {
        "json": {"()": JsonFormatter},
        "plain": {"format": "%(asctime)s %(levelname)s [%(name)s] %(message)s"},
    }
    handler = {"class": "logging.StreamHandler", "formatter": log_format, "stream": "ext://sys.stdout"}
    level = log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {log_format: formatters[log_format]},
        "handlers": {"stdout": handler},
        "loggers": {
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stdout"], "level": level, "propagate": False},
            __package__ or "app": {"handlers": ["stdout"], "level": level, "propagate": False},
            "ddtrace": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
            # ddtrace's DogStatsD client warns about every dropped packet (every
            # 10 s with no Agent listening); UDP metrics are best effort anyway.
            "ddtrace.vendor.dogstatsd": {"handlers": ["stdout"], "level": "ERROR", "propagate": False},
            # The OpenTelemetry SDK's export problems (an Agent without OTLP on).
            "opentelemetry": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        },
        # Any other library's warnings (asyncio's, Python's warnings module's)
        # in the same format, not as logging's bare last-resort text on stderr.
        "root": {"handlers": ["stdout"], "level": "WARNING"},
    }
