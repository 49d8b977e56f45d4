"""Bookinfo's workloads as ``mizzen workload run`` runs them: names, services, labels, apps.

Same names, service port (9080), labels (``app``, ``version``) and service accounts as
Istio's Bookinfo, so that Istio's task YAMLs select them unchanged.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

__all__ = ["SERVICE_PORT", "WORKLOADS", "BookinfoWorkload"]

SERVICE_PORT = 9080
"""The port every Bookinfo service serves on."""


@dataclass(frozen=True, slots=True)
class BookinfoWorkload:
    """One Bookinfo workload: ``name`` (``reviews-v2``) serves ``service`` on port 9080 with
    labels ``app=<service>,version=<version>``; its app is ``python -m <module> <args>``."""

    name: str
    service: str
    version: str
    module: str
    args: tuple[str, ...] = ()

    @property
    def labels(self) -> dict[str, str]:
        """Its labels, as Bookinfo's Deployments set them."""
        return {"app": self.service, "version": self.version}

    @property
    def service_account(self) -> str:
        """Its identity, as Bookinfo's ServiceAccounts name it."""
        return f"bookinfo-{self.service}"

    def app_command(self, python: str | None = None) -> list[str]:
        """The app's command line (``python`` defaults to this interpreter)."""
        return [python or sys.executable, "-m", self.module, *self.args]

    def run_arguments(self, app_port: int, *, namespace: str = "default",
                      python: str | None = None) -> list[str]:  # fmt: skip
        """The arguments of ``mizzen`` that run it with its app on ``127.0.0.1:app_port``."""
        labels = ",".join(f"{key}={value}" for key, value in self.labels.items())
        return [
            "workload", "run", "--name", self.name, "--namespace", namespace,
            "--service", self.service, "--port", f"{SERVICE_PORT}:{app_port}",
            "--labels", labels, "--service-account", self.service_account,
            "--", *self.app_command(python),
        ]  # fmt: skip


_PACKAGE = "mizzen.samples.bookinfo"
WORKLOADS: tuple[BookinfoWorkload, ...] = (
    BookinfoWorkload("details-v1", "details", "v1", f"{_PACKAGE}.details"),
    BookinfoWorkload("ratings-v1", "ratings", "v1", f"{_PACKAGE}.ratings"),
    BookinfoWorkload("reviews-v1", "reviews", "v1", f"{_PACKAGE}.reviews", ("--version", "v1")),
    BookinfoWorkload("reviews-v2", "reviews", "v2", f"{_PACKAGE}.reviews", ("--version", "v2")),
    BookinfoWorkload("reviews-v3", "reviews", "v3", f"{_PACKAGE}.reviews", ("--version", "v3")),
    BookinfoWorkload("productpage-v1", "productpage", "v1", f"{_PACKAGE}.productpage"),
)
"""Every workload, backends first (the order ``mizzen demo`` lists them in)."""
