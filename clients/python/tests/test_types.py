"""The types: model_dump and model_dump_json, the token's status, redaction."""

import asyncio
import json
import logging
import pprint
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

from bifrost import integrations
from bifrost.integrations import ConnectionStatus, OAuthCredentials
from bifrost.integrations.admin.v1 import admin_pb2 as admin


def run(coro):
    return asyncio.run(coro)


def _oauth(**overrides):
    fields = dict(connection_name="graph", client_id="client-1", client_secret="client-secret-1",
                  authorization_url=None, token_url=None, scopes=["User.Read"], access_token="access-1",
                  refresh_token="refresh-1", expires_at=None, status=ConnectionStatus.CONNECTED, status_message=None)
    fields.update(overrides)
    return OAuthCredentials(**fields)


def test_model_dump_returns_every_field_of_integration_data_with_oauth_nested(service, as_key):
    as_key(service.admin_key)
    msft = run(integrations.get("Microsoft_Graph", org_id="org-123"))
    dump = msft.model_dump()
    assert list(dump) == ["integration_id", "entity_id", "entity_name", "config", "oauth", "integration_name", "config_secret_keys"]
    assert dump["integration_name"] == "Microsoft_Graph" and dump["entity_id"] == "tenant-456"
    assert dump["config"]["api_key"] == "default-secret"  # explicit: a dump returns secrets
    assert dump["config_secret_keys"] == ["api_key"]
    assert dump["oauth"] == {
        "connection_name": "graph", "client_id": "client-1", "client_secret": "client-secret-1",
        "authorization_url": "https://login.example/tenant-456/authorize",
        "token_url": "https://login.example/tenant-456/token", "scopes": ["User.Read"],
        "access_token": "org-123-access", "refresh_token": "org-123-refresh",
        "expires_at": msft.oauth.expires_at, "status": "CONNECTED", "status_message": None,
    }
    # The dump is a copy: changing it leaves the object as it was.
    dump["config"]["page_size"] = 1
    assert msft.config["page_size"] == 50


def test_model_dump_json_parses_back_to_the_json_mode_dump(service, as_key):
    as_key(service.admin_key)
    msft = run(integrations.get("Microsoft_Graph", org_id="org-123"))
    assert json.loads(msft.model_dump_json()) == msft.model_dump(mode="json") == json.loads(json.dumps(msft.model_dump()))
    assert json.loads(msft.model_dump_json(indent=2)) == msft.model_dump(mode="json")
    assert json.loads(msft.oauth.model_dump_json())["status"] == "CONNECTED"


def test_mapping_dumps_every_field_with_datetimes_as_iso_in_json(service, as_key):
    as_key(service.admin_key)
    mapping = run(integrations.get_mapping("Microsoft_Graph", org_id="org-123"))
    dump = mapping.model_dump()
    assert list(dump) == ["id", "integration_id", "organization_id", "entity_id", "entity_name", "oauth_token_id",
                          "config", "created_at", "updated_at"]
    assert isinstance(dump["created_at"], datetime)
    as_json = json.loads(mapping.model_dump_json())
    assert as_json["created_at"] == mapping.created_at.isoformat()
    assert as_json["config"] == {"tenant_domain": "acme.onmicrosoft.com", "page_size": 50}


def test_connected_token_is_truthy_with_status_connected(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))
    oauth = run(integrations.get("Microsoft_Graph")).oauth
    assert oauth and oauth.usable
    assert oauth.status == ConnectionStatus.CONNECTED == "CONNECTED"
    assert oauth.status_message is None


def test_org_without_token_gets_falsy_oauth_with_status_not_connected(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-no-token"))
    msft = run(integrations.get("Microsoft_Graph"))
    assert msft.oauth is not None  # the integration has an OAuth connection...
    assert not msft.oauth  # ...but no usable token
    assert msft.oauth.access_token is None
    assert msft.oauth.status == "NOT_CONNECTED" and msft.oauth.status_message
    assert msft.oauth.connection_name == "graph"  # what to connect is still there


def test_integration_without_oauth_connection_has_oauth_none(service, as_key):
    as_key(service.admin_key)
    assert run(integrations.get("HaloPSA", org_id="org-123")).oauth is None


def test_expired_token_is_falsy_and_unexpired_or_unexpiring_ones_truthy():
    past = (datetime.now(timezone.utc) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()
    assert not _oauth(expires_at=past)
    assert _oauth(expires_at=future)
    assert _oauth(expires_at=None)
    assert not _oauth(access_token=None, status=ConnectionStatus.NOT_CONNECTED)
    # A token whose grant is dead is served while it lasts; status says why.
    assert _oauth(expires_at=future, status=ConnectionStatus.NEEDS_REAUTH)


class _Graph(BaseHTTPRequestHandler):
    requests: list = []

    def do_GET(self):
        _Graph.requests.append(self.headers.get("Authorization"))
        body = b'{"value": []}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_usage_pattern_sends_no_bearer_none_for_org_without_token(service, as_key):
    graph = HTTPServer(("127.0.0.1", 0), _Graph)
    threading.Thread(target=graph.serve_forever, daemon=True).start()
    graph_url = f"http://127.0.0.1:{graph.server_port}/v1.0/users"
    _Graph.requests = []
    as_key(service.new_key(admin.ROLE_WORKER, "org-no-token"))

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
        assert run(sync_users()) == {"error": "Integration not configured"}
        assert _Graph.requests == []  # and certainly no "Bearer None"
    finally:
        graph.shutdown()


def test_integration_data_exposes_config_secret_keys(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))
    msft = run(integrations.get("Microsoft_Graph"))
    assert msft.config_secret_keys == ["api_key"]
    assert msft.config["api_key"] == "default-secret"  # the attribute holds the value


SECRETS = ("default-secret", "org-123-access", "org-123-refresh", "client-secret-1")


def test_printing_or_logging_integration_data_shows_no_secret(service, as_key, capsys, caplog):
    as_key(service.admin_key)  # an admin key also gets the client secret
    msft = run(integrations.get("Microsoft_Graph", org_id="org-123"))
    assert msft.oauth.client_secret == "client-secret-1"
    print(msft)
    print(msft.oauth)
    with caplog.at_level(logging.INFO):
        logging.getLogger("workflow").info("got %s and %r", msft, msft)
    shown = [repr(msft), str(msft), f"{msft}", pprint.pformat(msft), pprint.pformat([msft]),
             capsys.readouterr().out, caplog.text]
    for text in shown:
        for secret in SECRETS:
            assert secret not in text, (secret, text)
    # What is not secret still shows, and the secret key is named.
    assert "acme.onmicrosoft.com" in repr(msft) and "'api_key': 'REDACTED'" in repr(msft)
    assert "tenant-456" in repr(msft) and "status='CONNECTED'" in repr(msft)


def test_printing_a_mapping_shows_its_config_keys_not_values(service, as_key):
    as_key(service.admin_key)
    run(integrations.upsert_mapping("HaloPSA", "org-secret", "halo-9", config={"custom_field": "might-be-secret"}))
    try:
        mapping = run(integrations.get_mapping("HaloPSA", org_id="org-secret"))
        assert "might-be-secret" not in repr(mapping) and "might-be-secret" not in str(mapping)
        assert "custom_field" in repr(mapping) and "halo-9" in repr(mapping)
        assert mapping.config == {"custom_field": "might-be-secret"}
    finally:
        run(integrations.delete_mapping("HaloPSA", "org-secret"))
