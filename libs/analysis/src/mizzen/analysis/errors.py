"""Errors raised by mizzen.analysis.

The hierarchy::

    AnalysisError             base of every error this package raises
    └── InputError            what `analyze()` was given cannot be analyzed (e.g. a
                              workload that is not (namespace, labels, ports))

Problems found *in the configuration* are never raised: they are `Message`s. An analyzer
that fails unexpectedly is reported as an IST0001 InternalError message, not raised.
"""

from __future__ import annotations

__all__ = ["AnalysisError", "InputError"]


class AnalysisError(Exception):
    """Base of every error raised by mizzen.analysis."""


class InputError(AnalysisError):
    """The arguments of `analyze()` are not of the documented shape."""
