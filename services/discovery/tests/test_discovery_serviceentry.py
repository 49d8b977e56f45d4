"""ServiceEntry and WorkloadEntry from the config store, reconciled into the registry by a real
discovery process (one elected replica) on a real etcd."""

from __future__ import annotations

from mizzen.api import parse_documents
from mizzen.configstore import ConfigRepository, ResourceKey
from mizzen.discovery.reconciler import ELECTION
from mizzen.discovery.testing import read_endpoints, read_service
from mizzen.launcher import ServiceProcess
from mizzen.registry import (
    Endpoint,
    Locality,
    Protocol,
    Resolution,
    Service,
    ServicePort,
    encode_service,
    endpoint_key,
    service_key,
)
from mizzen.store import Election, Store
from mizzen.testing import wait_for
from mizzen.testing.plugin import ServiceFactory

PAYMENTS = "payments.example.com"
VMS = "vm.shop.internal"

EXTERNAL = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: payments, namespace: shop, labels: {team: pay}}
spec:
  hosts: [payments.example.com]
  ports:
  - {number: 443, name: https, protocol: HTTPS}
  - {number: 80, name: http, targetPort: 8080}
  resolution: STATIC
  exportTo: ["."]
  endpoints:
  - {address: 10.0.0.1, ports: {https: 8443}, labels: {zone: a}, locality: us-east/a, weight: 3}
"""

INTERNAL = """
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vms, namespace: shop}
spec:
  hosts: [vm.shop.internal]
  location: MESH_INTERNAL
  resolution: STATIC
  ports: [{number: 9080, name: grpc-api}]
  workloadSelector: {labels: {app: vm}}
"""


def workload_entry(name: str, namespace: str, address: str, app: str) -> str:
    return f"""
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  address: {address}
  labels: {{app: {app}}}
  serviceAccount: vm-sa
  network: net1
"""


async def apply(repository: ConfigRepository, *documents: str) -> None:
    await repository.apply(parse_documents("---".join(documents), "test.yaml"), applied_by="test")


async def test_serviceentries_and_workloadentries_become_services_and_endpoints(
    discovery: ServiceProcess, store: Store
) -> None:
    repository = ConfigRepository(store)
    await apply(
        repository,
        EXTERNAL,
        INTERNAL,
        workload_entry("vm-1", "shop", "10.0.1.1", "vm"),
        workload_entry("vm-2", "shop", "10.0.1.2", "other"),
        workload_entry("vm-3", "default", "10.0.1.3", "vm"),  # another namespace: not selected
    )
    payments = await wait_for(
        lambda: read_service(store, PAYMENTS), timeout=10, message="payments service"
    )
    assert payments == Service(
        hostname=PAYMENTS,
        namespace="shop",
        ports=(ServicePort(80, Protocol.HTTP, "http"), ServicePort(443, Protocol.HTTPS, "https")),
        labels={"team": "pay"},
        resolution=Resolution.STATIC,
        mesh_external=True,
        export_to=(".",),
        source="serviceentry",
    )
    endpoints = await wait_for(lambda: read_endpoints(store, PAYMENTS), message="endpoints")
    endpoint, kv = endpoints["shop.payments:0"]
    assert kv.lease == 0
    assert endpoint == Endpoint(
        service=PAYMENTS,
        namespace="shop",
        workload="payments:0",
        address="10.0.0.1",
        ports={443: 8443, 80: 8080},
        labels={"zone": "a"},
        locality=Locality("us-east", "a"),
        weight=3,
        source="serviceentry",
    )

    vms = await wait_for(lambda: read_service(store, VMS), message="vm service")
    assert (vms.mesh_external, vms.ports) == (
        False,
        (ServicePort(9080, Protocol.GRPC, "grpc-api"),),
    )
    selected = await wait_for(lambda: read_endpoints(store, VMS), message="vm endpoints")
    assert list(selected) == ["shop.vm-1"]
    vm1 = selected["shop.vm-1"][0]
    assert (vm1.address, vm1.service_account, vm1.network, vm1.source) == (
        "10.0.1.1",
        "vm-sa",
        "net1",
        "workloadentry",
    )

    # A WorkloadEntry relabelled into the selector joins; one deleted leaves.
    await apply(repository, workload_entry("vm-2", "shop", "10.0.1.2", "vm"))
    await repository.delete([ResourceKey("WorkloadEntry", "shop", "vm-1")], applied_by="test")
    await wait_for(
        lambda: _endpoint_ids(store, VMS, ["shop.vm-2"]), timeout=10, message="vm-2 only"
    )

    # A changed ServiceEntry changes its service and endpoints.
    await apply(
        repository, EXTERNAL.replace("  - {number: 80, name: http, targetPort: 8080}\n", "")
    )

    async def port_80_gone() -> bool:
        service = await read_service(store, PAYMENTS)
        endpoint = (await read_endpoints(store, PAYMENTS))["shop.payments:0"][0]
        return service is not None and len(service.ports) == 1 and 80 not in endpoint.ports

    await wait_for(port_80_gone, timeout=10, message="payments port 80 removed")

    # A deleted ServiceEntry takes its service and endpoints along.
    await repository.delete([ResourceKey("ServiceEntry", "shop", "vms")], applied_by="test")

    async def vms_gone() -> bool:
        return await read_service(store, VMS) is None and await read_endpoints(store, VMS) == {}

    await wait_for(vms_gone, timeout=10, message="vm service removed")
    assert await read_service(store, PAYMENTS) is not None


async def test_registry_converges_after_a_restart_and_after_tampering(
    discovery: ServiceProcess, store: Store
) -> None:
    repository = ConfigRepository(store)
    await apply(repository, EXTERNAL, INTERNAL)
    await wait_for(lambda: read_service(store, VMS), timeout=10, message="vm service")
    await wait_for(lambda: read_endpoints(store, PAYMENTS), timeout=10, message="endpoints")

    # Someone deletes a reconciled key behind discovery's back: it is written again.
    await store.delete(endpoint_key(PAYMENTS, "shop.payments:0"))
    await wait_for(lambda: read_endpoints(store, PAYMENTS), timeout=10, message="restored")

    # While discovery is down, a ServiceEntry goes and a stale value of its source appears.
    await discovery.stop()
    await repository.delete([ResourceKey("ServiceEntry", "shop", "vms")], applied_by="test")
    ghost = Service("ghost.example.com", "shop", (ServicePort(80),), source="serviceentry")
    await store.put(service_key(ghost.hostname), encode_service(ghost))
    agents = Service(
        "reviews.default.svc.cluster.local", "default", (ServicePort(9080),), source="agent"
    )
    await store.put(service_key(agents.hostname), encode_service(agents))
    await discovery.start()

    async def converged() -> bool:
        return (
            await read_service(store, VMS) is None
            and await read_service(store, ghost.hostname) is None
            and await read_service(store, PAYMENTS) is not None
        )

    await wait_for(converged, timeout=10, message="registry converged after restart")
    # Values of other sources are not the reconciler's to delete.
    assert await read_service(store, agents.hostname) == agents


async def test_one_replica_reconciles_and_another_takes_over_when_it_dies(
    discovery_env: dict[str, str], service_factory: ServiceFactory, store: Store
) -> None:
    replicas = {
        name: await service_factory(
            "discovery", env={**discovery_env, "MIZZEN_DISCOVERY_REPLICA": name}
        )
        for name in ("a", "b")
    }
    election = Election(store, ELECTION)
    leader = await wait_for(election.leader, timeout=10, message="a reconciliation leader")
    assert leader.value in (b"a", b"b")
    await replicas[leader.value.decode()].kill()

    await apply(ConfigRepository(store), EXTERNAL)
    await wait_for(
        lambda: read_service(store, PAYMENTS), timeout=10, message="payments via the new leader"
    )
    new_leader = await election.leader()
    assert new_leader is not None
    assert new_leader.value != leader.value


async def _endpoint_ids(store: Store, hostname: str, expected: list[str]) -> bool:
    return sorted(await read_endpoints(store, hostname)) == expected
