"""Bookinfo, shaped like Istio's sample and written here: a bookstore of four services.

::

    productpage ──► details
         └────────► reviews v1 (no stars)
                    reviews v2 ──► ratings (black stars)
                    reviews v3 ──► ratings (red stars)

Each app is a module runnable with ``python -m`` (:mod:`.productpage`, :mod:`.details`,
:mod:`.reviews` ``--version v1|v2|v3``, :mod:`.ratings`), standard library only, serving on
``127.0.0.1:$MIZZEN_APP_PORT`` and reaching the others by name through ``$http_proxy`` (its
Envoy). Apps pass trace headers and ``end-user`` on (:mod:`.web`).

:data:`WORKLOADS` says how ``mizzen workload run`` runs each one; :mod:`.manifests` holds
the Istio task YAMLs (:func:`manifest_path`, :data:`TASKS`) and what ``mizzen demo`` applies
(:data:`DEFAULT_MANIFESTS`).
"""

from mizzen.samples.bookinfo.manifests import (
    DEFAULT_GATEWAY_PORT,
    DEFAULT_MANIFESTS,
    MANIFESTS_DIR,
    TASKS,
    manifest_path,
)
from mizzen.samples.bookinfo.topology import SERVICE_PORT, WORKLOADS, BookinfoWorkload

__all__ = [
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_MANIFESTS",
    "MANIFESTS_DIR",
    "SERVICE_PORT",
    "TASKS",
    "WORKLOADS",
    "BookinfoWorkload",
    "manifest_path",
]
