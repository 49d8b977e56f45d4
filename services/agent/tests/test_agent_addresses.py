"""Workload addresses: unique among live agents, freed when their agent dies."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path

import pytest

from mizzen.agent import AddressError, allocate_address
from mizzen.agent.addresses import check_workload_address

HOLDER = """
import signal, sys
from pathlib import Path
from mizzen.agent import allocate_address
lease = allocate_address(Path(sys.argv[1]), owner="holder.default")
print("ADDRESS", lease.address, flush=True)
signal.pause()
"""


def always_free(address: str) -> bool:
    return True


def test_addresses_are_distinct_and_reused_once_released(tmp_path: Path) -> None:
    first = allocate_address(tmp_path, owner="a.default", ports_free=always_free)
    second = allocate_address(tmp_path, owner="b.default", ports_free=always_free)
    assert (first.address, second.address) == ("127.1.0.1", "127.1.0.2")
    info = json.loads((tmp_path / "127.1.0.1.lock").read_text())
    assert info["workload"] == "a.default"
    first.release()
    assert not first.held
    assert not (tmp_path / "127.1.0.1.lock").exists()
    with allocate_address(tmp_path, owner="c.default", ports_free=always_free) as third:
        assert third.address == "127.1.0.1"
    second.release()
    second.release()  # idempotent


def test_addresses_skip_ones_whose_envoy_ports_are_taken(tmp_path: Path) -> None:
    with allocate_address(
        tmp_path, owner="a.default", ports_free=lambda a: a != "127.1.0.1"
    ) as lease:
        assert lease.address == "127.1.0.2"
    with socket.socket() as squatter:
        squatter.bind(("127.77.3.4", 15000))
        squatter.listen()
        with pytest.raises(AddressError, match="already bound there"):
            allocate_address(tmp_path, owner="a.default", forced="127.77.3.4")


def test_a_forced_address_held_by_another_agent_names_it(tmp_path: Path) -> None:
    held = allocate_address(tmp_path, owner="a.shop", forced="127.3.2.1", ports_free=always_free)
    with held, pytest.raises(AddressError, match=r"held by workload a\.shop"):
        allocate_address(tmp_path, owner="b.shop", forced="127.3.2.1", ports_free=always_free)


@pytest.mark.parametrize("bad", ["127.0.0.1", "10.0.0.1", "127.1.0.0", "127.1.0.255", "nope"])
def test_forced_addresses_must_be_workload_loopback_addresses(bad: str) -> None:
    with pytest.raises(AddressError, match="--address"):
        check_workload_address(bad)


def test_address_candidates_skip_network_and_broadcast(tmp_path: Path) -> None:
    leases = [allocate_address(tmp_path, owner=f"w{i}.default", ports_free=always_free)
              for i in range(255)]  # fmt: skip
    try:
        assert leases[253].address == "127.1.0.254"
        assert leases[254].address == "127.1.1.1"
    finally:
        for lease in leases:
            lease.release()


async def test_a_dead_agents_address_is_free_at_once(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, str(tmp_path), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert holder.stdout is not None
        line = b""
        while not line.startswith(b"ADDRESS "):  # structlog's default output comes first
            line = await asyncio.wait_for(holder.stdout.readline(), 20)
            assert line, "the holder exited"
        held = line.decode().split()[1]
        with allocate_address(tmp_path, owner="b.default") as other:
            assert other.address != held
    finally:
        holder.kill()
        await holder.wait()
    with allocate_address(tmp_path, owner="c.default", forced=held) as taken:
        assert taken.address == held
