from bifrost.integrations.policy.v1 import policy_pb2 as _policy_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Iterable as _Iterable, Mapping as _Mapping, Optional as _Optional, Union as _Union

CONNECTION_STATUS_CONNECTED: ConnectionStatus
CONNECTION_STATUS_NEEDS_REAUTH: ConnectionStatus
CONNECTION_STATUS_NOT_CONNECTED: ConnectionStatus
CONNECTION_STATUS_REFRESH_FAILED: ConnectionStatus
CONNECTION_STATUS_UNSPECIFIED: ConnectionStatus
DESCRIPTOR: _descriptor.FileDescriptor

class DeleteMappingRequest(_message.Message):
    __slots__ = ["name", "org_id"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    org_id: str
    def __init__(self, name: _Optional[str] = ..., org_id: _Optional[str] = ...) -> None: ...

class DeleteMappingResponse(_message.Message):
    __slots__ = ["deleted"]
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: bool = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ["connection_name", "id", "integration_name", "organization_id", "position", "reason", "time", "token_status", "type"]
    CONNECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_NAME_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    TOKEN_STATUS_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    connection_name: str
    id: str
    integration_name: str
    organization_id: str
    position: int
    reason: str
    time: _timestamp_pb2.Timestamp
    token_status: ConnectionStatus
    type: str
    def __init__(self, id: _Optional[str] = ..., position: _Optional[int] = ..., time: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., type: _Optional[str] = ..., organization_id: _Optional[str] = ..., integration_name: _Optional[str] = ..., connection_name: _Optional[str] = ..., token_status: _Optional[_Union[ConnectionStatus, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class GetIntegrationRequest(_message.Message):
    __slots__ = ["force_refresh", "min_validity", "name", "org_id", "scope"]
    FORCE_REFRESH_FIELD_NUMBER: _ClassVar[int]
    MIN_VALIDITY_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    force_refresh: bool
    min_validity: _duration_pb2.Duration
    name: str
    org_id: str
    scope: str
    def __init__(self, name: _Optional[str] = ..., org_id: _Optional[str] = ..., scope: _Optional[str] = ..., force_refresh: bool = ..., min_validity: _Optional[_Union[_duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class GetIntegrationResponse(_message.Message):
    __slots__ = ["integration"]
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    integration: IntegrationData
    def __init__(self, integration: _Optional[_Union[IntegrationData, _Mapping]] = ...) -> None: ...

class GetMappingRequest(_message.Message):
    __slots__ = ["entity_id", "name", "org_id"]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    entity_id: str
    name: str
    org_id: str
    def __init__(self, name: _Optional[str] = ..., org_id: _Optional[str] = ..., entity_id: _Optional[str] = ...) -> None: ...

class GetMappingResponse(_message.Message):
    __slots__ = ["mapping"]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    mapping: IntegrationMapping
    def __init__(self, mapping: _Optional[_Union[IntegrationMapping, _Mapping]] = ...) -> None: ...

class IntegrationData(_message.Message):
    __slots__ = ["config", "config_secret_keys", "entity_id", "entity_name", "integration_id", "integration_name", "oauth"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CONFIG_SECRET_KEYS_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_NAME_FIELD_NUMBER: _ClassVar[int]
    OAUTH_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    config_secret_keys: _containers.RepeatedScalarFieldContainer[str]
    entity_id: str
    entity_name: str
    integration_id: str
    integration_name: str
    oauth: OAuthCredentials
    def __init__(self, integration_id: _Optional[str] = ..., integration_name: _Optional[str] = ..., entity_id: _Optional[str] = ..., entity_name: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., oauth: _Optional[_Union[OAuthCredentials, _Mapping]] = ..., config_secret_keys: _Optional[_Iterable[str]] = ...) -> None: ...

class IntegrationMapping(_message.Message):
    __slots__ = ["config", "created_at", "entity_id", "entity_name", "id", "integration_id", "oauth_token_id", "organization_id", "updated_at"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_ID_FIELD_NUMBER: _ClassVar[int]
    OAUTH_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    ORGANIZATION_ID_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    created_at: _timestamp_pb2.Timestamp
    entity_id: str
    entity_name: str
    id: str
    integration_id: str
    oauth_token_id: str
    organization_id: str
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., integration_id: _Optional[str] = ..., organization_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., entity_name: _Optional[str] = ..., oauth_token_id: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., created_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListMappingsRequest(_message.Message):
    __slots__ = ["name", "page_size", "page_token"]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    name: str
    page_size: int
    page_token: str
    def __init__(self, name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListMappingsResponse(_message.Message):
    __slots__ = ["mappings", "next_page_token"]
    MAPPINGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    mappings: _containers.RepeatedCompositeFieldContainer[IntegrationMapping]
    next_page_token: str
    def __init__(self, mappings: _Optional[_Iterable[_Union[IntegrationMapping, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class OAuthCredentials(_message.Message):
    __slots__ = ["access_token", "authorization_url", "client_id", "client_secret", "connection_name", "expires_at", "refresh_token", "scopes", "status", "status_message", "token_url"]
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AUTHORIZATION_URL_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_SECRET_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    TOKEN_URL_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    authorization_url: str
    client_id: str
    client_secret: str
    connection_name: str
    expires_at: _timestamp_pb2.Timestamp
    refresh_token: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    status: ConnectionStatus
    status_message: str
    token_url: str
    def __init__(self, connection_name: _Optional[str] = ..., client_id: _Optional[str] = ..., client_secret: _Optional[str] = ..., authorization_url: _Optional[str] = ..., token_url: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ..., access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_at: _Optional[_Union[_timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[ConnectionStatus, str]] = ..., status_message: _Optional[str] = ...) -> None: ...

class UpsertMappingRequest(_message.Message):
    __slots__ = ["config", "entity_id", "entity_name", "name", "oauth_token_id", "org_id"]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    ENTITY_ID_FIELD_NUMBER: _ClassVar[int]
    ENTITY_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    OAUTH_TOKEN_ID_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    config: _struct_pb2.Struct
    entity_id: str
    entity_name: str
    name: str
    oauth_token_id: str
    org_id: str
    def __init__(self, name: _Optional[str] = ..., org_id: _Optional[str] = ..., entity_id: _Optional[str] = ..., entity_name: _Optional[str] = ..., config: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., oauth_token_id: _Optional[str] = ...) -> None: ...

class UpsertMappingResponse(_message.Message):
    __slots__ = ["mapping"]
    MAPPING_FIELD_NUMBER: _ClassVar[int]
    mapping: IntegrationMapping
    def __init__(self, mapping: _Optional[_Union[IntegrationMapping, _Mapping]] = ...) -> None: ...

class WatchEventsRequest(_message.Message):
    __slots__ = ["after_position", "integration_name", "org_id", "types"]
    AFTER_POSITION_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_NAME_FIELD_NUMBER: _ClassVar[int]
    ORG_ID_FIELD_NUMBER: _ClassVar[int]
    TYPES_FIELD_NUMBER: _ClassVar[int]
    after_position: int
    integration_name: str
    org_id: str
    types: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, after_position: _Optional[int] = ..., types: _Optional[_Iterable[str]] = ..., integration_name: _Optional[str] = ..., org_id: _Optional[str] = ...) -> None: ...

class WatchEventsResponse(_message.Message):
    __slots__ = ["event", "head_position", "position"]
    EVENT_FIELD_NUMBER: _ClassVar[int]
    HEAD_POSITION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    event: Event
    head_position: int
    position: int
    def __init__(self, position: _Optional[int] = ..., event: _Optional[_Union[Event, _Mapping]] = ..., head_position: _Optional[int] = ...) -> None: ...

class ConnectionStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
