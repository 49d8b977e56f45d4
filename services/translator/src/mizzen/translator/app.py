"""Builds the translator's dependencies and runs it."""

from __future__ import annotations

import functools
import sys

from mizzen.configstore import ConfigRepository
from mizzen.protos.config.v1 import config_pb2_grpc
from mizzen.runtime import ServiceRuntime, service_main
from mizzen.store import open_store
from mizzen.translator.api.config_service import ConfigService
from mizzen.translator.config import TranslatorSettings
from mizzen.translator.domain.config_api import ConfigApi

CONFIG_SERVICE = "mizzen.config.v1.ConfigService"


async def setup(runtime: ServiceRuntime[TranslatorSettings]) -> None:
    """Open the store and serve the config API on the runtime's gRPC server."""
    settings = runtime.settings
    store = await open_store(settings.store_url)
    runtime.on_shutdown(store.close, name="store")
    repository = ConfigRepository(store, history_limit=settings.history_limit)
    servicer = ConfigService(ConfigApi(repository))
    runtime.grpc.add_service(
        CONFIG_SERVICE,
        functools.partial(config_pb2_grpc.add_ConfigServiceServicer_to_server, servicer),
    )


def main() -> None:
    """The ``mizzen-translator`` console script."""
    sys.exit(service_main(TranslatorSettings, setup))
