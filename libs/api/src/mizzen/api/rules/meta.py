"""Rules for object metadata, as the Kubernetes API server applies them."""

from __future__ import annotations

from mizzen.api.hosts import is_k8s_namespace, is_k8s_subdomain
from mizzen.api.labels import check_label_key
from mizzen.api.meta import ObjectMeta
from mizzen.api.rules.common import check_label_map
from mizzen.api.rules.issues import Issues

__all__ = ["check_metadata"]

MAX_ANNOTATIONS_BYTES = 256 * 1024


def check_metadata(meta: ObjectMeta, out: Issues) -> None:
    """Name required (lowercase DNS subdomain); namespace a DNS label; labels, annotations."""
    if not meta.name:
        out.add("metadata.name", "name is required")
    elif not is_k8s_subdomain(meta.name):
        out.add(
            "metadata.name",
            f"name {meta.name!r} must be a lowercase RFC 1123 subdomain "
            "(a-z, 0-9, '-' and '.', at most 253 characters)",
        )
    if meta.namespace is not None and not is_k8s_namespace(meta.namespace):
        out.add(
            "metadata.namespace",
            f"namespace {meta.namespace!r} must be a lowercase RFC "
            "1123 label (a-z, 0-9 and '-', at most 63 characters)",
        )
    check_label_map(meta.labels, "metadata.labels", out)
    size = 0
    for key, value in (meta.annotations or {}).items():
        out.add_if(f"metadata.annotations[{key}]", check_label_key(key, "annotation key"))
        size += len(key.encode("utf-8", "surrogatepass")) + len(
            value.encode("utf-8", "surrogatepass")
        )
    if size > MAX_ANNOTATIONS_BYTES:
        out.add("metadata.annotations", f"annotations take {size} bytes: at most 256 KiB allowed")
