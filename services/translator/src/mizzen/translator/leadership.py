"""Run a piece of work only while this replica leads an election."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from mizzen.store import Election, Store, StoreClosed, StoreError

log = structlog.get_logger(__name__)


async def run_while_leader(
    store: Store,
    election_name: str,
    candidate: str,
    work: Callable[[], Coroutine[Any, Any, None]],
    *,
    ttl: int = 5,
    retry_delay: float = 1.0,
) -> None:
    """Forever: campaign; while leading, run ``work()``; stop it when leadership is lost.

    ``work`` returning or raising ends the term (the error is logged and the replica campaigns
    again), so a failing leader hands over instead of holding the election while doing nothing.
    A dead replica's term ends when its lease expires (``ttl`` seconds). Returns when the store
    is closed (the service is shutting down).
    """
    election = Election(store, election_name)
    while True:
        try:
            async with await store.grant(ttl) as lease:
                leadership = await election.campaign(candidate.encode(), lease=lease)
                log.info("leading", election=election_name, candidate=candidate)
                term = asyncio.create_task(work(), name=f"{election_name} work")
                lost = asyncio.create_task(leadership.wait_lost(), name="leadership watch")
                done, _ = await asyncio.wait({term, lost}, return_when=asyncio.FIRST_COMPLETED)
                for task in (term, lost):
                    task.cancel()
                # Reap both; a failed term's exception is reported below, not re-raised here.
                await asyncio.gather(term, lost, return_exceptions=True)
                if term in done and term.exception() is not None:
                    log.error("leader work failed", election=election_name,
                              error=repr(term.exception()))  # fmt: skip
                else:
                    log.warning("leadership lost", election=election_name,
                                reason=leadership.lost_reason)  # fmt: skip
                with contextlib.suppress(StoreError):
                    await leadership.resign()
        except StoreClosed:
            return  # the service is shutting down
        except StoreError as exc:
            log.warning("election interrupted", election=election_name, error=str(exc))
        await asyncio.sleep(retry_delay)  # back off before campaigning again
