"""The SDK page, call for call, against a real integrationsd."""

import asyncio
import dataclasses
import inspect
import json
import threading
from datetime import datetime
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bifrost import BifrostError, integrations, org_context, workflow
from bifrost.integrations.admin.v1 import admin_pb2 as admin


def run(coro):
    return asyncio.run(coro)


def test_signatures_are_the_sdk_pages_plus_a_keyword_only_timeout():
    timeout = ", *, timeout: 'float | None' = None"
    expected = {
        "get": f"(name: 'str', org_id: 'str | None' = None, scope: 'str | None' = None{timeout}) -> 'IntegrationData | None'",
        "list_mappings": f"(name: 'str'{timeout}) -> 'list[IntegrationMappingResponse] | None'",
        "get_mapping": f"(name: 'str', org_id: 'str | None' = None, entity_id: 'str | None' = None{timeout}) -> 'IntegrationMappingResponse | None'",
        "upsert_mapping": f"(name: 'str', org_id: 'str', entity_id: 'str', entity_name: 'str | None' = None, config: 'dict | None' = None{timeout}) -> 'IntegrationMappingResponse'",
        "delete_mapping": f"(name: 'str', org_id: 'str'{timeout}) -> 'bool'",
    }
    for name, sig in expected.items():
        fn = getattr(integrations, name)
        assert inspect.iscoroutinefunction(fn), name
        assert str(inspect.signature(fn)) == sig, name
    # The page's fields first, in its order; the service's additions after them.
    fields = lambda cls: [f.name for f in dataclasses.fields(cls)]
    assert fields(integrations.IntegrationData) == [
        "integration_id", "entity_id", "entity_name", "config", "oauth", "integration_name", "config_secret_keys"]
    assert fields(integrations.OAuthCredentials) == [
        "connection_name", "client_id", "client_secret", "authorization_url", "token_url", "scopes",
        "access_token", "refresh_token", "expires_at", "status", "status_message"]
    assert fields(integrations.IntegrationMappingResponse) == [
        "id", "integration_id", "organization_id", "entity_id", "entity_name", "oauth_token_id", "config",
        "created_at", "updated_at"]


def test_get_uses_the_keys_org_and_merges_config(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))
    msft = run(integrations.get("Microsoft_Graph"))
    assert msft.entity_id == "tenant-456" and msft.entity_name == "Acme Corp"
    assert msft.config == {"tenant_domain": "acme.onmicrosoft.com", "page_size": 50, "api_key": "default-secret"}
    assert msft.oauth.access_token == "org-123-access"
    assert msft.oauth.refresh_token == "org-123-refresh"
    # A key bound to one organization never gets the platform's client secret.
    assert msft.oauth.client_secret is None
    assert msft.oauth.token_url == "https://login.example/tenant-456/token"
    assert msft.oauth.scopes == ["User.Read"]
    assert datetime.fromisoformat(msft.oauth.expires_at) > datetime.now().astimezone()
    assert "org-123-access" not in repr(msft.oauth)


def test_global_scope_and_unknown_integration(service, as_key):
    as_key(service.admin_key)
    glob = run(integrations.get("Microsoft_Graph", org_id="org-123", scope="global"))
    assert glob.entity_id == "common" and glob.config["tenant_domain"] == "example.com"
    assert glob.oauth.access_token is None  # no global token
    assert run(integrations.get("Nope")) is None
    assert run(integrations.list_mappings("Nope")) is None
    assert run(integrations.get_mapping("Microsoft_Graph", org_id="org-999")) is None
    halo = run(integrations.get("HaloPSA"))
    assert halo.oauth is None and halo.entity_id is None and halo.config == {}


def test_mappings_round_trip(service, as_key):
    as_key(service.admin_key)
    mapping = run(integrations.upsert_mapping(
        "HaloPSA", org_id="org-123", entity_id="tenant-456", entity_name="Acme Corp", config={"custom_field": "value"}))
    assert mapping.organization_id == "org-123" and mapping.entity_id == "tenant-456"
    assert mapping.config == {"custom_field": "value"}
    assert isinstance(mapping.created_at, datetime) and isinstance(mapping.updated_at, datetime)
    assert mapping.oauth_token_id is None
    got = run(integrations.get_mapping("HaloPSA", org_id="org-123"))
    assert got == mapping
    by_entity = run(integrations.get_mapping("HaloPSA", entity_id="tenant-456"))
    assert by_entity.organization_id == "org-123"
    mappings = run(integrations.list_mappings("HaloPSA"))
    assert [m.organization_id for m in mappings] == ["org-123"]
    assert run(integrations.upsert_mapping("HaloPSA", "org-123", "tenant-456", config={"custom_field": None})).config == {}
    assert run(integrations.delete_mapping("HaloPSA", org_id="org-123")) is True
    assert run(integrations.delete_mapping("HaloPSA", org_id="org-123")) is False


def test_org_comes_from_the_workflow(service, as_key, monkeypatch):
    as_key(service.new_key(admin.ROLE_WORKER_ALL_ORGS))

    @workflow
    async def from_env():
        return await integrations.get("Microsoft_Graph")

    assert run(from_env()).entity_id == "common"  # no org: the defaults
    monkeypatch.setenv("BIFROST_ORG_ID", "org-123")
    assert run(from_env()).entity_id == "tenant-456"
    monkeypatch.delenv("BIFROST_ORG_ID")

    @workflow(org_id="org-123")
    async def pinned():
        return await integrations.get("Microsoft_Graph")

    assert run(pinned()).entity_id == "tenant-456"

    async def in_context():
        with org_context("org-123"):
            return await integrations.get("Microsoft_Graph")

    assert run(in_context()).entity_id == "tenant-456"


def test_errors_carry_the_servers_message(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))
    with pytest.raises(PermissionError, match="org-999"):
        run(integrations.get("Microsoft_Graph", org_id="org-999"))
    with pytest.raises(ValueError, match="scope"):
        run(integrations.get("Microsoft_Graph", scope="everything"))
    as_key("bfk_not-a-key")
    with pytest.raises(BifrostError) as err:
        run(integrations.get("Microsoft_Graph"))
    assert err.value.code.name == "UNAUTHENTICATED"


class _Graph(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/v1.0/users" and self.headers.get("Authorization") == "Bearer org-123-access"
        body = json.dumps({"value": [{"displayName": "Ada"}]} if ok else {"error": "unauthorized"}).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_usage_pattern_runs_as_written(service, as_key, monkeypatch):
    graph = HTTPServer(("127.0.0.1", 0), _Graph)
    threading.Thread(target=graph.serve_forever, daemon=True).start()
    graph_url = f"http://127.0.0.1:{graph.server_port}/v1.0/users"
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))

    # The SDK page's "Usage Pattern", with only the Graph URL changed.
    from bifrost import workflow, integrations
    import httpx

    @workflow
    async def sync_users():
        # Get integration with OAuth
        msft = await integrations.get("Microsoft_Graph")
        if not msft or not msft.oauth:
            return {"error": "Integration not configured"}

        # Use the access token
        async with httpx.AsyncClient() as client:
            response = await client.get(
                graph_url,
                headers={"Authorization": f"Bearer {msft.oauth.access_token}"}
            )
            return response.json()

    try:
        assert run(sync_users()) == {"value": [{"displayName": "Ada"}]}
    finally:
        graph.shutdown()


def test_watch_yields_the_orgs_events_in_order_and_refuses_another_org(service, as_key):
    as_key(service.admin_key)
    run(integrations.upsert_mapping("HaloPSA", "org-watch-b", "company-b"))
    run(integrations.upsert_mapping("HaloPSA", "org-watch-a", "company-a"))
    run(integrations.upsert_mapping("HaloPSA", "org-watch-a", "company-a", entity_name="Acme"))
    as_key(service.new_key(admin.ROLE_WORKER, "org-watch-a"))

    async def first_two():
        seen = []
        async for e in integrations.watch(types=["mapping.upserted"], integration="HaloPSA", after=0):
            seen.append(e)
            if len(seen) == 2:
                return seen

    seen = run(asyncio.wait_for(first_two(), 20))
    assert [e.org_id for e in seen] == ["org-watch-a", "org-watch-a"]
    assert seen[0].position < seen[1].position and seen[0].type == "mapping.upserted"
    assert seen[0].integration_name == "HaloPSA" and seen[0].model_dump()["reason"] == "created"

    # Resuming after the first yields the second, and nothing before it.
    async def after_first():
        async for e in integrations.watch(types=["mapping.upserted"], integration="HaloPSA", after=seen[0].position):
            return e

    assert run(asyncio.wait_for(after_first(), 20)).id == seen[1].id

    async def other_org():
        async for _ in integrations.watch(org_id="org-watch-b"):
            pass

    with pytest.raises(PermissionError):
        run(asyncio.wait_for(other_org(), 20))
