"""The SDK page's types, with the fields the service adds.

The page's fields come first, in its order; fields the page does not list
(status, status_message, integration_name, config_secret_keys) follow with
defaults, so that code building the page's types positionally still works.
"""

from __future__ import annotations

import dataclasses
import enum
from datetime import datetime, timezone

from google.protobuf import json_format, struct_pb2

from bifrost._model import Model
from bifrost.integrations.v1 import integrations_pb2 as pb

_REDACTED = "REDACTED"


class ConnectionStatus(str, enum.Enum):
    """The state of an OAuth token. Compares equal to its name as a string."""

    CONNECTED = "CONNECTED"  # a token is stored and usable
    REFRESH_FAILED = "REFRESH_FAILED"  # the last refresh failed; the token is served while valid
    NEEDS_REAUTH = "NEEDS_REAUTH"  # the provider rejected the grant: connect the account again
    NOT_CONNECTED = "NOT_CONNECTED"  # no token for this organization nor the global scope

    def __str__(self) -> str:
        return self.value

    __format__ = str.__format__


@dataclasses.dataclass
class OAuthCredentials(Model):
    """The OAuth connection and the token to call the external system with.

    It is truthy only when it holds a usable token: an access_token that has
    not expired. An organization without a token (status NOT_CONNECTED,
    access_token None) or with an expired one gets a falsy OAuthCredentials,
    so the SDK page's `if not msft or not msft.oauth:` guard stops before
    sending `Bearer None`, and the status still says why:

        if msft.oauth is not None and not msft.oauth:
            raise RuntimeError(f"{msft.oauth.status}: {msft.oauth.status_message}")

    repr and str redact the client secret and the tokens; model_dump() and
    model_dump_json() return them.
    """

    connection_name: str
    client_id: str | None
    client_secret: str | None  # Decrypted; None for a key bound to one organization
    authorization_url: str | None
    token_url: str | None
    scopes: list[str]
    access_token: str | None  # Decrypted; None when there is no token
    refresh_token: str | None  # Decrypted
    expires_at: str | None  # ISO format
    status: ConnectionStatus | None = None
    status_message: str | None = None  # why status is not CONNECTED; never a secret

    @property
    def usable(self) -> bool:
        """True when access_token holds a token that has not expired."""
        if self.access_token is None:
            return False
        if self.expires_at is None:
            return True
        return datetime.fromisoformat(self.expires_at) > datetime.now(timezone.utc)

    def __bool__(self) -> bool:
        return self.usable

    def __repr__(self) -> str:
        # Secrets stay out of logs and tracebacks that print the object.
        return (
            f"OAuthCredentials(connection_name={self.connection_name!r}, client_id={self.client_id!r}, "
            f"scopes={self.scopes!r}, expires_at={self.expires_at!r}, status={self.status and self.status.value!r}, "
            f"status_message={self.status_message!r}, secrets={_REDACTED})"
        )


@dataclasses.dataclass
class IntegrationData(Model):
    """An integration as one organization (or the global scope) sees it.

    repr and str show the config with the values of config_secret_keys
    redacted, and oauth without its secrets; model_dump() returns them all.
    """

    integration_id: str
    entity_id: str | None  # External entity ID (tenant, company, etc.)
    entity_name: str | None  # Display name for entity
    config: dict  # Merged configuration (defaults + org overrides), secrets decrypted
    oauth: OAuthCredentials | None  # None when the integration has no OAuth connection
    integration_name: str = ""
    config_secret_keys: list[str] = dataclasses.field(default_factory=list)  # which config keys are secrets

    def __repr__(self) -> str:
        secret = set(self.config_secret_keys)
        config = {k: (_REDACTED if k in secret else v) for k, v in self.config.items()}
        return (
            f"IntegrationData(integration_id={self.integration_id!r}, integration_name={self.integration_name!r}, "
            f"entity_id={self.entity_id!r}, entity_name={self.entity_name!r}, config={config!r}, "
            f"config_secret_keys={self.config_secret_keys!r}, oauth={self.oauth!r})"
        )


@dataclasses.dataclass
class IntegrationMappingResponse(Model):
    """An organization's mapping to an external entity, with its config overrides.

    The overrides may hold secret values (decrypted) and the mapping does not
    say which, so repr and str name the config's keys only.
    """

    id: str
    integration_id: str
    organization_id: str
    entity_id: str | None
    entity_name: str | None
    oauth_token_id: str | None
    config: dict  # The organization's overrides (not merged), secrets decrypted
    created_at: datetime
    updated_at: datetime

    def __repr__(self) -> str:
        return (
            f"IntegrationMappingResponse(id={self.id!r}, integration_id={self.integration_id!r}, "
            f"organization_id={self.organization_id!r}, entity_id={self.entity_id!r}, "
            f"entity_name={self.entity_name!r}, oauth_token_id={self.oauth_token_id!r}, "
            f"config=<keys {sorted(self.config)!r}, values {_REDACTED}>, "
            f"created_at={self.created_at!r}, updated_at={self.updated_at!r})"
        )


# From the generated messages.

_STATUSES = {
    pb.CONNECTION_STATUS_CONNECTED: ConnectionStatus.CONNECTED,
    pb.CONNECTION_STATUS_REFRESH_FAILED: ConnectionStatus.REFRESH_FAILED,
    pb.CONNECTION_STATUS_NEEDS_REAUTH: ConnectionStatus.NEEDS_REAUTH,
    pb.CONNECTION_STATUS_NOT_CONNECTED: ConnectionStatus.NOT_CONNECTED,
}


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


@dataclasses.dataclass
class Event(Model):
    """One change in the service's event log (watch). It never holds a secret."""

    id: str  # unique; the webhook-id of webhook messages carrying it
    position: int  # contiguous, in commit order: resume after it
    time: datetime
    type: str  # e.g. "token.needs_reauth", "token.recovered", "mapping.upserted"
    org_id: str | None
    integration_name: str | None
    connection_name: str | None
    token_status: ConnectionStatus | None  # for token events: the status after the change
    reason: str | None  # why, for people: a failed refresh's error, how a token recovered


def event(e: pb.Event) -> Event:
    return Event(
        id=e.id,
        position=e.position,
        time=e.time.ToDatetime(tzinfo=timezone.utc),
        type=e.type,
        org_id=_none_if_empty(e.organization_id),
        integration_name=_none_if_empty(e.integration_name),
        connection_name=_none_if_empty(e.connection_name),
        token_status=_STATUSES.get(e.token_status),
        reason=_none_if_empty(e.reason),
    )


def oauth_credentials(o: pb.OAuthCredentials) -> OAuthCredentials:
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
        status=_STATUSES.get(o.status),
        status_message=_none_if_empty(o.status_message),
    )


def integration_data(d: pb.IntegrationData) -> IntegrationData:
    return IntegrationData(
        integration_id=d.integration_id,
        entity_id=_none_if_empty(d.entity_id),
        entity_name=_none_if_empty(d.entity_name),
        config=_dict(d.config),
        oauth=oauth_credentials(d.oauth) if d.HasField("oauth") else None,
        integration_name=d.integration_name,
        config_secret_keys=list(d.config_secret_keys),
    )


def mapping(m: pb.IntegrationMapping) -> IntegrationMappingResponse:
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
