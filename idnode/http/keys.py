"""Typed application keys shared by the HTTP handlers."""

from __future__ import annotations

from aiohttp import web

from idnode.applications import Applications
from idnode.config import Settings
from idnode.data_templates import DataTemplates
from idnode.gs1_resolver import Gs1Resolver
from idnode.http.clients import Clients
from idnode.importing import Importer
from idnode.keyring import KeyRing
from idnode.mirror import MirrorFollower
from idnode.registry import Registry
from idnode.resolver import Resolver
from idnode.search import Searcher
from idnode.sessions import Sessions
from idnode.snms import Snms
from idnode.stats import Stats
from idnode.templates import TemplateCatalog
from idnode.translog import TransparencyLog

SETTINGS = web.AppKey("settings", Settings)
APPLICATIONS = web.AppKey("applications", Applications)
REGISTRY = web.AppKey("registry", Registry)
RESOLVER = web.AppKey("resolver", Resolver)
GS1_RESOLVER = web.AppKey("gs1_resolver", Gs1Resolver)
STATS = web.AppKey("stats", Stats)
SEARCHER = web.AppKey("searcher", Searcher)
KEYRING = web.AppKey("keyring", KeyRing)
LOG = web.AppKey("log", TransparencyLog)
TEMPLATES = web.AppKey("templates", TemplateCatalog)
IMPORTER = web.AppKey("importer", Importer)
SNMS = web.AppKey("snms", Snms)
DATA_TEMPLATES = web.AppKey("data_templates", DataTemplates)
SESSIONS = web.AppKey("sessions", Sessions)
METRICS = web.AppKey("metrics", "Metrics")
MIRROR = web.AppKey("mirror", MirrorFollower)  # only on a mirror
CLIENTS = web.AppKey("clients", Clients)  # client addresses and rate limits, shared with the fast path
