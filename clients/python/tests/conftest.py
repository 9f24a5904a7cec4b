"""A real integrationsd for the tests: built from this repository (or the binary
in BIFROST_INTEGRATIONSD), started in development mode on free loopback ports,
seeded over its admin API."""

import os
import pathlib
import socket
import subprocess
import tempfile
import time

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from bifrost.integrations.admin.v1 import admin_pb2 as admin
from bifrost.integrations.admin.v1 import admin_pb2_grpc as admin_grpc

REPO = pathlib.Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    def __init__(self, addr: str, admin_key: str):
        self.addr = addr
        self.admin_key = admin_key
        self._channel = grpc.insecure_channel(addr)
        self.admin = admin_grpc.AdminServiceStub(self._channel)
        self.md = (("authorization", f"Bearer {admin_key}"),)

    def new_key(self, role, org_id: str = "") -> str:
        return self.admin.CreateApiKey(admin.CreateApiKeyRequest(name="pytest", role=role, org_id=org_id), metadata=self.md).secret


@pytest.fixture(scope="session")
def service():
    tmp = tempfile.mkdtemp(prefix="bifrost-pytest-")
    binary = os.environ.get("BIFROST_INTEGRATIONSD")
    if not binary:
        binary = os.path.join(tmp, "integrationsd")
        subprocess.run(["go", "build", "-o", binary, "./cmd/integrationsd"], cwd=REPO, check=True)
    port = free_port()
    data = os.path.join(tmp, "data")
    proc = subprocess.Popen(
        [binary, "--dev", "--data-dir", data, "--listen", f"127.0.0.1:{port}", "--http-listen", f"127.0.0.1:{free_port()}", "--log-level", "warn"],
    )
    key_file = os.path.join(data, "admin.key")
    deadline = time.time() + 30
    while not os.path.exists(key_file) or not _listening(port):
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            raise RuntimeError("integrationsd did not start")
        time.sleep(0.05)
    with open(key_file) as f:
        svc = Service(f"127.0.0.1:{port}", f.read().strip())
    _seed(svc)
    yield svc
    proc.terminate()
    proc.wait(timeout=20)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _seed(svc: Service):
    """Microsoft_Graph with a schema, defaults (one secret), an OAuth connection,
    a token for org-123 and org-123's mapping to tenant-456."""
    md = svc.md
    svc.admin.CreateConnection(admin.CreateConnectionRequest(connection=admin.Connection(
        name="graph", flow=admin.FLOW_AUTHORIZATION_CODE, client_id="client-1", client_secret="client-secret-1",
        authorization_url="https://login.example/{entity_id}/authorize", token_url="https://login.example/{entity_id}/token",
        scopes=["User.Read"], refresh_margin=duration_pb2.Duration(seconds=300),
    )), metadata=md)
    defaults = struct_pb2.Struct()
    defaults.update({"tenant_domain": "example.com", "page_size": 100, "api_key": "default-secret"})
    svc.admin.CreateIntegration(admin.CreateIntegrationRequest(integration=admin.Integration(
        name="Microsoft_Graph", oauth_connection="graph", default_entity_id="common", default_config=defaults,
        config_schema=[
            admin.ConfigField(key="tenant_domain", type=admin.CONFIG_TYPE_STRING),
            admin.ConfigField(key="page_size", type=admin.CONFIG_TYPE_INT),
            admin.ConfigField(key="custom_field", type=admin.CONFIG_TYPE_STRING),
            admin.ConfigField(key="api_key", type=admin.CONFIG_TYPE_SECRET),
        ],
    )), metadata=md)
    svc.admin.CreateIntegration(admin.CreateIntegrationRequest(integration=admin.Integration(
        name="HaloPSA", config_schema=[admin.ConfigField(key="custom_field", type=admin.CONFIG_TYPE_STRING)],
    )), metadata=md)
    expires = timestamp_pb2.Timestamp()
    expires.FromSeconds(int(time.time()) + 3600)
    svc.admin.PutToken(admin.PutTokenRequest(connection="graph", org_id="org-123", access_token="org-123-access",
                                            refresh_token="org-123-refresh", expires_at=expires), metadata=md)
    overrides = struct_pb2.Struct()
    overrides.update({"tenant_domain": "acme.onmicrosoft.com", "page_size": 50})
    from bifrost.integrations.v1 import integrations_pb2 as pb
    from bifrost.integrations.v1 import integrations_pb2_grpc as pb_grpc
    pb_grpc.IntegrationsServiceStub(svc._channel).UpsertMapping(pb.UpsertMappingRequest(
        name="Microsoft_Graph", org_id="org-123", entity_id="tenant-456", entity_name="Acme Corp", config=overrides,
    ), metadata=md)


@pytest.fixture
def as_key(service, monkeypatch):
    """Points the SDK at the service with the given API key (and no org)."""
    monkeypatch.delenv("BIFROST_ORG_ID", raising=False)
    monkeypatch.setenv("BIFROST_ADDR", service.addr)

    def use(key: str):
        monkeypatch.setenv("BIFROST_API_KEY", key)

    return use
