"""The xds service: ADS (state-of-the-world and delta) for Envoy and proxyless gRPC.

It serves each proxy its class snapshot straight from the bytes the translator stored
(:class:`mizzen.snapshots.SnapshotReader`), pushes changes in a safe order, tracks ACKs and
NACKs per stream and records every connected proxy's status in etcd under its own lease.
See :mod:`mizzen.xds.api.stream` for the stream core and :mod:`mizzen.xds.app` for the wiring.
"""
