"""Subjects, the NATS subject algebra, codecs and URLs: pure logic, no I/O."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from google.protobuf.wrappers_pb2 import Int64Value, StringValue

from mizzen.bus import (
    BusUrlError,
    BytesCodec,
    DecodeError,
    EncodeError,
    Endpoint,
    JsonCodec,
    ProtobufCodec,
    StreamConfig,
    Subject,
    SubjectError,
    codec_for,
    open_bus,
)
from mizzen.bus.factory import parse_nats_servers
from mizzen.bus.subject import subject_is_subset, subject_matches, subjects_overlap

SNAPSHOT = Subject("mizzen.xds.class.{xds_class}.snapshot", StringValue)


@dataclass(frozen=True)
class Ping:
    name: str
    count: int
    tags: list[str]


def test_a_subject_binds_its_tokens_into_a_publish_subject() -> None:
    bound = SNAPSHOT.bind(xds_class="c1")
    assert bound.publish_subject() == "mizzen.xds.class.c1.snapshot"
    assert bound.is_concrete
    assert bound.bound == {"xds_class": "c1"}
    # Binding returns a new subject; the declared one stays a pattern.
    assert not SNAPSHOT.is_concrete
    assert SNAPSHOT.placeholders == ("xds_class",)


def test_unbound_tokens_subscribe_as_single_token_wildcards() -> None:
    assert SNAPSHOT.filter_subject() == "mizzen.xds.class.*.snapshot"
    two = Subject("a.{x}.b.{y}", StringValue)
    assert two.bind(y="9").filter_subject() == "a.*.b.9"


def test_parse_extracts_token_values_from_a_concrete_subject() -> None:
    assert SNAPSHOT.parse("mizzen.xds.class.c-7.snapshot") == {"xds_class": "c-7"}
    with pytest.raises(SubjectError):
        SNAPSHOT.parse("mizzen.xds.class.c1.other")


def test_publishing_needs_every_token_bound_and_no_wildcards() -> None:
    with pytest.raises(SubjectError, match="bind xds_class"):
        SNAPSHOT.publish_subject()
    with pytest.raises(SubjectError, match="wildcards"):
        Subject("mizzen.>", StringValue).publish_subject()


@pytest.mark.parametrize("value", ["", "a.b", "*", ">", "a b", "x\n"])
def test_token_values_that_would_change_the_subject_are_refused(value: str) -> None:
    with pytest.raises(SubjectError):
        SNAPSHOT.bind(xds_class=value)


def test_binding_an_unknown_token_is_refused() -> None:
    with pytest.raises(SubjectError, match="no token"):
        SNAPSHOT.bind(cluster="x")


@pytest.mark.parametrize(
    "pattern", ["", "a..b", "a.>.b", "a.b*", "a.{x}y", "a.{x}.{x}", "a. b", ".a", "a."]
)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(SubjectError):
        Subject(pattern, StringValue)


@pytest.mark.parametrize(
    ("filter_subject", "subject", "expected"),
    [
        ("a.b", "a.b", True),
        ("a.b", "a.c", False),
        ("a.*", "a.b", True),
        ("a.*", "a.b.c", False),
        ("a.*", "a", False),
        ("a.>", "a.b", True),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        (">", "a", True),
        ("*", "a.b", False),
        ("*.b.>", "x.b.c", True),
        ("*.b.>", "x.c.c", False),
    ],
)
def test_matching_follows_nats_wildcard_semantics(
    filter_subject: str, subject: str, expected: bool
) -> None:
    assert subject_matches(filter_subject, subject) is expected


@pytest.mark.parametrize(
    ("inner", "outer", "expected"),
    [
        ("a.b", "a.>", True),
        ("a.*", "a.>", True),
        ("a.>", "a.>", True),
        ("a.>", "a.*", False),
        ("a.*", "a.b", False),
        ("a.b.c", "a.*.c", True),
        ("a", "a.>", False),
    ],
)
def test_subset_of_filters(inner: str, outer: str, expected: bool) -> None:
    assert subject_is_subset(inner, outer) is expected


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("a.>", "a.b", True),
        ("a.*", "*.b", True),
        ("a.b", "a.c", False),
        ("a.>", "a", False),
        ("a.*", "a.b.c", False),
        (">", "x.y", True),
    ],
)
def test_overlap_of_filters(first: str, second: str, expected: bool) -> None:
    assert subjects_overlap(first, second) is expected
    assert subjects_overlap(second, first) is expected


def test_protobuf_codec_round_trips_and_rejects_bad_bytes() -> None:
    codec = codec_for(StringValue)
    assert isinstance(codec, ProtobufCodec)
    assert codec.decode(codec.encode(StringValue(value="x"))).value == "x"
    with pytest.raises(DecodeError, match=r"google\.protobuf\.StringValue"):
        codec.decode(b"\x0a\x05ab")  # field 1 claims 5 bytes, 2 follow
    with pytest.raises(EncodeError):
        codec.encode(Int64Value(value=1))


def test_json_codec_round_trips_a_dataclass_and_rejects_misfits() -> None:
    codec = codec_for(Ping)
    assert isinstance(codec, JsonCodec)
    ping = Ping("p", 3, ["a"])
    assert codec.encode(ping) == b'{"name":"p","count":3,"tags":["a"]}'
    assert codec.decode(codec.encode(ping)) == ping
    for bad in (b"not json", b"[1]", b'{"name":"p"}', b'{"name":"p","count":1,"tags":[],"x":1}'):
        with pytest.raises(DecodeError):
            codec.decode(bad)
    with pytest.raises(EncodeError):
        codec.encode("p")


def test_bytes_codec_and_unsupported_types() -> None:
    assert isinstance(codec_for(bytes), BytesCodec)
    assert codec_for(bytes).decode(b"\x00") == b"\x00"
    with pytest.raises(TypeError):
        codec_for(int)


def test_an_endpoint_carries_both_codecs_through_bind() -> None:
    endpoint = Endpoint("mizzen.t.{x}.get", StringValue, Int64Value)
    bound = endpoint.bind(x="1")
    assert isinstance(bound, Endpoint)
    assert bound.response_codec.type_name == "google.protobuf.Int64Value"
    assert bound.publish_subject() == "mizzen.t.1.get"


def test_stream_config_is_validated() -> None:
    with pytest.raises(SubjectError):
        StreamConfig("bad.name", ("a.>",))
    with pytest.raises(SubjectError):
        StreamConfig("OK", ())
    with pytest.raises(SubjectError):
        StreamConfig("OK", ("a..b",))
    with pytest.raises(ValueError, match="max_age"):
        StreamConfig("OK", ("a.>",), max_age=0)


def test_nats_urls_split_into_servers() -> None:
    assert parse_nats_servers("nats://a:1,b:2") == ["nats://a:1", "nats://b:2"]
    for bad in ("nats://a:1,", "http://a:1", "nats://"):
        with pytest.raises(BusUrlError):
            parse_nats_servers(bad)


@pytest.mark.parametrize("url", ["localhost:4222", "redis://x", "memory://a/b"])
async def test_open_bus_refuses_malformed_urls(url: str) -> None:
    with pytest.raises(BusUrlError):
        await open_bus(url)
