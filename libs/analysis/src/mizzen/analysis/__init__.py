"""Cross-resource analysis of Istio configuration, as `istioctl analyze` does it.

    from mizzen.analysis import analyze

    for message in analyze(resources, workloads=[("default", {"app": "gw"}, [80])]):
        print(message)  # Error [IST0101] (VirtualService default/reviews) Referenced ...

`analyze()` is pure: resources (from `mizzen.api.parse_documents`) in, sorted `Message`s
out. Each message has Istio's code where Istio has one (`IST0101`, ...) and a Mizzen code
(`MZ0001`, ...) otherwise, a `Level`, the resource, the field path and the text.
`ANALYZERS` lists the analyzers, each with the codes it reports and the kinds it reads;
`MESSAGE_TYPES` lists every message type.
"""

from __future__ import annotations

from mizzen.analysis.analyzer import Analyzer
from mizzen.analysis.errors import AnalysisError, InputError
from mizzen.analysis.messages import (
    ANALYZER_SKIPPED,
    MESSAGE_TYPES,
    Level,
    Message,
    MessageType,
    ResourceRef,
)
from mizzen.analysis.registry import ANALYZERS, DEFAULT_NAMESPACE, ROOT_NAMESPACE, analyze
from mizzen.analysis.workloads import Workload

__all__ = [
    "ANALYZERS",
    "ANALYZER_SKIPPED",
    "DEFAULT_NAMESPACE",
    "MESSAGE_TYPES",
    "ROOT_NAMESPACE",
    "AnalysisError",
    "Analyzer",
    "InputError",
    "Level",
    "Message",
    "MessageType",
    "ResourceRef",
    "Workload",
    "analyze",
]
