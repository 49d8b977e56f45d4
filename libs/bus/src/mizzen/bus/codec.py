"""Codecs: how a subject's payload type becomes bytes and back.

Protobuf messages (any ``google.protobuf.message.Message`` subclass) are the normal payload;
flat dataclasses of JSON values travel as JSON; ``bytes`` travel as they are.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar, cast

from google.protobuf import message as pb_message

from mizzen.bus.errors import DecodeError, EncodeError

__all__ = ["BytesCodec", "Codec", "JsonCodec", "ProtobufCodec", "codec_for"]

T = TypeVar("T")
M = TypeVar("M", bound=pb_message.Message)


class Codec(ABC, Generic[T]):
    """Converts one payload type to bytes and back. Implementations are stateless and
    async-safe; ``type_name`` names the payload type in errors and logs."""

    type_name: str

    @abstractmethod
    def encode(self, value: T) -> bytes:
        """Return the wire form of ``value``; raise :class:`EncodeError` if it does not fit."""

    @abstractmethod
    def decode(self, data: bytes) -> T:
        """Return the value ``data`` encodes; raise :class:`DecodeError` if it does not."""


class ProtobufCodec(Codec[M]):
    """Protobuf binary encoding of one message class. Decoding rejects malformed bytes
    (truncated fields, invalid UTF-8 in strings); unknown fields are kept, as protobuf does."""

    def __init__(self, message_type: type[M]) -> None:
        self.message_type = message_type
        self.type_name = message_type.DESCRIPTOR.full_name

    def encode(self, value: M) -> bytes:
        """Serialize ``value``, which must be an instance of the codec's message class."""
        if not isinstance(value, self.message_type):
            raise EncodeError(
                f"expected a {self.type_name} message, got {type(value).__name__}",
                payload_type=self.type_name,
            )
        return value.SerializeToString()

    def decode(self, data: bytes) -> M:
        """Parse ``data`` as the codec's message class."""
        try:
            return self.message_type.FromString(data)
        except (pb_message.DecodeError, ValueError) as exc:
            raise DecodeError(
                f"payload is not a valid {self.type_name}: {exc}", payload_type=self.type_name
            ) from exc


class JsonCodec(Codec[T]):
    """JSON encoding of a flat dataclass: its fields are written with ``dataclasses.asdict``
    and read back as keyword arguments. Field values must be JSON values (str, int, float,
    bool, None, lists and dicts of those); their types are not checked on decode, and nested
    dataclasses come back as dicts. Unknown or missing fields fail decoding."""

    def __init__(self, dataclass_type: type[T]) -> None:
        if not (isinstance(dataclass_type, type) and dataclasses.is_dataclass(dataclass_type)):
            raise TypeError(f"JsonCodec needs a dataclass type, got {dataclass_type!r}")
        self.dataclass_type = dataclass_type
        self.type_name = dataclass_type.__qualname__

    def encode(self, value: T) -> bytes:
        """Write ``value`` (an instance of the codec's dataclass) as compact UTF-8 JSON."""
        if not isinstance(value, self.dataclass_type):
            raise EncodeError(
                f"expected a {self.type_name}, got {type(value).__name__}",
                payload_type=self.type_name,
            )
        try:
            fields = dataclasses.asdict(cast(Any, value))
            return json.dumps(fields, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise EncodeError(
                f"{self.type_name} is not JSON-serializable: {exc}", payload_type=self.type_name
            ) from exc

    def decode(self, data: bytes) -> T:
        """Read a JSON object and build the dataclass from its members."""
        try:
            fields = json.loads(data)
        except (UnicodeDecodeError, ValueError) as exc:
            raise DecodeError(f"payload is not JSON: {exc}", payload_type=self.type_name) from exc
        if not isinstance(fields, dict):
            raise DecodeError(
                f"payload is JSON {type(fields).__name__}, not an object",
                payload_type=self.type_name,
            )
        try:
            return self.dataclass_type(**fields)
        except TypeError as exc:
            raise DecodeError(
                f"payload does not fit {self.type_name}: {exc}", payload_type=self.type_name
            ) from exc


class BytesCodec(Codec[bytes]):
    """The identity codec: the payload is the bytes themselves."""

    type_name = "bytes"

    def encode(self, value: bytes) -> bytes:
        """Return ``value`` unchanged (it must be ``bytes``)."""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise EncodeError(
                f"expected bytes, got {type(value).__name__}", payload_type=self.type_name
            )
        return bytes(value)

    def decode(self, data: bytes) -> bytes:
        """Return ``data`` unchanged."""
        return data


def codec_for(payload_type: type[T]) -> Codec[T]:
    """Pick the codec for a payload type: a protobuf message class → :class:`ProtobufCodec`,
    a dataclass → :class:`JsonCodec`, ``bytes`` → :class:`BytesCodec`. Anything else is a
    ``TypeError`` (pass an explicit :class:`Codec` instead)."""
    if isinstance(payload_type, type) and issubclass(payload_type, pb_message.Message):
        return cast(Codec[T], ProtobufCodec(payload_type))
    if payload_type is bytes:
        return cast(Codec[T], BytesCodec())
    if isinstance(payload_type, type) and dataclasses.is_dataclass(payload_type):
        return JsonCodec(payload_type)
    raise TypeError(
        f"no codec for {payload_type!r}: use a protobuf message class, a dataclass, bytes, "
        "or pass a Codec"
    )
