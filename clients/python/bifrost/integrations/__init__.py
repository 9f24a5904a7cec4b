"""The integrations module: integration configuration, mappings and OAuth tokens.

    from bifrost import integrations
    msft = await integrations.get("Microsoft_Graph")

Every call takes a keyword-only timeout in seconds (default: configure's
timeout, else BIFROST_TIMEOUT, else none); when it runs out the call raises
bifrost.DeadlineExceededError, which is also a TimeoutError.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import grpc
from google.protobuf import struct_pb2

from bifrost import _channel
from bifrost._context import current_org_id
from bifrost._errors import DeadlineExceededError, InvalidArgumentError, translate
from bifrost.integrations._types import (
    ConnectionStatus,
    Event,
    IntegrationData,
    IntegrationMappingResponse,
    OAuthCredentials,
    event,
    integration_data,
    mapping,
)
from bifrost.integrations.v1 import integrations_pb2 as pb
from bifrost.integrations.v1 import integrations_pb2_grpc as pb_grpc

__all__ = [
    "ConnectionStatus",
    "Event",
    "IntegrationData",
    "IntegrationMappingResponse",
    "OAuthCredentials",
    "delete_mapping",
    "get",
    "get_mapping",
    "list_mappings",
    "upsert_mapping",
    "watch",
]


def _org(org_id: str | None) -> str:
    return org_id or current_org_id() or ""


class _Caller:
    """Calls for one SDK call: the settings in force when it started, and one
    deadline over all the RPCs it makes."""

    def __init__(self, timeout: float | None):
        self.settings = _channel.settings()
        if timeout is None:
            timeout = self.settings.timeout
        if timeout is not None and timeout <= 0:
            raise InvalidArgumentError(grpc.StatusCode.INVALID_ARGUMENT, "timeout must be positive")
        self.stub = pb_grpc.IntegrationsServiceStub(_channel.channel(self.settings))
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._deadline = loop.time() + timeout if timeout is not None else None

    def _remaining(self) -> float | None:
        if self._deadline is None:
            return None
        left = self._deadline - self._loop.time()
        if left <= 0:
            raise DeadlineExceededError(grpc.StatusCode.DEADLINE_EXCEEDED, "timeout ran out")
        return left

    async def __call__(self, method: str, request, *, none_if_not_found: bool = True):
        """Calls method; NOT_FOUND becomes None where the SDK page says so,
        other failures become exceptions."""
        try:
            return await getattr(self.stub, method)(
                request, metadata=_channel.metadata(self.settings), timeout=self._remaining())
        except grpc.aio.AioRpcError as err:
            if none_if_not_found and err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise translate(err) from None


async def get(
    name: str,
    org_id: str | None = None,
    scope: str | None = None,
    *,
    timeout: float | None = None,
) -> IntegrationData | None:
    """Get integration configuration with OAuth tokens, or None if not found.

    oauth is None when the integration has no OAuth connection, and falsy
    (status NOT_CONNECTED, access_token None) when it has one but no usable
    token for this organization: see OAuthCredentials."""
    call = _Caller(timeout)
    resp = await call("GetIntegration", pb.GetIntegrationRequest(name=name, org_id=_org(org_id), scope=scope or ""))
    return integration_data(resp.integration) if resp is not None else None


async def list_mappings(
    name: str,
    *,
    timeout: float | None = None,
) -> list[IntegrationMappingResponse] | None:
    """List all organization mappings for an integration (None if it does not
    exist). A key bound to one organization sees that organization's only.
    timeout covers all the pages."""
    call = _Caller(timeout)
    out: list[IntegrationMappingResponse] = []
    token = ""
    while True:
        resp = await call("ListMappings", pb.ListMappingsRequest(name=name, page_token=token))
        if resp is None:
            return None
        out.extend(mapping(m) for m in resp.mappings)
        token = resp.next_page_token
        if not token:
            return out


async def get_mapping(
    name: str,
    org_id: str | None = None,
    entity_id: str | None = None,
    *,
    timeout: float | None = None,
) -> IntegrationMappingResponse | None:
    """Get a specific organization mapping for an integration, or None."""
    call = _Caller(timeout)
    resp = await call("GetMapping", pb.GetMappingRequest(name=name, org_id=_org(org_id), entity_id=entity_id or ""))
    return mapping(resp.mapping) if resp is not None else None


async def upsert_mapping(
    name: str,
    org_id: str,
    entity_id: str,
    entity_name: str | None = None,
    config: dict | None = None,
    *,
    timeout: float | None = None,
) -> IntegrationMappingResponse:
    """Create or update an organization mapping for an integration. config keys
    set to None are removed from the organization's overrides."""
    cfg = struct_pb2.Struct()
    if config:
        cfg.update(config)
    call = _Caller(timeout)
    resp = await call(
        "UpsertMapping",
        pb.UpsertMappingRequest(name=name, org_id=_org(org_id), entity_id=entity_id or "", entity_name=entity_name or "", config=cfg),
        none_if_not_found=False,
    )
    return mapping(resp.mapping)


async def delete_mapping(
    name: str,
    org_id: str,
    *,
    timeout: float | None = None,
) -> bool:
    """Delete an organization mapping for an integration; False if there was none."""
    call = _Caller(timeout)
    resp = await call("DeleteMapping", pb.DeleteMappingRequest(name=name, org_id=_org(org_id)), none_if_not_found=False)
    return resp.deleted


# A broken watch is opened again for these: the service or the way to it
# failed, not the request.
_WATCH_RETRY = {
    grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
}


async def watch(
    types: list[str] | None = None,
    integration: str | None = None,
    org_id: str | None = None,
    after: int | None = None,
) -> AsyncIterator[Event]:
    """Yield the events of the service's event log the key may see, in order:

        async for event in integrations.watch(types=["token.needs_reauth"]):
            notify(event.org_id, event.reason)

    From now on, or after position `after` (0: every event retained). When the
    stream breaks it reconnects with backoff and resumes after the last event
    yielded: none is missed or yielded twice. A refused watch (an unknown type,
    another organization, a position retention deleted) raises."""
    settings = _channel.settings()
    stub = pb_grpc.IntegrationsServiceStub(_channel.channel(settings))
    request = pb.WatchEventsRequest(types=types or [], integration_name=integration or "", org_id=_org(org_id))
    if after is not None:
        request.after_position = after
    wait = 0.0
    while True:
        stream = stub.WatchEvents(request, metadata=_channel.metadata(settings))
        try:
            async for resp in stream:
                wait = 0.0
                request.after_position = resp.position
                if resp.HasField("event"):
                    yield event(resp.event)
        except grpc.aio.AioRpcError as e:
            if e.code() not in _WATCH_RETRY:
                raise translate(e) from None
        finally:
            stream.cancel()
        wait = min(max(2 * wait, 0.1), 5.0)
        await asyncio.sleep(wait / 2 + random.uniform(0, wait / 2))
