"""The integrations module: integration configuration, mappings and OAuth tokens.

    from bifrost import integrations
    msft = await integrations.get("Microsoft_Graph")
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import grpc
from google.protobuf import json_format, struct_pb2

from bifrost import _channel
from bifrost._context import current_org_id
from bifrost._errors import translate
from bifrost.integrations.v1 import integrations_pb2 as pb
from bifrost.integrations.v1 import integrations_pb2_grpc as pb_grpc

__all__ = [
    "IntegrationData",
    "IntegrationMappingResponse",
    "OAuthCredentials",
    "delete_mapping",
    "get",
    "get_mapping",
    "list_mappings",
    "upsert_mapping",
]


@dataclasses.dataclass
class OAuthCredentials:
    connection_name: str
    client_id: str | None
    client_secret: str | None  # Decrypted; None for a key bound to one organization
    authorization_url: str | None
    token_url: str | None
    scopes: list[str]
    access_token: str | None  # Decrypted
    refresh_token: str | None  # Decrypted
    expires_at: str | None  # ISO format

    def __repr__(self) -> str:
        # Secrets stay out of logs and tracebacks that print the object.
        return (
            f"OAuthCredentials(connection_name={self.connection_name!r}, client_id={self.client_id!r}, "
            f"scopes={self.scopes!r}, expires_at={self.expires_at!r}, secrets=REDACTED)"
        )


@dataclasses.dataclass
class IntegrationData:
    integration_id: str
    entity_id: str | None  # External entity ID (tenant, company, etc.)
    entity_name: str | None  # Display name for entity
    config: dict  # Merged configuration (defaults + org overrides)
    oauth: OAuthCredentials | None


@dataclasses.dataclass
class IntegrationMappingResponse:
    id: str
    integration_id: str
    organization_id: str
    entity_id: str | None
    entity_name: str | None
    oauth_token_id: str | None
    config: dict
    created_at: datetime
    updated_at: datetime


def _stub() -> pb_grpc.IntegrationsServiceStub:
    return pb_grpc.IntegrationsServiceStub(_channel.channel())


def _org(org_id: str | None) -> str:
    return org_id or current_org_id() or ""


def _none_if_empty(s: str) -> str | None:
    return s or None


def _dict(s: struct_pb2.Struct) -> dict:
    return _whole_numbers(json_format.MessageToDict(s))


def _whole_numbers(v):
    """JSON numbers arrive as floats; config integers should read as ints."""
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, dict):
        return {k: _whole_numbers(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_whole_numbers(x) for x in v]
    return v


def _oauth(o: pb.OAuthCredentials) -> OAuthCredentials:
    expires = None
    if o.HasField("expires_at"):
        expires = o.expires_at.ToDatetime(tzinfo=timezone.utc).isoformat()
    return OAuthCredentials(
        connection_name=o.connection_name,
        client_id=_none_if_empty(o.client_id),
        client_secret=_none_if_empty(o.client_secret),
        authorization_url=_none_if_empty(o.authorization_url),
        token_url=_none_if_empty(o.token_url),
        scopes=list(o.scopes),
        access_token=_none_if_empty(o.access_token),
        refresh_token=_none_if_empty(o.refresh_token),
        expires_at=expires,
    )


def _mapping(m: pb.IntegrationMapping) -> IntegrationMappingResponse:
    return IntegrationMappingResponse(
        id=m.id,
        integration_id=m.integration_id,
        organization_id=m.organization_id,
        entity_id=_none_if_empty(m.entity_id),
        entity_name=_none_if_empty(m.entity_name),
        oauth_token_id=_none_if_empty(m.oauth_token_id),
        config=_dict(m.config),
        created_at=m.created_at.ToDatetime(tzinfo=timezone.utc),
        updated_at=m.updated_at.ToDatetime(tzinfo=timezone.utc),
    )


async def _call(method, request, *, none_if_not_found: bool = True):
    """Calls method; NOT_FOUND becomes None where the SDK page says so, other
    failures become exceptions."""
    try:
        return await method(request, metadata=_channel.metadata())
    except grpc.aio.AioRpcError as err:
        if none_if_not_found and err.code() == grpc.StatusCode.NOT_FOUND:
            return None
        raise translate(err) from None


async def get(
    name: str,
    org_id: str | None = None,
    scope: str | None = None,
) -> IntegrationData | None:
    """Get integration configuration with OAuth tokens, or None if not found."""
    resp = await _call(_stub().GetIntegration, pb.GetIntegrationRequest(name=name, org_id=_org(org_id), scope=scope or ""))
    if resp is None:
        return None
    d = resp.integration
    return IntegrationData(
        integration_id=d.integration_id,
        entity_id=_none_if_empty(d.entity_id),
        entity_name=_none_if_empty(d.entity_name),
        config=_dict(d.config),
        oauth=_oauth(d.oauth) if d.HasField("oauth") else None,
    )


async def list_mappings(name: str) -> list[IntegrationMappingResponse] | None:
    """List all organization mappings for an integration (None if it does not
    exist). A key bound to one organization sees that organization's only."""
    out: list[IntegrationMappingResponse] = []
    token = ""
    while True:
        resp = await _call(_stub().ListMappings, pb.ListMappingsRequest(name=name, page_token=token))
        if resp is None:
            return None
        out.extend(_mapping(m) for m in resp.mappings)
        token = resp.next_page_token
        if not token:
            return out


async def get_mapping(
    name: str,
    org_id: str | None = None,
    entity_id: str | None = None,
) -> IntegrationMappingResponse | None:
    """Get a specific organization mapping for an integration, or None."""
    resp = await _call(_stub().GetMapping, pb.GetMappingRequest(name=name, org_id=_org(org_id), entity_id=entity_id or ""))
    return _mapping(resp.mapping) if resp is not None else None


async def upsert_mapping(
    name: str,
    org_id: str,
    entity_id: str,
    entity_name: str | None = None,
    config: dict | None = None,
) -> IntegrationMappingResponse:
    """Create or update an organization mapping for an integration. config keys
    set to None are removed from the organization's overrides."""
    cfg = struct_pb2.Struct()
    if config:
        cfg.update(config)
    resp = await _call(
        _stub().UpsertMapping,
        pb.UpsertMappingRequest(name=name, org_id=_org(org_id), entity_id=entity_id or "", entity_name=entity_name or "", config=cfg),
        none_if_not_found=False,
    )
    return _mapping(resp.mapping)


async def delete_mapping(
    name: str,
    org_id: str,
) -> bool:
    """Delete an organization mapping for an integration; False if there was none."""
    resp = await _call(_stub().DeleteMapping, pb.DeleteMappingRequest(name=name, org_id=_org(org_id)), none_if_not_found=False)
    return resp.deleted
