"""The Istio YAMLs of Bookinfo's tasks, written for this sample (``networking/*.yaml``).

Same resource names and meanings as Istio's Bookinfo samples, so Istio's task pages can be
followed with ``mizzen apply -f <path>`` in place of ``kubectl apply -f``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "DEFAULT_GATEWAY_PORT",
    "DEFAULT_MANIFESTS",
    "MANIFESTS_DIR",
    "TASKS",
    "manifest_path",
]

MANIFESTS_DIR = Path(__file__).resolve().parent / "networking"
"""Where the YAML files are (a real directory: the package is installed as files)."""

DEFAULT_GATEWAY_PORT = 8080
"""The port of ``bookinfo-gateway``'s server (a gateway may listen elsewhere for it:
``mizzen gateway run --port 8080:<listen port>``)."""

DEFAULT_MANIFESTS: tuple[str, ...] = ("destination-rule-all", "bookinfo-gateway")
"""What ``mizzen demo`` applies: the subsets, and the Gateway with its VirtualService."""

TASKS: dict[str, str] = {
    "virtual-service-all-v1": "request routing: everyone gets v1 of every service",
    "virtual-service-reviews-test-v2": "request routing: jason gets reviews v2 (black stars)",
    "virtual-service-ratings-test-delay": "fault injection: 7 s ratings delay for jason",
    "virtual-service-ratings-test-abort": "fault injection: HTTP 500 from ratings for jason",
    "virtual-service-reviews-90-10": "traffic shifting: reviews 90% v1, 10% v2",
    "virtual-service-reviews-80-20": "traffic shifting: reviews 80% v1, 20% v2",
    "virtual-service-reviews-50-v3": "traffic shifting: reviews 50% v1, 50% v3 (red stars)",
    "virtual-service-reviews-v3": "traffic shifting: reviews all v3",
    "virtual-service-reviews-v2": "request timeouts: reviews all v2",
    "virtual-service-ratings-delay-2s": "request timeouts: 2 s ratings delay for everyone",
    "virtual-service-reviews-timeout": "request timeouts: 0.5 s timeout on reviews",
}
"""The task YAMLs (name → what applying it does), in the order of Istio's task pages."""


def manifest_path(name: str) -> Path:
    """The file of manifest ``name`` (``virtual-service-reviews-90-10``, with or without
    ``.yaml``). Raises ``FileNotFoundError`` naming the known ones when there is no such file."""
    path = MANIFESTS_DIR / (name if name.endswith(".yaml") else f"{name}.yaml")
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in MANIFESTS_DIR.glob("*.yaml")))
        raise FileNotFoundError(f"no Bookinfo manifest {name!r}; known: {known}")
    return path
