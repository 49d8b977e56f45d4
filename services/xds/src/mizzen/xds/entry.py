"""The ``mizzen-xds`` console script and ``python -m mizzen.xds``: set gRPC up, then run.

gRPC reads its experiment switches when it loads, so they are set here, before anything
imports it.
"""

from __future__ import annotations

import os

GRPC_EXPERIMENTS = "tcp_frame_size_tuning"
"""gRPC's own switch (``GRPC_EXPERIMENTS``): read each connection's bytes in the frame sizes
HTTP/2 announces instead of keeping a buffer as large as the largest message seen. Every
proxy keeps a connection to xds, and a state-of-the-world Envoy's endpoint ACK names every
cluster (~40 KB at 1,000 services): measured 24 KB less per connection. A
``GRPC_EXPERIMENTS`` already in the environment is left as it is."""


def main() -> None:
    """Run xds with :data:`GRPC_EXPERIMENTS`."""
    os.environ.setdefault("GRPC_EXPERIMENTS", GRPC_EXPERIMENTS)
    from mizzen.xds.app import main as run  # after the switch is set

    run()
