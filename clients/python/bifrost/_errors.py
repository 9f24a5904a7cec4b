"""How gRPC failures become Python exceptions."""

import grpc


class BifrostError(Exception):
    """A failure of the integrations service other than bad input or access."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(f"{code.name}: {message}")
        self.code = code
        self.message = message


def translate(err: grpc.aio.AioRpcError) -> Exception:
    """Maps a gRPC error to the exception the SDK raises (NOT_FOUND is handled
    by the callers, which return None)."""
    code, message = err.code(), err.details() or ""
    if code == grpc.StatusCode.PERMISSION_DENIED:
        return PermissionError(message)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return ValueError(message)
    return BifrostError(code, message)
