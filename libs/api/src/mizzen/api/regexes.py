"""Regular expressions checked with RE2, the engine Envoy runs them with."""

from __future__ import annotations

import re2

__all__ = ["check_regex"]

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is returned to the caller; RE2's own log is noise


def check_regex(pattern: str) -> str | None:
    """Return None if RE2 compiles `pattern`, else why it does not (Python-only syntax
    such as lookaround or backreferences is refused, as Envoy refuses it)."""
    try:
        re2.compile(pattern, _OPTIONS)
    except (re2.error, UnicodeError, ValueError, TypeError) as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        return f"invalid RE2 regular expression {pattern!r}: {reason}"
    return None
