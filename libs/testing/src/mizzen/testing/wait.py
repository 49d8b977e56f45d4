"""Waiting on a condition with a deadline (the only way tests synchronize), and running work
in the background for the length of a block."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, overload

T = TypeVar("T")


@overload
async def wait_for(
    condition: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...


@overload
async def wait_for(
    condition: Callable[[], T | None],
    *,
    timeout: float = ...,
    interval: float = ...,
    message: str = ...,
) -> T: ...


async def wait_for(
    condition: Callable[[], Any],
    *,
    timeout: float = 10.0,
    interval: float = 0.01,
    message: str = "condition",
) -> Any:
    """Poll ``condition`` (sync or async) until it returns a truthy value, and return that value.

    Exceptions raised by the condition count as "not yet" until the deadline; then the last one
    is chained to the ``AssertionError`` that reports the timeout.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            last_error = None
        except Exception as exc:
            last_error = exc
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message}"
            ) from last_error
        await asyncio.sleep(interval)  # polling interval between checks of the condition


@contextlib.asynccontextmanager
async def in_background(work: Awaitable[Any]) -> AsyncIterator[asyncio.Future[Any]]:
    """Run ``work`` as a task for the body's duration; cancel it (and wait for it) on exit.
    An exception it raised meanwhile is re-raised on exit, so a background failure fails the
    test instead of vanishing."""
    task = asyncio.ensure_future(work)
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
