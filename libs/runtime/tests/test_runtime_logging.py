"""Logging: JSON off a terminal, console on one, levels, contextvars, stdlib routing."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace import TracerProvider

from mizzen.runtime import (
    LogFormat,
    LogLevel,
    bound_log_context,
    configure_logging,
    reset_logging,
)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    reset_logging()


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_auto_format_is_json_when_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.AUTO, stream=out)
    structlog.get_logger().info("proxy connected", proxy_id="p-1")
    (line,) = json_lines(out)
    assert line["event"] == "proxy connected"
    assert line["proxy_id"] == "p-1"
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")


def test_auto_format_is_console_on_a_terminal_and_json_can_be_forced() -> None:
    terminal = Terminal()
    configure_logging(LogLevel.INFO, LogFormat.AUTO, stream=terminal)
    structlog.get_logger().info("proxy connected", proxy_id="p-1")
    text = terminal.getvalue()
    assert "proxy connected" in text
    assert not text.lstrip().startswith("{")

    forced = Terminal()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=forced)
    structlog.get_logger().info("proxy connected")
    assert json_lines(forced)[0]["event"] == "proxy connected"


def test_console_can_be_forced_off_a_terminal() -> None:
    out = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.CONSOLE, stream=out)
    structlog.get_logger().info("proxy connected")
    assert "proxy connected" in out.getvalue()
    assert not out.getvalue().startswith("{")


def test_level_filters_structlog_and_stdlib_alike() -> None:
    out = io.StringIO()
    configure_logging(LogLevel.WARNING, LogFormat.JSON, stream=out)
    structlog.get_logger().info("dropped")
    structlog.get_logger().warning("kept")
    logging.getLogger("aetcd").info("dropped too")
    logging.getLogger("aetcd").error("watch lost on %s", "etcd-0")
    lines = json_lines(out)
    assert [line["event"] for line in lines] == ["kept", "watch lost on etcd-0"]
    assert lines[1]["logger"] == "aetcd"
    assert lines[1]["level"] == "error"


def test_reconfiguring_replaces_the_stdlib_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=first)
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=second)
    logging.getLogger("nats").warning("reconnecting")
    assert first.getvalue() == ""
    assert json_lines(second)[0]["logger"] == "nats"


async def test_context_binding_follows_each_task() -> None:
    out = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=out)
    log = structlog.get_logger()
    both_bound = asyncio.Barrier(2)

    async def stream(proxy_id: str) -> None:
        with bound_log_context(proxy_id=proxy_id):
            await both_bound.wait()
            log.info("stream message")
        log.info("stream closed")

    await asyncio.gather(stream("a"), stream("b"))
    lines = json_lines(out)
    messages = sorted(
        str(line.get("proxy_id")) for line in lines if line["event"] == "stream message"
    )
    assert messages == ["a", "b"]
    assert all("proxy_id" not in line for line in lines if line["event"] == "stream closed")


def test_lines_inside_a_span_carry_its_ids() -> None:
    out = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=out)
    tracer = TracerProvider(shutdown_on_exit=False).get_tracer("test")
    with tracer.start_as_current_span("push") as span:
        structlog.get_logger().info("pushing")
    structlog.get_logger().info("idle")
    inside, outside = json_lines(out)
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert "trace_id" not in outside


def test_exceptions_are_structured_in_json() -> None:
    out = io.StringIO()
    configure_logging(LogLevel.INFO, LogFormat.JSON, stream=out)
    try:
        raise ValueError("bad snapshot")
    except ValueError:
        structlog.get_logger().exception("push failed")
    (line,) = json_lines(out)
    assert line["exception"][0]["exc_type"] == "ValueError"
    assert line["exception"][0]["exc_value"] == "bad snapshot"
