"""Typed subjects: a NATS subject pattern with named tokens, bound to a payload type.

A pattern is dot-separated tokens. A token is a literal (``snapshot``), a named placeholder
that occupies the whole token (``{xds_class}``), or a NATS wildcard (``*`` for exactly one
token, ``>`` for one or more trailing tokens). Example::

    SNAPSHOT = Subject("mizzen.xds.class.{xds_class}.snapshot", SnapshotEvent)
    SNAPSHOT.bind(xds_class="c1").publish_subject()   # "mizzen.xds.class.c1.snapshot"
    SNAPSHOT.filter_subject()                         # "mizzen.xds.class.*.snapshot"
    SNAPSHOT.parse("mizzen.xds.class.c1.snapshot")    # {"xds_class": "c1"}

The module also holds the subject algebra the in-memory bus needs, with NATS semantics:
:func:`subject_matches`, :func:`subject_is_subset`, :func:`subjects_overlap`.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Generic, Self, TypeVar

from mizzen.bus.codec import Codec, codec_for
from mizzen.bus.errors import SubjectError

__all__ = [
    "Endpoint",
    "Subject",
    "subject_is_subset",
    "subject_matches",
    "subjects_overlap",
    "validate_filter",
    "validate_token_value",
]

T = TypeVar("T")
ReqT = TypeVar("ReqT")
RespT = TypeVar("RespT")

_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")
# What NATS accepts in one token, minus the wildcards: no dots, spaces or control characters.
_BAD_TOKEN_CHARS = re.compile(r"[\s.*>\x00-\x1f\x7f]")


def validate_token_value(name: str, value: str) -> None:
    """Raise :class:`SubjectError` unless ``value`` can fill one subject token: non-empty,
    with no ``.``, ``*``, ``>``, whitespace or control characters."""
    if not isinstance(value, str) or not value or _BAD_TOKEN_CHARS.search(value):
        raise SubjectError(
            f"token {name}={value!r} must be a non-empty string without '.', '*', '>' or whitespace"
        )


def validate_filter(subject: str, *, allow_wildcards: bool = True) -> list[str]:
    """Check a concrete subject or a subscription filter and return its tokens.

    Every token must be non-empty; ``*`` and ``>`` must be whole tokens, ``>`` only last;
    wildcards are refused when ``allow_wildcards`` is false (publishing).
    """
    if not subject:
        raise SubjectError("a subject must not be empty")
    tokens = subject.split(".")
    for index, token in enumerate(tokens):
        if token in ("*", ">"):
            if not allow_wildcards:
                raise SubjectError(
                    f"cannot publish to {subject!r}: wildcards are for subscriptions",
                    subject=subject,
                )
            if token == ">" and index != len(tokens) - 1:
                raise SubjectError(f"'>' must be the last token in {subject!r}", subject=subject)
            continue
        if not token or _BAD_TOKEN_CHARS.search(token):
            raise SubjectError(
                f"bad token {token!r} in subject {subject!r}: tokens are non-empty, without "
                "whitespace, and '*' or '>' only as whole tokens",
                subject=subject,
            )
    return tokens


def subject_matches(filter_subject: str, subject: str) -> bool:
    """Whether the concrete ``subject`` is delivered to a subscription on ``filter_subject``:
    ``*`` matches exactly one token, a final ``>`` one or more tokens."""
    filter_tokens = filter_subject.split(".")
    tokens = subject.split(".")
    for index, want in enumerate(filter_tokens):
        if want == ">":
            return len(tokens) > index
        if index >= len(tokens):
            return False
        if want != "*" and want != tokens[index]:
            return False
    return len(tokens) == len(filter_tokens)


def subject_is_subset(inner: str, outer: str) -> bool:
    """Whether every subject matched by the filter ``inner`` is also matched by ``outer``."""
    inner_tokens = inner.split(".")
    outer_tokens = outer.split(".")
    for index, want in enumerate(outer_tokens):
        if want == ">":
            return len(inner_tokens) > index
        if index >= len(inner_tokens):
            return False
        have = inner_tokens[index]
        if have == ">":
            return False
        if want != "*" and (have == "*" or have != want):
            return False
    return len(inner_tokens) == len(outer_tokens)


def subjects_overlap(first: str, second: str) -> bool:
    """Whether some concrete subject is matched by both filters."""
    a, b = first.split("."), second.split(".")
    for index in range(max(len(a), len(b))):
        x = a[index] if index < len(a) else None
        y = b[index] if index < len(b) else None
        if x == ">" or y == ">":
            # '>' needs at least one token here on the other side too (or a wildcard).
            return x is not None and y is not None
        if x is None or y is None:
            return False
        if "*" not in (x, y) and x != y:
            return False
    return True


class Subject(Generic[T]):
    """A subject pattern bound to a payload type ``T`` and its codec.

    Immutable: :meth:`bind` returns a new subject with some placeholders filled in. A subject
    with no unbound placeholders and no wildcards can be published to; any subject can be
    subscribed to (unbound placeholders subscribe as ``*``). Safe to share between tasks.

    ``payload`` is either the payload type (a protobuf message class, a dataclass, or
    ``bytes``; see :func:`~mizzen.bus.codec.codec_for`) or an explicit :class:`Codec`.
    """

    def __init__(self, pattern: str, payload: type[T] | Codec[T]) -> None:
        self.pattern = pattern
        self.codec: Codec[T] = payload if isinstance(payload, Codec) else codec_for(payload)
        self._tokens = pattern.split(".")
        self._placeholders: dict[int, str] = {}
        for index, token in enumerate(self._tokens):
            found = _PLACEHOLDER.match(token)
            if found:
                name = found.group(1)
                if name in self._placeholders.values():
                    raise SubjectError(f"token {{{name}}} appears twice in {pattern!r}")
                self._placeholders[index] = name
            elif "{" in token or "}" in token:
                raise SubjectError(
                    f"bad token {token!r} in {pattern!r}: a placeholder is a whole token, "
                    "like {name}"
                )
        # The pattern with every placeholder as '*' must be a valid filter.
        validate_filter(self._render(fill_wildcards=True, bound={}))
        self._bound: dict[str, str] = {}

    @property
    def placeholders(self) -> tuple[str, ...]:
        """The names of all placeholders in the pattern, in order (bound or not)."""
        return tuple(self._placeholders.values())

    @property
    def bound(self) -> Mapping[str, str]:
        """The placeholder values bound so far (do not mutate)."""
        return self._bound

    def bind(self, **values: str) -> Self:
        """Return a copy with the named placeholders filled in.

        Raises :class:`SubjectError` for a name the pattern lacks or an invalid value.
        """
        known = set(self._placeholders.values())
        for name, value in values.items():
            if name not in known:
                raise SubjectError(
                    f"{self.pattern!r} has no token {{{name}}} (it has: "
                    f"{', '.join(sorted(known)) or 'none'})"
                )
            validate_token_value(name, value)
        bound = copy.copy(self)
        bound._bound = {**self._bound, **values}
        return bound

    @property
    def is_concrete(self) -> bool:
        """Whether the subject can be published to: every placeholder bound, no wildcards."""
        return set(self._bound) == set(self._placeholders.values()) and not any(
            token in ("*", ">") for token in self._tokens
        )

    def publish_subject(self) -> str:
        """The concrete subject to publish to. Raises :class:`SubjectError` when a placeholder
        is unbound or the pattern holds a wildcard."""
        missing = [name for name in self._placeholders.values() if name not in self._bound]
        if missing:
            raise SubjectError(
                f"cannot publish to {self.pattern!r}: bind {', '.join(missing)} first",
                subject=self.pattern,
            )
        subject = self._render(fill_wildcards=False, bound=self._bound)
        validate_filter(subject, allow_wildcards=False)
        return subject

    def filter_subject(self) -> str:
        """The subscription filter: bound placeholders filled in, unbound ones as ``*``."""
        return self._render(fill_wildcards=True, bound=self._bound)

    def matches(self, subject: str) -> bool:
        """Whether a concrete ``subject`` would be delivered to :meth:`filter_subject`."""
        return subject_matches(self.filter_subject(), subject)

    def parse(self, subject: str) -> dict[str, str]:
        """Extract every placeholder's value from a concrete subject this pattern matches.

        Raises :class:`SubjectError` when the subject does not match.
        """
        if not self.matches(subject):
            raise SubjectError(
                f"{subject!r} does not match {self.filter_subject()!r}", subject=subject
            )
        tokens = subject.split(".")
        return {name: tokens[index] for index, name in self._placeholders.items()}

    def _render(self, *, fill_wildcards: bool, bound: Mapping[str, str]) -> str:
        out = []
        for index, token in enumerate(self._tokens):
            name = self._placeholders.get(index)
            if name is None:
                out.append(token)
            elif name in bound:
                out.append(bound[name])
            else:
                out.append("*" if fill_wildcards else token)
        return ".".join(out)

    def __repr__(self) -> str:
        bound = "".join(f", {k}={v!r}" for k, v in self._bound.items())
        return f"{type(self).__name__}({self.pattern!r}, {self.codec.type_name}{bound})"


class Endpoint(Subject[ReqT], Generic[ReqT, RespT]):
    """A request/reply subject: requests of type ``ReqT``, replies of type ``RespT``.

    Used with :meth:`Bus.request <mizzen.bus.Bus.request>` and
    :meth:`Bus.serve <mizzen.bus.Bus.serve>`; binding works as for :class:`Subject`.
    """

    def __init__(
        self,
        pattern: str,
        request: type[ReqT] | Codec[ReqT],
        response: type[RespT] | Codec[RespT],
    ) -> None:
        super().__init__(pattern, request)
        self.response_codec: Codec[RespT] = (
            response if isinstance(response, Codec) else codec_for(response)
        )
