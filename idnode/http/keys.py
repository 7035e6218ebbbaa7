"""Typed application keys shared by the HTTP handlers."""

from __future__ import annotations

from aiohttp import web

from idnode.config import Settings
from idnode.importing import Importer
from idnode.keyring import KeyRing
from idnode.registry import Registry
from idnode.resolver import Resolver
from idnode.stats import Stats
from idnode.translog import TransparencyLog

SETTINGS = web.AppKey("settings", Settings)
REGISTRY = web.AppKey("registry", Registry)
RESOLVER = web.AppKey("resolver", Resolver)
STATS = web.AppKey("stats", Stats)
KEYRING = web.AppKey("keyring", KeyRing)
LOG = web.AppKey("log", TransparencyLog)
IMPORTER = web.AppKey("importer", Importer)
METRICS = web.AppKey("metrics", "Metrics")
