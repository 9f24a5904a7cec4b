"""How gRPC failures become Python exceptions.

Every exception the SDK raises for a failed call is a BifrostError, with the
gRPC status code in .code and the server's message in .message. Those that
have a builtin counterpart are that builtin too, so either spelling catches
them: PERMISSION_DENIED is a PermissionError, INVALID_ARGUMENT a ValueError,
DEADLINE_EXCEEDED (a call's timeout ran out) a TimeoutError.
"""

import grpc


class BifrostError(Exception):
    """A call to the integrations service failed."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message

    def __reduce__(self):
        return (type(self), (self.code, self.message))


class PermissionDeniedError(BifrostError, PermissionError):
    """The API key may not do this (PERMISSION_DENIED), e.g. a worker key of one
    organization asking about another."""


class InvalidArgumentError(BifrostError, ValueError):
    """The server rejected an argument (INVALID_ARGUMENT); the message names it."""


class DeadlineExceededError(BifrostError, TimeoutError):
    """The call's timeout ran out before the server answered (DEADLINE_EXCEEDED)."""


_BY_CODE = {
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
}


def translate(err: grpc.aio.AioRpcError) -> BifrostError:
    """Maps a gRPC error to the exception the SDK raises (NOT_FOUND is handled
    by the callers, which return None where the SDK page says so)."""
    code, message = err.code(), err.details() or ""
    return _BY_CODE.get(code, BifrostError)(code, message)
