"""model_dump() and model_dump_json() for the SDK's dataclasses.

The SDK page declares its types as pydantic BaseModels; these two methods are
the ones callers use on them, without a dependency on pydantic (Debian ships
pydantic 1, which has neither).
"""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import datetime
from typing import Any


def _dump(value: Any, mode: str) -> Any:
    if isinstance(value, Model):
        return value.model_dump(mode=mode)
    if isinstance(value, dict):
        return {k: _dump(v, mode) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_dump(v, mode) for v in value]
    if mode == "json":
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, enum.Enum):
            return value.value
    return value


class Model:
    """Base of the SDK's dataclasses: pydantic's model_dump and model_dump_json.

    Both return every field, secrets included (asking for a dump is explicit;
    repr and str are what redact)."""

    def model_dump(self, *, mode: str = "python") -> dict[str, Any]:
        """Every field as a dict, nested objects as dicts too. mode="python"
        keeps datetimes and enums; mode="json" gives only JSON types."""
        if mode not in ("python", "json"):
            raise ValueError(f'mode must be "python" or "json", not {mode!r}')
        return {f.name: _dump(getattr(self, f.name), mode) for f in dataclasses.fields(self)}

    def model_dump_json(self, *, indent: int | None = None) -> str:
        """model_dump(mode="json") as a JSON string (compact unless indent)."""
        separators = (",", ":") if indent is None else None
        return json.dumps(self.model_dump(mode="json"), indent=indent, separators=separators, ensure_ascii=False)
