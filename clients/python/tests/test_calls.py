"""Errors, timeouts and configure(...), against a real integrationsd."""

import asyncio
import pickle

import grpc
import pytest

import bifrost
from bifrost import (BifrostError, DeadlineExceededError, InvalidArgumentError, PermissionDeniedError,
                     configure, integrations)
from bifrost.integrations.admin.v1 import admin_pb2 as admin


def run(coro):
    return asyncio.run(coro)


def test_permission_denied_is_both_permission_error_and_bifrost_error(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))
    with pytest.raises(PermissionError) as err:
        run(integrations.get("Microsoft_Graph", org_id="org-999"))
    assert isinstance(err.value, BifrostError) and isinstance(err.value, PermissionDeniedError)
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "org-999" in err.value.message


def test_invalid_argument_is_both_value_error_and_bifrost_error(service, as_key):
    as_key(service.new_key(admin.ROLE_WORKER, "org-123"))
    with pytest.raises(ValueError) as err:
        run(integrations.get("Microsoft_Graph", scope="everything"))
    assert isinstance(err.value, BifrostError) and isinstance(err.value, InvalidArgumentError)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT and "scope" in err.value.message


def test_sdk_errors_survive_pickling_with_code_and_message():
    for cls in (BifrostError, PermissionDeniedError, InvalidArgumentError, DeadlineExceededError):
        err = pickle.loads(pickle.dumps(cls(grpc.StatusCode.INTERNAL, "boom")))
        assert type(err) is cls and err.code == grpc.StatusCode.INTERNAL and err.message == "boom"


def test_every_call_accepts_a_timeout_and_succeeds_within_it(service, as_key):
    as_key(service.admin_key)

    async def calls():
        assert (await integrations.get("Microsoft_Graph", "org-123", timeout=10)).entity_id == "tenant-456"
        m = await integrations.upsert_mapping("HaloPSA", "org-timeout", "halo-t", timeout=10)
        assert m.entity_id == "halo-t"
        assert (await integrations.get_mapping("HaloPSA", "org-timeout", timeout=10)) == m
        assert "org-timeout" in [x.organization_id for x in await integrations.list_mappings("HaloPSA", timeout=10)]
        assert await integrations.delete_mapping("HaloPSA", "org-timeout", timeout=10) is True

    run(calls())


@pytest.mark.parametrize("call", [
    lambda t: integrations.get("Microsoft_Graph", "org-123", timeout=t),
    lambda t: integrations.list_mappings("Microsoft_Graph", timeout=t),
    lambda t: integrations.get_mapping("Microsoft_Graph", "org-123", timeout=t),
    lambda t: integrations.upsert_mapping("HaloPSA", "org-late", "halo-late", timeout=t),
    lambda t: integrations.delete_mapping("HaloPSA", "org-late", timeout=t),
], ids=["get", "list_mappings", "get_mapping", "upsert_mapping", "delete_mapping"])
def test_a_timeout_that_runs_out_raises_deadline_exceeded_a_timeout_error(service, as_key, call):
    as_key(service.admin_key)
    with pytest.raises(TimeoutError) as err:
        run(call(1e-6))
    assert isinstance(err.value, DeadlineExceededError) and err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_timeout_that_is_not_positive_is_a_value_error(service, as_key):
    as_key(service.admin_key)
    with pytest.raises(InvalidArgumentError):
        run(integrations.get("Microsoft_Graph", timeout=0))
    with pytest.raises(ValueError):
        configure(timeout=-1)


def test_configure_timeout_is_the_default_and_a_calls_timeout_overrides_it(service, as_key):
    as_key(service.admin_key)
    configure(timeout=1e-6)
    with pytest.raises(DeadlineExceededError):
        run(integrations.get("Microsoft_Graph", "org-123"))
    assert run(integrations.get("Microsoft_Graph", "org-123", timeout=10)).entity_id == "tenant-456"


def test_configure_sets_address_and_key_in_code_over_the_environment(service, monkeypatch):
    # The environment points nowhere useful: port 9 on loopback and a key that does not exist.
    monkeypatch.setenv("BIFROST_ADDR", "127.0.0.1:9")
    monkeypatch.setenv("BIFROST_API_KEY", "bfk_not-a-key")
    monkeypatch.delenv("BIFROST_ORG_ID", raising=False)
    configure(address=service.addr, api_key=service.new_key(admin.ROLE_WORKER, "org-123"))
    msft = run(integrations.get("Microsoft_Graph"))
    assert msft.entity_id == "tenant-456" and msft.oauth.access_token == "org-123-access"

    # Only the key in code: the address comes from the environment again.
    configure(api_key=service.admin_key)
    with pytest.raises(BifrostError) as err:
        run(integrations.get("Microsoft_Graph", timeout=5))
    assert err.value.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)

    # configure() returns to the environment alone: its key is refused.
    monkeypatch.setenv("BIFROST_ADDR", service.addr)
    configure()
    with pytest.raises(BifrostError) as err:
        run(integrations.get("Microsoft_Graph"))
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


def test_configure_is_exported_with_the_errors_and_a_version():
    assert bifrost.configure is configure
    assert isinstance(bifrost.__version__, str) and bifrost.__version__.count(".") == 2
    assert {"configure", "BifrostError", "PermissionDeniedError", "InvalidArgumentError",
            "DeadlineExceededError"} <= set(bifrost.__all__)
