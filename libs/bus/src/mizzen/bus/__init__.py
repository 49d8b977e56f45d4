"""The message bus: typed events over NATS, with an in-memory twin behind the same contract.

Declare subjects once, bound to their payload type (protobuf messages, flat dataclasses as
JSON, or bytes)::

    SNAPSHOT = Subject("mizzen.xds.class.{xds_class}.snapshot", SnapshotEvent)
    GET_CLASS = Endpoint("mizzen.translator.class.{xds_class}.get", GetClass, ClassInfo)

    bus = await open_bus("nats://127.0.0.1:4222")        # or "memory://"
    await bus.publish(SNAPSHOT.bind(xds_class="c1"), SnapshotEvent(revision=7))
    async for message in await bus.subscribe(SNAPSHOT):  # every class: "...class.*.snapshot"
        message.tokens["xds_class"], message.data.revision
    await bus.serve(GET_CLASS, handle, queue="translator")
    info = await bus.request(GET_CLASS.bind(xds_class="c1"), GetClass(), timeout=1.0)

Where a message must not be lost, use a durable stream (JetStream)::

    stream = await bus.durable_stream(StreamConfig("MIZZEN_JOBS", ("mizzen.jobs.>",)))
    await stream.publish(JOB.bind(kind="build"), job, msg_id=job.id)
    async for delivery in await stream.consume("builder", JOB):
        ...; await delivery.ack()

The contract is :class:`Bus` (core messages), :class:`DurableStream` and :class:`Consumer`
(streams); errors are drawn in :mod:`mizzen.bus.errors`.
"""

from mizzen.bus.bus import ERROR_HEADER, Bus, ConnectionEvent, ConnectionListener
from mizzen.bus.codec import BytesCodec, Codec, JsonCodec, ProtobufCodec, codec_for
from mizzen.bus.errors import (
    AckError,
    BusClosed,
    BusError,
    BusUnavailable,
    BusUrlError,
    DecodeError,
    EncodeError,
    NoResponders,
    NoStream,
    PayloadError,
    PayloadTooLarge,
    RequestError,
    RequestTimeout,
    ResponderError,
    StreamError,
    SubjectError,
)
from mizzen.bus.factory import open_bus
from mizzen.bus.memory_bus import MemoryBroker, MemoryBus
from mizzen.bus.nats_bus import NatsBus
from mizzen.bus.stream import (
    Consumer,
    ConsumerConfig,
    Delivery,
    DurableStream,
    PublishAck,
    Retention,
    Storage,
    StreamConfig,
    StreamInfo,
)
from mizzen.bus.subject import Endpoint, Subject
from mizzen.bus.subscription import Handler, Message, Subscription

__all__ = [
    "ERROR_HEADER",
    "AckError",
    "Bus",
    "BusClosed",
    "BusError",
    "BusUnavailable",
    "BusUrlError",
    "BytesCodec",
    "Codec",
    "ConnectionEvent",
    "ConnectionListener",
    "Consumer",
    "ConsumerConfig",
    "DecodeError",
    "Delivery",
    "DurableStream",
    "EncodeError",
    "Endpoint",
    "Handler",
    "JsonCodec",
    "MemoryBroker",
    "MemoryBus",
    "Message",
    "NatsBus",
    "NoResponders",
    "NoStream",
    "PayloadError",
    "PayloadTooLarge",
    "ProtobufCodec",
    "PublishAck",
    "RequestError",
    "RequestTimeout",
    "ResponderError",
    "Retention",
    "Storage",
    "StreamConfig",
    "StreamError",
    "StreamInfo",
    "Subject",
    "SubjectError",
    "Subscription",
    "codec_for",
    "open_bus",
]
