"""Builds the translator's dependencies and runs it."""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Sequence
from typing import Any

from mizzen.api import Resource
from mizzen.configstore import ConfigRepository
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.registry import Registry
from mizzen.runtime import ServiceRuntime, service_main
from mizzen.store import open_store
from mizzen.translator.api.config_service import ConfigService
from mizzen.translator.config import TranslatorSettings
from mizzen.translator.domain.config_api import ConfigApi
from mizzen.translator.domain.generators import Input, MeshTranslation
from mizzen.translator.domain.mesh_config import MeshConfig
from mizzen.translator.leadership import run_while_leader
from mizzen.translator.pipeline import PipelineMetrics, TranslationPipeline

CONFIG_SERVICE = "mizzen.config.v1.ConfigService"
ELECTION = "/mizzen/elections/translator"


def _new_translation(
    config: MeshConfig, registry: Registry, previous: Any, changed: frozenset[str]
) -> MeshTranslation:
    inputs = {Input(name) for name in changed if name in Input.__members__.values()}
    return MeshTranslation(config, registry, previous=previous, changed=inputs)


async def setup(runtime: ServiceRuntime[TranslatorSettings]) -> None:
    """Serve the config API; translate (while this replica leads) into etcd snapshots."""
    settings = runtime.settings
    store = await open_store(settings.store_url)
    runtime.on_shutdown(store.close, name="store")
    repository = ConfigRepository(store, history_limit=settings.history_limit)
    servicer = ConfigService(ConfigApi(repository))
    runtime.grpc.add_service(
        CONFIG_SERVICE,
        functools.partial(config_pb2_grpc.add_ConfigServiceServicer_to_server, servicer),
    )
    if not settings.translate:
        return
    metrics = PipelineMetrics.create(runtime.registry)
    replica = settings.replica_id or f"{socket.gethostname()}-{os.getpid()}"

    def build_config(resources: Sequence[Resource]) -> MeshConfig:
        return MeshConfig.from_resources(resources, root_namespace=settings.root_namespace)

    async def translate() -> None:
        pipeline = TranslationPipeline(
            store, repository, build_config=build_config, new_translation=_new_translation,
            metrics=metrics, quiet=settings.debounce_quiet_seconds,
            max_delay=settings.debounce_max_seconds,
            idle=settings.debounce_idle_seconds or None,
            collect_interval=settings.collect_interval_seconds,
            collect_grace=settings.collect_grace_seconds,
            class_grace=settings.class_grace_seconds,
        )  # fmt: skip
        await pipeline.run()

    runtime.spawn(
        run_while_leader(store, ELECTION, replica, translate,
                         ttl=settings.election_ttl_seconds),
        name="translation",
    )  # fmt: skip


def main() -> None:
    """The ``mizzen-translator`` console script."""
    sys.exit(service_main(TranslatorSettings, setup))
