"""The ConfigService over gRPC, served by a real translator process on a real etcd."""

from __future__ import annotations

import asyncio
import json

import grpc
import pytest
from google.rpc import status_pb2
from grpc import aio

from mizzen.launcher import EtcdProcess, ServiceProcess
from mizzen.protos.config.v1 import config_pb2 as pb
from mizzen.protos.config.v1 import config_pb2_grpc

Stub = config_pb2_grpc.ConfigServiceStub


def vs(name: str, *, subset: str = "v1", weight: int = 100, version: str = "") -> str:
    rv = f"\n  resourceVersion: '{version}'" if version else ""
    return (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n"
        f"metadata:\n  name: {name}{rv}\n"
        f"spec:\n  hosts: [{name}]\n  http:\n  - route:\n"
        f"    - destination: {{host: {name}, subset: {subset}}}\n      weight: {weight}\n"
    )


def field_errors(error: aio.AioRpcError) -> list[pb.FieldError]:
    for key, value in error.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            found = pb.FieldErrors()
            assert status.details[0].Unpack(found)
            return list(found.errors)
    return []


async def test_ten_documents_with_one_invalid_store_none(config_client: Stub) -> None:
    documents = [vs(f"svc{i}") for i in range(10)]
    documents[6] = vs("svc6", weight=-5)
    request = pb.ApplyRequest(
        files=[pb.SourceFile(name="bundle.yaml", content="---\n".join(documents))],
        applied_by="test",
    )
    with pytest.raises(aio.AioRpcError) as info:
        await config_client.Apply(request)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    errors = field_errors(info.value)
    assert [(e.source, e.document_index, e.name, e.path) for e in errors] == [
        ("bundle.yaml", 6, "svc6", "spec.http[0].route[0].weight")
    ]
    listing = await config_client.List(pb.ListRequest(kind="vs"))
    assert list(listing.resources) == []

    documents[6] = vs("svc6")
    request.files[0].content = "---\n".join(documents)
    applied = await config_client.Apply(request)
    assert len(applied.results) == 10
    assert {r.change for r in applied.results} == {pb.CHANGE_TYPE_CREATED}
    assert {r.resource.namespace for r in applied.results} == {"default"}


async def test_concurrent_writers_one_success_one_conflict(config_client: Stub) -> None:
    created = await config_client.Apply(
        pb.ApplyRequest(files=[pb.SourceFile(name="a.yaml", content=vs("reviews"))])
    )
    version = created.results[0].resource.resource_version

    async def write(subset: str) -> grpc.StatusCode:
        content = vs("reviews", subset=subset, version=version)
        try:
            await config_client.Apply(
                pb.ApplyRequest(files=[pb.SourceFile(name="a.yaml", content=content)])
            )
        except aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(write("v2"), write("v3"))
    assert sorted(c.name for c in codes) == ["ABORTED", "OK"]


async def test_history_and_rollback_round_trip(config_client: Stub) -> None:
    key = pb.ResourceKey(kind="VirtualService", namespace="default", name="reviews")
    first = await config_client.Apply(
        pb.ApplyRequest(files=[pb.SourceFile(name="a.yaml", content=vs("reviews"))], applied_by="a")
    )
    await config_client.Apply(pb.ApplyRequest(
        files=[pb.SourceFile(name="a.yaml", content=vs("reviews", subset="v2"))],
        applied_by="bob"))  # fmt: skip
    history = await config_client.History(pb.HistoryRequest(key=key))
    assert [e.applied_by for e in history.entries] == ["bob", "a"]
    rolled = await config_client.Rollback(
        pb.RollbackRequest(key=key, to_revision=first.revision, applied_by="carol")
    )
    spec = json.loads(rolled.resource.document)["spec"]
    assert spec["http"][0]["route"][0]["destination"]["subset"] == "v1"
    current = await config_client.Get(pb.GetRequest(key=key))
    assert current.generation == 3

    with pytest.raises(aio.AioRpcError) as info:
        await config_client.Get(pb.GetRequest(key=pb.ResourceKey(kind="vs", name="nope")))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(aio.AioRpcError) as info:
        await config_client.List(pb.ListRequest(kind="virtualservicez"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "unknown kind" in (info.value.details() or "")


async def test_data_survives_restarts_of_translator_and_etcd(
    translator: ServiceProcess, etcd: EtcdProcess
) -> None:
    async with aio.insecure_channel(translator.grpc_target) as channel:
        applied = await Stub(channel).Apply(
            pb.ApplyRequest(files=[pb.SourceFile(name="a.yaml", content=vs("reviews"))])
        )
    await translator.kill()
    await etcd.kill()
    await etcd.start()
    await translator.start()
    async with aio.insecure_channel(translator.grpc_target) as channel:
        key = pb.ResourceKey(kind="vs", namespace="default", name="reviews")
        current = await Stub(channel).Get(pb.GetRequest(key=key))
    assert current == applied.results[0].resource


async def test_watch_streams_listing_then_changes(config_client: Stub) -> None:
    await config_client.Apply(pb.ApplyRequest(files=[pb.SourceFile(name="a", content=vs("a"))]))
    stream = config_client.Watch(pb.WatchRequest(kind="vs"))
    first = await stream.read()
    synced = await stream.read()
    assert (first.type, first.resource.name) == (pb.WatchEvent.TYPE_ADDED, "a")
    assert synced.type == pb.WatchEvent.TYPE_SYNCED
    await config_client.Apply(pb.ApplyRequest(files=[pb.SourceFile(name="b", content=vs("b"))]))
    change = await asyncio.wait_for(stream.read(), 10)
    assert (change.type, change.resource.name) == (pb.WatchEvent.TYPE_ADDED, "b")
    stream.cancel()


async def test_validate_reports_without_storing(config_client: Stub) -> None:
    response = await config_client.Validate(
        pb.ValidateRequest(files=[pb.SourceFile(name="x.yaml", content=vs("a", weight=-1))])
    )
    assert [e.path for e in response.errors] == ["spec.http[0].route[0].weight"]
    assert list((await config_client.List(pb.ListRequest())).resources) == []
