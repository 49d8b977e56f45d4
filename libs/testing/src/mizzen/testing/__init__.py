"""Test support for Mizzen: fixtures that run the real components.

Installed as a pytest plugin (entry point ``mizzen``), so every test in the workspace can ask
for :func:`~mizzen.testing.plugin.etcd`, :func:`~mizzen.testing.plugin.nats_server`,
:func:`~mizzen.testing.plugin.envoy_factory` and :func:`~mizzen.testing.plugin.ports`.
A missing binary fails the test; nothing is ever skipped for it.
"""

from mizzen.testing.wait import in_background, wait_for

__all__ = ["in_background", "wait_for"]
