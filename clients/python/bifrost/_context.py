"""The organization a workflow runs for."""

import contextlib
import contextvars
import functools
import os

_org_id: contextvars.ContextVar = contextvars.ContextVar("bifrost_org_id", default=None)


def current_org_id():
    """The organization calls are about when they name none: the running
    workflow's, else BIFROST_ORG_ID, else None (the API key's organization)."""
    return _org_id.get() or os.environ.get("BIFROST_ORG_ID") or None


@contextlib.contextmanager
def org_context(org_id: str):
    """Runs the block for organization org_id."""
    token = _org_id.set(org_id)
    try:
        yield
    finally:
        _org_id.reset(token)


def workflow(fn=None, *, org_id: str | None = None):
    """Marks an async function as a workflow. It runs for org_id when given, else
    for BIFROST_ORG_ID, else for the API key's organization."""

    def decorate(func):
        @functools.wraps(func)
        async def run(*args, **kwargs):
            org = org_id or os.environ.get("BIFROST_ORG_ID")
            if not org:
                return await func(*args, **kwargs)
            with org_context(org):
                return await func(*args, **kwargs)

        return run

    return decorate(fn) if fn is not None else decorate
