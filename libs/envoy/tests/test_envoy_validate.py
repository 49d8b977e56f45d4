"""``envoy --mode validate`` over xDS resources: good sets pass, bad ones fail with the reason."""

from __future__ import annotations

from typing import Any

import pytest
from envoy.config.cluster.v3 import cluster_pb2
from envoy.config.endpoint.v3 import endpoint_pb2
from envoy.config.listener.v3 import listener_components_pb2, listener_pb2
from envoy.config.route.v3 import route_pb2
from envoy.extensions.filters.http.router.v3 import router_pb2
from envoy.extensions.filters.network.http_connection_manager.v3 import (
    http_connection_manager_pb2,
)
from envoy.extensions.transport_sockets.tls.v3 import secret_pb2

from mizzen.envoy import (
    ALLOW_ANY_VIRTUAL_HOST,
    BLACKHOLE_CLUSTER,
    HTTP_PROXY_ROUTE,
    PASSTHROUGH_CLUSTER,
    EnvoyResource,
    PortMatching,
    ResourceError,
    make_resource,
    outbound_cluster_name,
    pack,
    validate_resources,
    validation_bootstrap,
    virtual_host_domains,
    virtual_host_name,
)

REVIEWS = "reviews.default.svc.cluster.local"
REVIEWS_V1 = outbound_cluster_name(REVIEWS, 9080, "v1")


def _eds_cluster(name: str) -> Any:
    cluster = cluster_pb2.Cluster(name=name, type=cluster_pb2.Cluster.EDS)
    cluster.connect_timeout.FromMilliseconds(500)
    cluster.eds_cluster_config.service_name = name
    cluster.eds_cluster_config.eds_config.ads.SetInParent()
    cluster.eds_cluster_config.eds_config.resource_api_version = 2  # V3
    return cluster


def _assignment(cluster_name: str, address: str) -> Any:
    assignment = endpoint_pb2.ClusterLoadAssignment(cluster_name=cluster_name)
    endpoint = assignment.endpoints.add().lb_endpoints.add().endpoint
    endpoint.address.socket_address.address = address
    endpoint.address.socket_address.port_value = 19080
    return assignment


def _special_clusters() -> list[Any]:
    passthrough = cluster_pb2.Cluster(
        name=PASSTHROUGH_CLUSTER,
        type=cluster_pb2.Cluster.ORIGINAL_DST,
        lb_policy=cluster_pb2.Cluster.CLUSTER_PROVIDED,
    )
    passthrough.connect_timeout.FromSeconds(1)
    blackhole = cluster_pb2.Cluster(name=BLACKHOLE_CLUSTER, type=cluster_pb2.Cluster.STATIC)
    blackhole.connect_timeout.FromSeconds(1)
    return [passthrough, blackhole]


def _route_config(name: str, cluster: str, *, validate_clusters: bool = False) -> Any:
    config = route_pb2.RouteConfiguration(name=name)
    config.validate_clusters.value = validate_clusters
    host = config.virtual_hosts.add(name=virtual_host_name(REVIEWS, 9080))
    host.domains.extend(
        virtual_host_domains(
            REVIEWS, 9080, proxy_namespace="default", matching=PortMatching.HTTP_PROXY
        )
    )
    route = host.routes.add()
    route.match.prefix = "/"
    route.route.cluster = cluster
    catch_all = config.virtual_hosts.add(name=ALLOW_ANY_VIRTUAL_HOST, domains=["*"])
    passthrough = catch_all.routes.add()
    passthrough.match.prefix = "/"
    passthrough.route.cluster = PASSTHROUGH_CLUSTER
    return config


def _listener(name: str, port: int, route_name: str) -> Any:
    hcm = http_connection_manager_pb2.HttpConnectionManager(stat_prefix=name)
    hcm.rds.route_config_name = route_name
    hcm.rds.config_source.ads.SetInParent()
    hcm.rds.config_source.resource_api_version = 2  # V3
    hcm.http_filters.add(name="envoy.filters.http.router").typed_config.CopyFrom(
        pack(router_pb2.Router())
    )
    listener = listener_pb2.Listener(name=name)
    listener.address.socket_address.address = "127.0.0.5"
    listener.address.socket_address.port_value = port
    network_filter = listener.filter_chains.add().filters.add(
        name="envoy.filters.network.http_connection_manager"
    )
    network_filter.typed_config.CopyFrom(pack(hcm))
    return listener


def _good_set() -> list[EnvoyResource]:
    secret = secret_pb2.Secret(name="token")
    secret.generic_secret.secret.inline_string = "s3cr3t"
    messages = [
        _eds_cluster(REVIEWS_V1),
        _assignment(REVIEWS_V1, "127.0.0.10"),
        *_special_clusters(),
        _listener("127.0.0.5_15001", 15001, HTTP_PROXY_ROUTE),
        _route_config(HTTP_PROXY_ROUTE, REVIEWS_V1, validate_clusters=True),
        _route_config("9080", REVIEWS_V1),
        secret,
    ]
    return [make_resource(m) for m in messages]


async def test_a_good_set_passes() -> None:
    ok, error = await validate_resources(_good_set())
    assert (ok, error) == (True, "")


def test_resources_are_placed_where_envoy_checks_them() -> None:
    bootstrap: Any = validation_bootstrap(_good_set())
    static = bootstrap.static_resources
    clusters = {c.name: c for c in static.clusters}
    # the EDS cluster became STATIC with its assignment, so the endpoints get checked
    reviews = clusters[REVIEWS_V1]
    assert reviews.type == cluster_pb2.Cluster.STATIC
    assert not reviews.HasField("eds_cluster_config")
    endpoint = reviews.load_assignment.endpoints[0].lb_endpoints[0].endpoint
    assert endpoint.address.socket_address.address == "127.0.0.10"
    # the listener's RDS reference was replaced by the route configuration itself
    listeners = {listener.name: listener for listener in static.listeners}
    hcm = http_connection_manager_pb2.HttpConnectionManager.FromString(
        listeners["127.0.0.5_15001"].filter_chains[0].filters[0].typed_config.value
    )
    assert hcm.WhichOneof("route_specifier") == "route_config"
    assert hcm.route_config.name == HTTP_PROXY_ROUTE
    # the route configuration no listener used got a listener of its own
    assert "mizzen-validate|rds|9080" in listeners
    assert [s.name for s in static.secrets] == ["token"]


async def test_a_negative_connect_timeout_fails_with_envoys_reason() -> None:
    cluster = _special_clusters()[1]
    cluster.connect_timeout.seconds = -1
    ok, error = await validate_resources([make_resource(cluster)])
    assert not ok
    assert "positive duration" in error.lower()


async def test_an_unknown_filter_fails_with_envoys_reason() -> None:
    listener = _listener("127.0.0.5_9080", 9080, "9080")
    chain = listener.filter_chains[0]
    hcm = listener_components_pb2.Filter()
    hcm.CopyFrom(chain.filters[0])
    del chain.filters[:]
    odd = chain.filters.add(name="envoy.filters.network.mizzen_no_such")  # before the terminal
    odd.typed_config.type_url = "type.googleapis.com/mizzen.test.NoSuchFilter"
    chain.filters.append(hcm)
    ok, error = await validate_resources([make_resource(listener)])
    assert not ok
    assert "mizzen.test.NoSuchFilter" in error
    assert "bootstrap.pb" not in error  # the temporary file's name is not part of the reason


async def test_endpoint_errors_are_caught_through_the_converted_cluster() -> None:
    resources = [
        make_resource(_eds_cluster(REVIEWS_V1)),
        make_resource(_assignment(REVIEWS_V1, "not-an-ip")),
    ]
    ok, error = await validate_resources(resources)
    assert not ok
    assert "not-an-ip" in error


async def test_route_errors_are_caught_in_an_unreferenced_route_config() -> None:
    # validate_clusters makes Envoy check every cluster a route names: only possible once
    # the route configuration is built, i.e. inlined into some listener.
    resources = [
        *(make_resource(m) for m in _special_clusters()),
        make_resource(_route_config("9080", "outbound|9080||missing", validate_clusters=True)),
    ]
    ok, error = await validate_resources(resources)
    assert not ok
    assert "outbound|9080||missing" in error


async def test_an_eds_cluster_without_its_assignment_still_validates() -> None:
    ok, error = await validate_resources([make_resource(_eds_cluster(REVIEWS_V1))])
    assert (ok, error) == (True, "")


def test_extension_configs_cannot_be_placed() -> None:
    from envoy.config.core.v3 import extension_pb2

    extension = extension_pb2.TypedExtensionConfig(name="fault")
    extension.typed_config.CopyFrom(pack(router_pb2.Router()))
    with pytest.raises(ResourceError, match="cannot be placed"):
        validation_bootstrap([make_resource(extension)])
