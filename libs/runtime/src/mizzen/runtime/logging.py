"""structlog, configured once per process, with stdlib logging routed through it.

Call :func:`configure_logging` once, early in the process (``run_service``
does). After that:

- ``structlog.get_logger()`` loggers write one line per event: JSON when the
  output is not a terminal (or ``LogFormat.JSON``), a console rendering
  otherwise. Event names are constant lowercase strings; context goes in
  keyword fields.
- Context bound with :func:`bound_log_context` (or structlog's
  ``bind_contextvars``) lives in contextvars, so it follows the current
  asyncio task: bind per RPC or per stream, never per thread.
- Records of stdlib loggers (``grpc``, ``aetcd``, ``nats``, ``asyncio``) are
  rendered by the same renderer, with the logger's name in ``logger``.
- Lines written while an OpenTelemetry span is current carry its
  ``trace_id`` and ``span_id``.

Logging configuration is process-wide by nature (structlog's and the stdlib
root logger's): calling :func:`configure_logging` again replaces the previous
configuration, so an all-in-one process configures once for all services.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from opentelemetry import trace

from mizzen.runtime.settings import LogFormat, LogLevel

__all__ = [
    "add_trace_context",
    "bound_log_context",
    "configure_logging",
    "reset_logging",
]

_LEVELS = {
    LogLevel.DEBUG: logging.DEBUG,
    LogLevel.INFO: logging.INFO,
    LogLevel.WARNING: logging.WARNING,
    LogLevel.ERROR: logging.ERROR,
    LogLevel.CRITICAL: logging.CRITICAL,
}


class _MizzenHandler(logging.StreamHandler[TextIO]):
    """The root handler this module installs; marked so a reconfigure replaces it."""


def add_trace_context(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: add ``trace_id``/``span_id`` of the current span, if any."""
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    return event_dict


@contextmanager
def bound_log_context(**fields: Any) -> Iterator[None]:
    """Bind ``fields`` to every log line of the current context until exit.

    Bindings are contextvars: they are seen by the current task and by tasks
    it creates afterwards, and are undone on exit (including on exceptions).
    """
    with structlog.contextvars.bound_contextvars(**fields):
        yield


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except ValueError:  # a closed stream is not a terminal
        return False


def configure_logging(
    level: LogLevel = LogLevel.INFO,
    log_format: LogFormat = LogFormat.AUTO,
    *,
    stream: TextIO | None = None,
) -> None:
    """Configure structlog and the stdlib root logger for this process.

    ``stream`` defaults to ``sys.stdout`` (looked up now). ``LogFormat.AUTO``
    renders JSON unless ``stream`` is a terminal. Lines below ``level`` are
    dropped, for structlog and stdlib loggers alike. Replaces any previous
    configuration made by this function; not meant to be called concurrently.
    """
    out = stream if stream is not None else sys.stdout
    terminal = _is_terminal(out)
    as_json = log_format is LogFormat.JSON or (log_format is LogFormat.AUTO and not terminal)
    numeric_level = _LEVELS[level]

    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_trace_context,
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: list[structlog.typing.Processor]
    if as_json:
        renderer = [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=terminal)]

    structlog.configure(
        processors=[*shared, *renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        # Not cached: loggers obtained at import time, before this call, must
        # still follow the configuration made here (and any later one).
        cache_logger_on_first_use=False,
    )

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )
    handler = _MizzenHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MizzenHandler)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric_level)
    logging.captureWarnings(True)


def reset_logging() -> None:
    """Undo :func:`configure_logging`: structlog defaults, our root handler removed.

    For tests and embedders that must leave the process as they found it.
    """
    structlog.reset_defaults()
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _MizzenHandler)]:
        root.removeHandler(old)
    root.setLevel(logging.WARNING)
    logging.captureWarnings(False)
