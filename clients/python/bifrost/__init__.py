"""Bifrost SDK: integrations for workflows, over the integrations service's gRPC API.

    from bifrost import workflow, integrations

    @workflow
    async def sync_users():
        msft = await integrations.get("Microsoft_Graph")

Connection settings come from configure(...) or the environment: BIFROST_ADDR
(host:port, default 127.0.0.1:50051), BIFROST_API_KEY, BIFROST_TIMEOUT (seconds,
default none), and for TLS BIFROST_TLS=1 with optional BIFROST_CA_FILE,
BIFROST_CLIENT_CERT and BIFROST_CLIENT_KEY. The organization of calls that name
none comes from the running workflow (BIFROST_ORG_ID, or org_context), else
from the API key's organization on the server.

Failed calls raise BifrostError; PermissionDeniedError is also a
PermissionError, InvalidArgumentError a ValueError, DeadlineExceededError a
TimeoutError.
"""

__version__ = "0.1.0"

from bifrost._channel import configure
from bifrost._context import org_context, workflow
from bifrost._errors import BifrostError, DeadlineExceededError, InvalidArgumentError, PermissionDeniedError
from bifrost import integrations

__all__ = [
    "BifrostError",
    "DeadlineExceededError",
    "InvalidArgumentError",
    "PermissionDeniedError",
    "__version__",
    "configure",
    "integrations",
    "org_context",
    "workflow",
]
