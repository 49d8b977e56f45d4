"""What every Mizzen service shares: settings, logging, metrics, tracing, gRPC, lifecycle.

A service declares its settings (:class:`ServiceSettings` subclass), writes an
``async def setup(runtime)`` that registers its gRPC services and cleanups,
and runs ``sys.exit(service_main(MySettings, setup))``. See
:mod:`mizzen.runtime.service` for the lifecycle and shutdown sequence.
"""

from mizzen.runtime.backoff import Backoff, backoff_delay
from mizzen.runtime.errors import (
    BindError,
    LifecycleError,
    MizzenRuntimeError,
    SettingsError,
    TracingError,
)
from mizzen.runtime.grpc_client import create_channel
from mizzen.runtime.grpc_server import GrpcServer
from mizzen.runtime.health import HealthServicer
from mizzen.runtime.heap import HeapSettler
from mizzen.runtime.logging import bound_log_context, configure_logging, reset_logging
from mizzen.runtime.metrics import MetricsServer, create_registry
from mizzen.runtime.service import (
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    ServiceRuntime,
    install_signal_handlers,
    run_service,
    service_main,
)
from mizzen.runtime.settings import (
    LogFormat,
    LogLevel,
    ServiceSettings,
    Setting,
    load_settings,
)
from mizzen.runtime.tracing import Tracing

__all__ = [
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "Backoff",
    "BindError",
    "GrpcServer",
    "HealthServicer",
    "HeapSettler",
    "LifecycleError",
    "LogFormat",
    "LogLevel",
    "MetricsServer",
    "MizzenRuntimeError",
    "ServiceRuntime",
    "ServiceSettings",
    "Setting",
    "SettingsError",
    "Tracing",
    "TracingError",
    "backoff_delay",
    "bound_log_context",
    "configure_logging",
    "create_channel",
    "create_registry",
    "install_signal_handlers",
    "load_settings",
    "reset_logging",
    "run_service",
    "service_main",
]
