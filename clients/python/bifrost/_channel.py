"""Where the service is and who calls it: configure(...), else the environment."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import weakref

import grpc

# What the last configure(...) set; unset fields come from the environment.
_configured: dict = {}

# loop -> {settings: channel}; a loop's channels go with it.
_channels: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


@dataclasses.dataclass(frozen=True)
class _Settings:
    address: str
    api_key: str
    tls: bool
    ca_file: str | None
    client_cert: str | None
    client_key: str | None
    timeout: float | None

    def __repr__(self) -> str:
        return f"_Settings(address={self.address!r}, tls={self.tls!r}, api_key=REDACTED)"


def configure(
    *,
    address: str | None = None,
    api_key: str | None = None,
    tls: bool | None = None,
    ca_file: str | None = None,
    client_cert: str | None = None,
    client_key: str | None = None,
    timeout: float | None = None,
) -> None:
    """Sets the connection in code instead of (or on top of) the environment.

    address is host:port (BIFROST_ADDR, default 127.0.0.1:50051); api_key the
    API key (BIFROST_API_KEY); tls turns TLS on (BIFROST_TLS=1), with ca_file,
    client_cert and client_key as PEM file paths (BIFROST_CA_FILE,
    BIFROST_CLIENT_CERT, BIFROST_CLIENT_KEY; a CA file alone also turns TLS on);
    timeout is the default deadline of every call in seconds (BIFROST_TIMEOUT;
    none by default), which a call's own timeout= overrides.

    A setting given here wins over its environment variable; one not given is
    read from the environment at each call. Each call replaces the previous
    call's settings, so configure() with no arguments returns to the
    environment alone.
    """
    global _configured
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be positive")
    given = dict(address=address, api_key=api_key, tls=tls, ca_file=ca_file,
                 client_cert=client_cert, client_key=client_key, timeout=timeout)
    _configured = {k: v for k, v in given.items() if v is not None}


def settings() -> _Settings:
    """The settings in force: configure(...)'s, else the environment's."""
    def pick(name, env, default=None):
        if name in _configured:
            return _configured[name]
        return os.environ.get(env) or default

    ca_file = pick("ca_file", "BIFROST_CA_FILE")
    tls = _configured.get("tls")
    if tls is None:
        tls = os.environ.get("BIFROST_TLS", "").lower() in ("1", "true") or bool(ca_file)
    timeout = pick("timeout", "BIFROST_TIMEOUT")
    return _Settings(
        address=pick("address", "BIFROST_ADDR", "127.0.0.1:50051"),
        api_key=pick("api_key", "BIFROST_API_KEY", ""),
        tls=tls,
        ca_file=ca_file,
        client_cert=pick("client_cert", "BIFROST_CLIENT_CERT"),
        client_key=pick("client_key", "BIFROST_CLIENT_KEY"),
        timeout=float(timeout) if timeout is not None else None,
    )


def _credentials(s: _Settings):
    def read(path):
        if not path:
            return None
        with open(path, "rb") as f:
            return f.read()

    return grpc.ssl_channel_credentials(
        root_certificates=read(s.ca_file),
        private_key=read(s.client_key),
        certificate_chain=read(s.client_cert),
    )


def channel(s: _Settings) -> grpc.aio.Channel:
    """One channel per event loop and connection settings: grpc.aio channels
    belong to the loop they were made on."""
    key = (s.address, s.tls, s.ca_file, s.client_cert, s.client_key)
    per_loop = _channels.setdefault(asyncio.get_running_loop(), {})
    ch = per_loop.get(key)
    if ch is None:
        if s.tls:
            ch = grpc.aio.secure_channel(s.address, _credentials(s))
        else:
            ch = grpc.aio.insecure_channel(s.address)
        per_loop[key] = ch
    return ch


def metadata(s: _Settings):
    """The API key as call metadata."""
    return (("authorization", f"Bearer {s.api_key}"),) if s.api_key else ()
