from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

CALLER_ADMIN: Caller
CALLER_ANY_KEY: Caller
CALLER_UNSPECIFIED: Caller
DESCRIPTOR: _descriptor.FileDescriptor
POLICY_FIELD_NUMBER: _ClassVar[int]
policy: _descriptor.FieldDescriptor

class MethodPolicy(_message.Message):
    __slots__ = ["caller", "returns_secrets"]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    RETURNS_SECRETS_FIELD_NUMBER: _ClassVar[int]
    caller: Caller
    returns_secrets: bool
    def __init__(self, caller: _Optional[_Union[Caller, str]] = ..., returns_secrets: bool = ...) -> None: ...

class Caller(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = []
