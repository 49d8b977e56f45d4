"""Settings: defaults < environment < flags, typed parsing, errors naming the source."""

from __future__ import annotations

import dataclasses
import enum
from pathlib import Path
from typing import Annotated

import pytest

from mizzen.runtime import LogFormat, LogLevel, ServiceSettings, Setting, SettingsError
from mizzen.runtime.settings import build_parser, load_settings


class Mode(enum.Enum):
    FAST = "fast"
    SAFE = "safe"


@dataclasses.dataclass(frozen=True, kw_only=True)
class DemoSettings(ServiceSettings):
    service_name: str = "demo-svc"
    debounce_seconds: Annotated[float, Setting("Quiet time before a push.", minimum=0)] = 0.1
    data_dir: Annotated[Path, Setting("Where data lives.")] = Path("/var/lib/demo")
    endpoints: Annotated[tuple[str, ...], Setting("etcd endpoints.", shared=True)] = (
        "127.0.0.1:2379",
    )
    weights: Annotated[tuple[int, ...], Setting("Weights.")] = ()
    mode: Annotated[Mode, Setting("Mode of operation.")] = Mode.SAFE
    verbose: Annotated[bool, Setting("Say more.")] = False
    token: Annotated[str | None, Setting("Optional token.")] = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class RequiredSettings(ServiceSettings):
    service_name: str = "req"
    cluster_id: Annotated[str, Setting("Cluster this runs in.")]


def load(argv: list[str] | None = None, environ: dict[str, str] | None = None) -> DemoSettings:
    return load_settings(DemoSettings, argv=argv or [], environ=environ or {})


def test_defaults_when_nothing_is_set() -> None:
    settings = load()
    assert settings == DemoSettings()
    assert settings.service_name == "demo-svc"
    assert settings.log_level is LogLevel.INFO
    assert settings.log_format is LogFormat.AUTO
    assert settings.shutdown_grace_seconds == 10.0
    assert settings.otlp_endpoint is None


def test_environment_overrides_defaults_and_flags_override_environment() -> None:
    environ = {"MIZZEN_DEMO_SVC_GRPC_PORT": "7000", "MIZZEN_DEMO_SVC_DEBOUNCE_SECONDS": "0.5"}
    from_env = load(environ=environ)
    assert from_env.grpc_port == 7000
    assert from_env.debounce_seconds == 0.5

    from_flags = load(["--grpc-port", "7001"], environ)
    assert from_flags.grpc_port == 7001
    assert from_flags.debounce_seconds == 0.5


def test_shared_variable_applies_and_service_variable_beats_it() -> None:
    assert load(environ={"MIZZEN_LOG_LEVEL": "debug"}).log_level is LogLevel.DEBUG
    both = {"MIZZEN_LOG_LEVEL": "debug", "MIZZEN_DEMO_SVC_LOG_LEVEL": "error"}
    assert load(environ=both).log_level is LogLevel.ERROR
    assert load(["--log-level", "warning"], both).log_level is LogLevel.WARNING


def test_unshared_fields_ignore_the_shared_name() -> None:
    assert load(environ={"MIZZEN_GRPC_PORT": "7000"}).grpc_port == 0


def test_every_supported_type_parses() -> None:
    settings = load(
        [
            "--data-dir",
            "/tmp/demo",
            "--endpoints",
            "a:1, b:2,,",
            "--weights",
            "3,4",
            "--mode",
            "FAST",
            "--verbose",
            "--token",
            "s3cret",
            "--log-format",
            "json",
            "--shutdown-grace-seconds",
            "2.5",
        ]
    )
    assert settings.data_dir == Path("/tmp/demo")
    assert settings.endpoints == ("a:1", "b:2")
    assert settings.weights == (3, 4)
    assert settings.mode is Mode.FAST
    assert settings.verbose is True
    assert settings.token == "s3cret"
    assert settings.log_format is LogFormat.JSON
    assert settings.shutdown_grace_seconds == 2.5


def test_booleans_from_environment_and_negative_flag() -> None:
    assert load(environ={"MIZZEN_DEMO_SVC_VERBOSE": "yes"}).verbose is True
    assert load(["--no-verbose"], {"MIZZEN_DEMO_SVC_VERBOSE": "on"}).verbose is False


def test_empty_value_means_none_for_optional_fields() -> None:
    environ = {"MIZZEN_OTLP_ENDPOINT": "http://otel:4317", "MIZZEN_DEMO_SVC_OTLP_ENDPOINT": ""}
    assert load(environ={"MIZZEN_OTLP_ENDPOINT": "http://otel:4317"}).otlp_endpoint == (
        "http://otel:4317"
    )
    assert load(environ=environ).otlp_endpoint is None


def test_bad_environment_value_names_the_variable_and_type() -> None:
    with pytest.raises(SettingsError) as caught:
        load(environ={"MIZZEN_DEMO_SVC_GRPC_PORT": "abc"})
    assert caught.value.source == "MIZZEN_DEMO_SVC_GRPC_PORT"
    assert caught.value.value == "abc"
    assert "MIZZEN_DEMO_SVC_GRPC_PORT" in str(caught.value)
    assert "an integer" in str(caught.value)


def test_bad_flag_value_names_the_flag_and_type() -> None:
    with pytest.raises(SettingsError, match=r"--debounce-seconds='soon'.*a finite number"):
        load(["--debounce-seconds", "soon"])
    with pytest.raises(SettingsError, match=r"--mode='turbo'.*one of: fast, safe"):
        load(["--mode", "turbo"])
    with pytest.raises(SettingsError, match=r"MIZZEN_DEMO_SVC_VERBOSE='maybe'.*a boolean"):
        load(environ={"MIZZEN_DEMO_SVC_VERBOSE": "maybe"})
    with pytest.raises(SettingsError, match=r"--weights='1,x'.*comma-separated list of an integer"):
        load(["--weights", "1,x"])


def test_out_of_range_values_are_rejected_with_the_range() -> None:
    with pytest.raises(SettingsError, match=r"--grpc-port='70000'.*between 0 and 65535"):
        load(["--grpc-port", "70000"])
    with pytest.raises(SettingsError, match=r"MIZZEN_SHUTDOWN_GRACE_SECONDS='-1'"):
        load(environ={"MIZZEN_SHUTDOWN_GRACE_SECONDS": "-1"})


def test_unknown_flag_is_a_settings_error() -> None:
    with pytest.raises(SettingsError, match="unrecognized arguments: --grpc-prot"):
        load(["--grpc-prot", "1"])


def test_required_field_must_be_given() -> None:
    with pytest.raises(SettingsError, match="--cluster-id or MIZZEN_REQ_CLUSTER_ID"):
        load_settings(RequiredSettings, argv=[], environ={})
    loaded = load_settings(RequiredSettings, argv=[], environ={"MIZZEN_REQ_CLUSTER_ID": "east"})
    assert loaded.cluster_id == "east"


def test_explicit_service_prefix() -> None:
    loaded = load_settings(
        DemoSettings, argv=[], environ={"MIZZEN_OTHER_GRPC_PORT": "9"}, service="other"
    )
    assert loaded.grpc_port == 9


def test_help_lists_flags_with_help_text_env_names_and_defaults() -> None:
    text = build_parser(DemoSettings, prog="demo").format_help()
    assert "--grpc-port GRPC_PORT" in text
    assert "--verbose, --no-verbose" in text
    # service_name is redeclared without Annotated: the base class's help remains.
    assert "Name this service reports in logs" in text
    assert "MIZZEN_DEMO_SVC_LOG_LEVEL or MIZZEN_LOG_LEVEL" in text
    assert "default 127.0.0.1:2379" in text


def test_settings_are_frozen() -> None:
    settings = load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.grpc_port = 1  # type: ignore[misc]  # the point: assignment must fail


def test_unsupported_field_type_is_a_programming_error() -> None:
    @dataclasses.dataclass(frozen=True, kw_only=True)
    class Bad(ServiceSettings):
        limits: dict[str, int] = dataclasses.field(default_factory=dict)

    with pytest.raises(TypeError, match="limits"):
        load_settings(Bad, argv=[], environ={})
