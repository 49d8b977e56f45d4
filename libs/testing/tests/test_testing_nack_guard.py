"""The NACK guard of ``envoy_factory``: a test whose Envoy rejected config fails."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

INNER = """
import json
import pytest
from mizzen.testing import wait_for

CDS_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster"

async def start(envoy_factory, ports, tmp_path, cluster):
    cds = tmp_path / "cds.json"
    cds.write_text(json.dumps({"resources": [{"@type": CDS_TYPE, **cluster}]}))
    admin = ports.take()
    bootstrap = {
        "node": {"id": "guard", "cluster": "guard"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "dynamic_resources": {"cds_config": {"resource_api_version": "V3",
                                             "path_config_source": {"path": str(cds)}}},
    }
    return await envoy_factory(bootstrap, admin_port=admin)

BAD = {"name": "bad", "type": "STATIC", "connect_timeout": "-1s"}
GOOD = {"name": "good", "type": "STATIC", "connect_timeout": "1s"}

async def rejected(envoy):
    return (await envoy.stats()).get("cluster_manager.cds.update_rejected", 0) > 0

async def test_rejected(envoy_factory, ports, tmp_path):
    envoy = await start(envoy_factory, ports, tmp_path, BAD)
    await wait_for(lambda: rejected(envoy), message="the NACK")

@pytest.mark.expect_nacks
async def test_rejected_on_purpose(envoy_factory, ports, tmp_path):
    envoy = await start(envoy_factory, ports, tmp_path, BAD)
    await wait_for(lambda: rejected(envoy), message="the NACK")

async def test_accepted(envoy_factory, ports, tmp_path):
    envoy = await start(envoy_factory, ports, tmp_path, GOOD)
    await wait_for(lambda: envoy.stats(), message="stats")
"""


def test_a_nack_fails_the_test_unless_expected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-o", "asyncio_mode=auto",
                                           "-o", "markers=expect_nacks: expected")  # fmt: skip
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(["*Envoy rejected configuration (NACK)*update_rejected*"])
