"""run_while_leader: a failing term is reported and the replica campaigns again; a closed
store ends the loop."""

from __future__ import annotations

import asyncio

from mizzen.store import MemoryStore
from mizzen.testing import wait_for
from mizzen.translator.leadership import run_while_leader


async def test_a_failed_term_is_followed_by_a_new_one_and_close_ends_it() -> None:
    store = MemoryStore()
    terms: list[int] = []
    forever = asyncio.Event()

    async def work() -> None:
        terms.append(len(terms))
        if len(terms) == 1:
            raise RuntimeError("first term fails")
        await forever.wait()

    loop = asyncio.create_task(
        run_while_leader(store, "/test/election", "me", work, ttl=2, retry_delay=0.01)
    )
    await wait_for(lambda: len(terms) == 2, message="a second term after the failure")
    assert not loop.done()
    await store.close()
    await asyncio.wait_for(loop, 10)
    assert loop.exception() is None
