"""Kubernetes-style label selectors on ``metadata.labels``: ``a=b,c!=d,e,!f``."""

from __future__ import annotations

from collections.abc import Callable, Mapping

LabelPredicate = Callable[[Mapping[str, str]], bool]


def parse_selector(text: str) -> LabelPredicate:
    """Parse an equality-based selector; ``""`` matches everything.

    Terms (comma-separated, all must hold): ``key=value`` (also ``==``), ``key!=value``,
    ``key`` (exists), ``!key`` (does not exist). Raises ``ValueError`` naming the bad term.
    """
    # (key, operator, value): operator is "=", "!=", "exists" or "absent"
    terms: list[tuple[str, str, str]] = []
    for raw in (t.strip() for t in text.split(",")):
        if not raw:
            continue
        if "!=" in raw:
            key, value = raw.split("!=", 1)
            term = (key.strip(), "!=", value.strip())
        elif "=" in raw:
            key, value = raw.replace("==", "=", 1).split("=", 1)
            term = (key.strip(), "=", value.strip())
        elif raw.startswith("!"):
            term = (raw[1:].strip(), "absent", "")
        else:
            term = (raw, "exists", "")
        if not term[0] or any(c in term[0] for c in " =!"):
            raise ValueError(
                f"invalid label selector term {raw!r}: expected key=value, key!=value, key or !key"
            )
        terms.append(term)

    def matches(labels: Mapping[str, str]) -> bool:
        for key, operator, value in terms:
            present = key in labels
            if operator == "=" and labels.get(key) != value:
                return False
            if (operator == "!=" and labels.get(key) == value) or (
                operator == "exists" and not present
            ):
                return False
            if operator == "absent" and present:
                return False
        return True

    return matches
