"""The gRPC channel, configured from the environment."""

import asyncio
import os
import weakref

import grpc

# loop -> {address: channel}; a loop's channels go with it.
_channels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _credentials():
    def read(name):
        path = os.environ.get(name)
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read("BIFROST_CA_FILE"),
        private_key=read("BIFROST_CLIENT_KEY"),
        certificate_chain=read("BIFROST_CLIENT_CERT"),
    )


def channel() -> grpc.aio.Channel:
    """One channel per event loop and address: grpc.aio channels belong to the
    loop they were made on."""
    addr = os.environ.get("BIFROST_ADDR", "127.0.0.1:50051")
    per_loop = _channels.setdefault(asyncio.get_running_loop(), {})
    ch = per_loop.get(addr)
    if ch is None:
        if os.environ.get("BIFROST_TLS", "") in ("1", "true") or os.environ.get("BIFROST_CA_FILE"):
            ch = grpc.aio.secure_channel(addr, _credentials())
        else:
            ch = grpc.aio.insecure_channel(addr)
        per_loop[addr] = ch
    return ch


def metadata():
    """The API key as call metadata."""
    key = os.environ.get("BIFROST_API_KEY", "")
    return (("authorization", f"Bearer {key}"),) if key else ()
