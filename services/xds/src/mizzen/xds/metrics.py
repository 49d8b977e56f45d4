"""The xds service's Prometheus metrics, registered on the service's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from mizzen.envoy import UnknownTypeError, xds_abbreviation

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def type_label(type_url: str) -> str:
    """The ``type`` label of a type URL: its xDS abbreviation (``CDS``...), else the URL."""
    try:
        return xds_abbreviation(type_url)
    except UnknownTypeError:
        return type_url


class XdsMetrics:
    """Counters and gauges of the ADS server. Build one per registry; use from one loop.

    - ``mizzen_xds_connected_proxies{protocol}``: streams open now, by ``sotw``/``delta``;
    - ``mizzen_xds_pushes_total{type}``: responses sent;
    - ``mizzen_xds_push_seconds{type}``: from the change (or request) that caused a response
      to the response being written;
    - ``mizzen_xds_acks_total{type}`` and ``mizzen_xds_nacks_total{type}``: responses the
      proxies accepted and rejected;
    - ``mizzen_xds_stream_errors_total{reason}``: streams refused or ended by an error;
    - ``mizzen_xds_route_hold_timeouts_total``: listener and route updates sent before the
      proxy acknowledged the clusters they wait for (it took longer than the deadline).
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self.connected = Gauge(
            "mizzen_xds_connected_proxies", "ADS streams open now.", ["protocol"],
            registry=registry,
        )  # fmt: skip
        self.pushes = Counter(
            "mizzen_xds_pushes_total", "xDS responses sent, by type.", ["type"], registry=registry
        )
        self.push_seconds = Histogram(
            "mizzen_xds_push_seconds",
            "Seconds from a snapshot change (or request) to the response being written.",
            ["type"], buckets=_LATENCY_BUCKETS, registry=registry,
        )  # fmt: skip
        self.acks = Counter(
            "mizzen_xds_acks_total", "xDS responses accepted, by type.", ["type"],
            registry=registry,
        )  # fmt: skip
        self.nacks = Counter(
            "mizzen_xds_nacks_total", "xDS responses rejected, by type.", ["type"],
            registry=registry,
        )  # fmt: skip
        self.stream_errors = Counter(
            "mizzen_xds_stream_errors_total", "ADS streams refused or failed, by reason.",
            ["reason"], registry=registry,
        )  # fmt: skip
        self.route_hold_timeouts = Counter(
            "mizzen_xds_route_hold_timeouts_total",
            "Listener and route updates sent unconfirmed: the proxy did not ACK new clusters "
            "in time.",
            registry=registry,
        )
