"""Typed application keys shared by the HTTP handlers."""

from __future__ import annotations

from aiohttp import web

from idnode.config import Settings
from idnode.registry import Registry
from idnode.resolver import Resolver
from idnode.stats import Stats

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", Registry)
RESOLVER = web.AppKey("resolver", Resolver)
STATS = web.AppKey("stats", Stats)
