"""The integrations module: integration configuration, mappings and OAuth tokens.

    from bifrost import integrations
    msft = await integrations.get("Microsoft_Graph")

Every call takes a keyword-only timeout in seconds (default: configure's
timeout, else BIFROST_TIMEOUT, else none); when it runs out the call raises
bifrost.DeadlineExceededError, which is also a TimeoutError.
"""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import struct_pb2

from bifrost import _channel
from bifrost._context import current_org_id
from bifrost._errors import DeadlineExceededError, InvalidArgumentError, translate
from bifrost.integrations._types import (
    ConnectionStatus,
    IntegrationData,
    IntegrationMappingResponse,
    OAuthCredentials,
    integration_data,
    mapping,
)
from bifrost.integrations.v1 import integrations_pb2 as pb
from bifrost.integrations.v1 import integrations_pb2_grpc as pb_grpc

__all__ = [
    "ConnectionStatus",
    "IntegrationData",
    "IntegrationMappingResponse",
    "OAuthCredentials",
    "delete_mapping",
    "get",
    "get_mapping",
    "list_mappings",
    "upsert_mapping",
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
