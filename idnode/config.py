"""Settings: command-line flags over environment (``IDNODE_*``) over a TOML file over defaults."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any

import dns.exception
import dns.name

from idnode.model.enterprise import YANCHENG_DISTRICTS
from idnode.model.identifier import MAX_HANDLE_BYTES, canonical_prefix
from idnode.signing import ALGORITHMS
from idnode.storage.engine import sqlite_url

ENV_PREFIX = "IDNODE_"
RESOLUTION_MODES = ("referral", "recursive")
NOTIFIERS = ("log", "webhook", "smtp")
DISCOVERY_SOURCES = {"upper": ("upper",), "dns": ("dns",), "both": ("upper", "dns")}


@dataclass(frozen=True)
class Settings:
    """Everything a node needs to start. ``db`` empty means the SQLite file in ``data_dir``."""

    data_dir: Path = Path("./data")
    db: str = ""
    node_prefix: str = "88.999"
    host: str = "127.0.0.1"
    port: int = 8000
    districts: tuple[str, ...] = YANCHENG_DISTRICTS
    target_enterprises: int = 3500
    target_deadline: str = ""  # ISO date by which the target should be reached; "" = none
    district_quotas: dict[str, int] = field(default_factory=dict)  # optional enterprises per district
    max_page_size: int = 1000
    public_stats: bool = False
    keys_dir: Path | None = None
    key_algorithm: str = "ed25519"
    signature_lifetime_days: int = 365
    sign_records: bool = True
    workers: int = 1
    cache_bytes: int = 256 * 1024 * 1024
    negative_cache_seconds: float = 5.0
    cache_staleness_seconds: float = 1.0
    redis: str = ""
    count_resolutions: bool = True
    resolution_flush_seconds: float = 5.0
    http: bool = True  # serve HTTP on host:port (false: only DNS)
    dns: str = ""  # "HOST:PORT" to answer DNS on, UDP and TCP ("" = no DNS)
    dns_zone: str = "idnode.test."
    dns_nameserver: str = "localhost."  # the zone's NS and SOA MNAME: this server's public name
    upstream_url: str = ""  # the top-level node's report endpoint; "" = reports stay queued
    upstream_batch: int = 500
    upstream_timeout_seconds: float = 30.0
    upstream_max_backoff_seconds: float = 300.0
    public_url: str = ""  # how other nodes and clients reach this one; "" = http://<host>:<port>
    upper_node: str = ""  # URL of the node answering GET /api/prefixes/{prefix} (prefixes not held here)
    discovery: str = "upper"  # where foreign prefixes are looked up: upper | dns | both
    discovery_zone: str = ""  # DNS zone of the _handle._tcp SRV/TXT records (discovery dns or both)
    discovery_nameserver: str = ""  # host[:port] to ask instead of the system's resolvers
    resolution_mode: str = "referral"  # for prefixes not held here: referral (302) | recursive
    referral_cache_seconds: float = 300.0  # how long where a prefix lives is remembered
    peer_timeout_seconds: float = 5.0  # for every request to another node
    trust_anchor: Path | None = None  # root public key other nodes' signing keys must chain to
    mirror_of: str = ""  # primary node URL: serve its records read-only, following its log
    mirror_credential: str = ""  # "<index>:<handle>:<secret>" for the primary's log (unless public)
    mirror_poll_seconds: float = 1.0
    snms_token_seconds: int = 86400  # lifetime of an SNMS bearer token (the SNMS docs: 24 h)
    snms_day_salted_login: bool = False  # keep sha256(secret) at plaintext logins for /identity/token/v1
    public_log: bool = False  # let anyone read /api/log/entries (it names every handle changed)
    login_failures_per_account: int = 10  # failed logins before an account is refused (0 = no limit)
    login_failures_per_client: int = 100  # failed logins before a client address is refused (0 = none)
    login_failure_window_seconds: float = 300.0  # how long a refusal lasts, from the first failure
    # Limits (see README "Limits and TLS" for the reason behind each default).
    max_body_bytes: int = 4 * 1024 * 1024  # a request body, except a bulk upload (413 beyond)
    max_bulk_body_bytes: int = 100 * 1024 * 1024  # a POST /api/bulk body
    max_handle_bytes: int = MAX_HANDLE_BYTES  # a new identifier, UTF-8; at most what the grammar allows
    max_values_per_record: int = 1000
    max_value_bytes: int = 128 * 1024  # one value's data as stored
    rate_limit_resolves: float = 5000.0  # reads per second per client and worker; 0 = no limit
    rate_limit_resolves_burst: int = 10000
    rate_limit_writes: float = 100.0  # writes (POST, PUT, PATCH, DELETE) per second per client and worker
    rate_limit_writes_burst: int = 1000
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For/-Proto are believed
    header_timeout_seconds: float = 10.0  # a request head must be complete this soon after it starts
    body_timeout_seconds: float = 60.0  # grace for a body; it must then keep arriving (see README)
    idle_timeout_seconds: float = 75.0  # a connection waiting for its next request
    shutdown_timeout_seconds: float = 30.0  # how long SIGTERM waits for requests in flight
    tls_cert: Path | None = None  # PEM certificate (chain): serve HTTPS instead of HTTP
    tls_key: Path | None = None  # its PEM private key
    require_tls_for_credentials: bool = True  # refuse credentials over plain HTTP except from loopback
    session_minutes: int = 480  # how long a portal or console sign-in lasts (a shift)
    portal_upload_bytes: int = 100 * 1024 * 1024  # largest file the portal's bulk upload accepts
    licence_max_bytes: int = 5 * 1024 * 1024  # largest business-licence upload (PDF, PNG, JPEG)
    licences_dir: Path | None = None  # where licence files are kept; None = <data_dir>/licences
    notifier: str = "log"  # how application notifications go out: log | webhook | smtp
    notify_webhook_url: str = ""  # the webhook notifier POSTs JSON here
    notify_operator_email: str = ""  # also mailed (smtp) when an application is submitted
    notify_timeout_seconds: float = 10.0
    notify_max_backoff_seconds: float = 300.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""  # the From address of notification mails
    config_file: Path | None = field(default=None, compare=False)

    @property
    def db_url(self) -> str:
        return self.db or sqlite_url(self.data_dir)

    @property
    def node_prefix_canonical(self) -> str:
        return canonical_prefix(self.node_prefix)

    @property
    def base_url(self) -> str:
        """This node's URL as others reach it."""
        scheme = "https" if self.tls_cert else "http"
        return (self.public_url or f"{scheme}://{self.host}:{self.port}").rstrip("/")

    @property
    def federated(self) -> bool:
        """Whether prefixes not held here are looked up (an upper node or DNS discovery is set)."""
        sources = self.discovery_sources
        return ("upper" in sources and bool(self.upper_node)) or (
            "dns" in sources and bool(self.discovery_zone)
        )

    @property
    def discovery_sources(self) -> tuple[str, ...]:
        try:
            return DISCOVERY_SOURCES[self.discovery]
        except KeyError:
            raise ValueError(f"discovery must be one of {', '.join(DISCOVERY_SOURCES)}") from None

    @property
    def target_deadline_date(self) -> date | None:
        try:
            return date.fromisoformat(self.target_deadline) if self.target_deadline else None
        except ValueError:
            raise ValueError(
                f"target_deadline must be a date like 2027-12-31, not {self.target_deadline!r}"
            ) from None

    @property
    def licences_path(self) -> Path:
        """Where uploaded business-licence files are stored (under generated names)."""
        return self.licences_dir or self.data_dir / "licences"

    @property
    def keys_path(self) -> Path:
        """Where the node's private signing keys live (mode 0600 files)."""
        return self.keys_dir or self.data_dir / "keys"

    @property
    def dns_address(self) -> tuple[str, int] | None:
        """(host, port) of the DNS listeners, from ``dns`` (``127.0.0.1:5353``, ``[::1]:53``)."""
        if not self.dns:
            return None
        host, colon, port = self.dns.rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"dns must be HOST:PORT, e.g. 127.0.0.1:5353, not {self.dns!r}")
        return host.removeprefix("[").removesuffix("]"), int(port)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """``trusted_proxies`` as networks (a bare address is a network of one)."""
        try:
            return tuple(ipaddress.ip_network(item, strict=False) for item in self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"trusted_proxies: {exc}") from None

    @property
    def key_algorithm_jws(self) -> str:
        try:
            return ALGORITHMS[self.key_algorithm]
        except KeyError:
            raise ValueError(f"key_algorithm must be one of {', '.join(ALGORITHMS)}") from None


def _coerce(name: str, raw: Any) -> Any:
    """Turn an environment/file value into the field's type."""
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind in ("Path", "Path | None"):
        return Path(raw)
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        return raw if isinstance(raw, bool) else str(raw).strip().lower() in {"1", "true", "yes", "on"}
    if kind == "dict[str, int]":
        pairs = (
            raw.items()
            if isinstance(raw, dict)
            else (p.split("=", 1) for p in str(raw).split(",") if p.strip())
        )
        return {str(k).strip(): int(v) for k, v in pairs}
    if kind == "tuple[str, ...]":
        items = raw if isinstance(raw, list) else str(raw).split(",")
        return tuple(item.strip() for item in items if item.strip())
    return str(raw)


def load_settings(flags: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Build settings from (highest first) ``flags``, ``environ``, the TOML config file, defaults.

    The config file is ``--config``/``IDNODE_CONFIG`` if given, else ``<data_dir>/idnode.toml`` if it
    exists. Flags whose value is None are ignored, so argparse defaults of None fall through.
    """
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    names = {f.name for f in fields(Settings)} - {"config_file"}
    from_env = {
        n: _coerce(n, environ[ENV_PREFIX + n.upper()]) for n in names if ENV_PREFIX + n.upper() in environ
    }

    data_dir = Path(flags.get("data_dir") or from_env.get("data_dir") or Settings.data_dir)
    config_file = flags.get("config") or environ.get(ENV_PREFIX + "CONFIG")
    path = Path(config_file) if config_file else data_dir / "idnode.toml"
    if config_file and not path.is_file():
        raise ValueError(f"config file {path} does not exist")
    from_file: dict[str, Any] = {}
    if path.is_file():
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
        unknown = set(raw) - names
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
        from_file = {n: _coerce(n, v) for n, v in raw.items()}

    merged = {**from_file, **from_env, **{n: _coerce(n, v) for n, v in flags.items() if n in names}}
    settings = replace(Settings(), **merged, config_file=path if path.is_file() else None)
    settings.node_prefix_canonical  # noqa: B018 -- validates the prefix early
    settings.key_algorithm_jws  # noqa: B018 -- and the key algorithm
    settings.target_deadline_date  # noqa: B018 -- and the deadline
    settings.dns_address  # noqa: B018 -- and the DNS listen address
    for name in (settings.dns_zone, settings.dns_nameserver):
        try:
            dns.name.from_text(name)
        except dns.exception.DNSException as exc:
            raise ValueError(f"{name!r} is not a DNS name: {exc}") from None
    if settings.snms_token_seconds < 1:
        raise ValueError("snms_token_seconds must be at least 1")
    if settings.upstream_batch < 1:
        raise ValueError("upstream_batch must be at least 1")
    settings.discovery_sources  # noqa: B018 -- and the discovery sources
    if settings.resolution_mode not in RESOLUTION_MODES:
        raise ValueError(f"resolution_mode must be one of {', '.join(RESOLUTION_MODES)}")
    _check_limits(settings)
    if settings.licence_max_bytes < 1:
        raise ValueError("licence_max_bytes must be at least 1")
    if settings.notifier not in NOTIFIERS:
        raise ValueError(f"notifier must be one of {', '.join(NOTIFIERS)}")
    if settings.notifier == "webhook" and not settings.notify_webhook_url:
        raise ValueError("notifier webhook needs notify_webhook_url")
    if settings.notifier == "smtp" and not (settings.smtp_host and settings.smtp_from):
        raise ValueError("notifier smtp needs smtp_host and smtp_from")
    unknown_districts = set(settings.district_quotas) - set(settings.districts)
    if unknown_districts:
        raise ValueError(
            f"district_quotas names districts that are not configured: {sorted(unknown_districts)}"
        )
    return settings


def _check_limits(settings: Settings) -> None:
    """Raise ValueError for limits that make no sense (or that the identifier grammar cannot honour)."""
    if not 1 <= settings.max_handle_bytes <= MAX_HANDLE_BYTES:
        raise ValueError(f"max_handle_bytes must be between 1 and {MAX_HANDLE_BYTES}")
    positive = ("max_body_bytes", "max_bulk_body_bytes", "max_values_per_record", "max_value_bytes")
    positive += ("header_timeout_seconds", "body_timeout_seconds", "idle_timeout_seconds")
    for name in positive:
        if getattr(settings, name) <= 0:
            raise ValueError(f"{name} must be positive")
    for kind in ("resolves", "writes"):
        rate, burst = getattr(settings, f"rate_limit_{kind}"), getattr(settings, f"rate_limit_{kind}_burst")
        if rate < 0 or (rate > 0 and burst < 1):
            raise ValueError(f"rate_limit_{kind} must be 0 (off) or positive, with a burst of at least 1")
    if settings.shutdown_timeout_seconds < 0:
        raise ValueError("shutdown_timeout_seconds must not be negative")
    settings.trusted_proxy_networks  # noqa: B018 -- validates the proxies' addresses
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise ValueError("tls_cert and tls_key go together: give both or neither")
