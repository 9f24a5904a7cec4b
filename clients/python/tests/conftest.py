"""A real integrationsd for the tests: built from this repository (or the binary
in BIFROST_INTEGRATIONSD), started in development mode on loopback ports it picks itself,
seeded over its admin API."""

import json
import os
import pathlib
import subprocess
import tempfile
import time

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from bifrost.integrations.admin.v1 import admin_pb2 as admin
from bifrost.integrations.admin.v1 import admin_pb2_grpc as admin_grpc

REPO = pathlib.Path(__file__).resolve().parents[3]


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
    data = os.path.join(tmp, "data")
    # Port 0, and the address read back from the log: a port picked free
    # beforehand can be taken by another process before integrationsd binds it.
    log_path = os.path.join(tmp, "integrationsd.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [binary, "--dev", "--data-dir", data, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--log-format", "json"],
            stdout=log, stderr=log,
        )
    key_file = os.path.join(data, "admin.key")
    deadline = time.time() + 30
    addr = None
    while addr is None or not os.path.exists(key_file):
        if time.time() > deadline or proc.poll() is not None:
            proc.kill()
            with open(log_path) as f:
                raise RuntimeError("integrationsd did not start:\n" + f.read())
        addr = addr or _serving_addr(log_path)
        time.sleep(0.05)
    with open(key_file) as f:
        svc = Service(addr, f.read().strip())
    _seed(svc)
    yield svc
    proc.terminate()
    proc.wait(timeout=20)


def _serving_addr(log_path: str):
    """The gRPC address from integrationsd's "serving" log line, once written."""
    with open(log_path) as f:
        for line in f:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("msg") == "integrationsd serving":
                return entry["grpc"]
    return None


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


@pytest.fixture(autouse=True)
def _environment_only():
    """Each test starts and ends with no configure(...) settings in force."""
    import bifrost

    bifrost.configure()
    yield
    bifrost.configure()
