"""Request parameters as the SNMS business API checks them, with the Chinese messages it answers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idnode.model.errors import IdnodeError


def required_text(
    body: Mapping[str, Any], key: str, limit: int, error: type[IdnodeError], where: str = ""
) -> str:
    """The string parameter ``key`` of ``body`` (``where`` names the object it is in, e.g.
    ``items[0].``); raise ``error`` if it is missing, empty, not a string or longer than ``limit``."""
    raw = body.get(key)
    if raw is None or raw == "":
        raise error(f"缺少必要的请求参数: {where}{key}")
    if not isinstance(raw, str):
        raise error(f"参数{where}{key}必须是字符串")
    if len(raw) > limit:
        raise error(f"参数{where}{key}长度不能超过{limit}")
    return raw
