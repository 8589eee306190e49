"""Settings (SPEC §9): the process environment, then ``.env.local``, then ``.env`` in the working directory.

Unknown keys are ignored, so a Fearvana deployment's existing ``.env.local`` works unchanged. Every
problem becomes a :class:`ConfigurationError` that names the variable; secrets are ``SecretStr`` and
never printed.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fearvana_integration.domain.working_hours import WorkingHours, parse_durations, parse_event_type_map
from fearvana_integration.errors import ConfigurationError

SourceKind = Literal["crm", "scheduling", "email"]
SOURCE_KINDS: tuple[SourceKind, ...] = ("crm", "scheduling", "email")

KNOWN_PROVIDERS: dict[str, tuple[str, ...]] = {
    "crm": ("hubspot", "salesforce", "pipedrive", "mock"),
    "scheduling": ("calendly", "acuity", "google-calendar", "mock"),
    "email": ("sendgrid", "postmark", "aws-ses", "mock"),
}
PROVIDER_ALIASES: dict[str, dict[str, str]] = {
    "crm": {},
    "scheduling": {
        "google": "google-calendar",
        "googlecalendar": "google-calendar",
        "google_calendar": "google-calendar",
    },
    "email": {"ses": "aws-ses", "aws_ses": "aws-ses", "awsses": "aws-ses"},
}

# Variables a Supabase/Next.js deployment defines; their presence means "this is a real deployment".
SUPABASE_MARKERS = (
    "NEXT_PUBLIC_SUPABASE_URL",
    "SUPABASE_URL",
    "NEXT_PUBLIC_SUPABASE_ANON_KEY",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
)
ENV_FILES = (".env", ".env.local")  # later files win; the process environment wins over both
MIN_MAX_TOKENS = 50
_LATENCY_RE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def normalise_provider(kind: str, raw: str) -> str:
    """Canonical provider name for ``kind``, or a ConfigurationError with a "did you mean" hint."""
    name = raw.strip().lower()
    name = PROVIDER_ALIASES[kind].get(name, name)
    known = KNOWN_PROVIDERS[kind]
    if name in known:
        return name
    candidates = list(known) + list(PROVIDER_ALIASES[kind])
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f" Did you mean '{PROVIDER_ALIASES[kind].get(close[0], close[0])}'?" if close else ""
    raise ConfigurationError(f"Unknown {kind.upper()}_PROVIDER '{raw}'.{hint} Known providers: {', '.join(known)}")


def parse_latency_range(raw: str) -> tuple[int, int]:
    """``"N"`` or ``"MIN-MAX"`` milliseconds → (min, max)."""
    match = _LATENCY_RE.match(raw)
    if not match:
        raise ValueError("must be N or MIN-MAX milliseconds, e.g. 50-200")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    if high < low:
        raise ValueError("MIN must not exceed MAX")
    return low, high


LIFECYCLE_STAGES = ("onboarding", "active", "at-risk", "churned", "vip")


def parse_stage_map(raw: str) -> dict[str, str | None]:
    """``CRM_STAGE_MAP``: a JSON object {vendor value: our stage or null}; ``"*"`` is the fallback key."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f'must be a JSON object, e.g. {{"customer": "active"}} ({error.msg})') from None
    if not isinstance(value, dict) or not value:
        raise ValueError('must be a non-empty JSON object, e.g. {"customer": "active", "*": "onboarding"}')
    result: dict[str, str | None] = {}
    for key, stage in value.items():
        if stage is not None and stage not in LIFECYCLE_STAGES:
            raise ValueError(f"{key!r} maps to {stage!r}; stages are {', '.join(LIFECYCLE_STAGES)} or null")
        result[str(key).strip().casefold()] = stage
    return result


class Settings(BaseSettings):
    """Every setting of SPEC §9, by its environment-variable name (case-insensitive)."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, env_file=None, validate_default=True)

    # Providers
    crm_provider: str = "mock"
    scheduling_provider: str = "mock"
    email_provider: str = "mock"
    crm_enabled: bool = True
    scheduling_enabled: bool = True
    email_enabled: bool = True
    crm_api_key: SecretStr | None = None
    scheduling_api_key: SecretStr | None = None
    email_api_key: SecretStr | None = None
    crm_endpoint: str | None = None
    scheduling_endpoint: str | None = None
    email_endpoint: str | None = None
    email_from_address: str = "coach@fearvana.local"
    email_from_name: str = "Akshay from Fearvana"

    # CRM vendors (README "CRM providers"): per-vendor defaults apply when a mapping is not set
    crm_hubspot_api_version: str = "v3"
    crm_salesforce_client_id: str | None = None
    crm_salesforce_client_secret: SecretStr | None = None
    crm_salesforce_login_url: str | None = None
    crm_salesforce_api_version: str = "v62.0"
    crm_stage_property: str | None = None
    crm_stage_map: str | None = None
    crm_status_property: str | None = None
    crm_tags_property: str | None = None
    crm_sentiment_property: str | None = None

    # Scheduling vendors (README "Scheduling providers")
    scheduling_event_type_map: str | None = None
    scheduling_calendar_id: str | None = None
    scheduling_oauth_client_id: str | None = None
    scheduling_oauth_client_secret: SecretStr | None = None
    scheduling_oauth_refresh_token: SecretStr | None = None
    scheduling_oauth_token_url: str | None = None
    scheduling_calendly_organization: str | None = None
    scheduling_calendly_scope: Literal["organization", "user"] = "organization"
    scheduling_calendly_plan: Literal["trial", "paid", "enterprise"] = "paid"
    scheduling_acuity_user_id: str | None = None
    scheduling_google_service_account_file: str | None = None
    scheduling_google_subject: str | None = None
    scheduling_working_hours: str = "mon-fri 09:00-17:00"
    scheduling_time_zone: str = "UTC"
    scheduling_buffer_minutes: int = Field(0, ge=0, le=240)
    scheduling_slot_step_minutes: int = Field(30, ge=5, le=240)
    scheduling_durations: str | None = None

    # Cache
    cache_enabled: bool = True
    cache_default_ttl: int = Field(300, ge=0)
    cache_ttl_profile_seconds: int = Field(300, ge=0)
    cache_ttl_life_areas_seconds: int = Field(120, ge=0)
    cache_ttl_crm_seconds: int = Field(600, ge=0)
    cache_ttl_scheduling_seconds: int = Field(60, ge=0)
    cache_max_size: int = Field(10000, ge=1)
    cache_stale_max_seconds: int = Field(86400, ge=0)
    cache_timeout_ms: int = Field(500, ge=1, le=5000, description="each cache operation; slower is a miss")
    cache_backend: Literal["memory", "redis"] = "memory"
    redis_url: SecretStr | None = None

    # Fault tolerance
    circuit_breaker_threshold: int = Field(5, ge=1)
    circuit_breaker_timeout: int = Field(60000, ge=1, description="milliseconds (seed name kept)")
    store_breaker_open_seconds: float = Field(5, gt=0, le=3600)
    source_timeout_ms: int = Field(2000, ge=1)
    context_deadline_ms: int = Field(3000, ge=1)
    store_timeout_ms: int | None = Field(None, ge=1)
    crm_timeout_ms: int | None = Field(None, ge=1)
    scheduling_timeout_ms: int | None = Field(None, ge=1)
    email_timeout_ms: int | None = Field(None, ge=1)

    # Store
    database_url: SecretStr = SecretStr("sqlite:///fearvana.db")
    db_pool_size: int = Field(10, ge=1, le=100)
    db_connect_timeout_seconds: float = Field(30, gt=0)
    db_statement_timeout_ms: int = Field(10000, ge=1)
    audit_spool_dir: Path | None = None

    # Scheduling rules
    booking_horizon_days: int = Field(365, ge=1, le=3650)

    # Tokens
    tokenizer_encoding: Literal["o200k_base", "cl100k_base"] = "o200k_base"
    context_default_max_tokens: int = Field(8000, ge=MIN_MAX_TOKENS)
    context_reserved_tokens: int = Field(0, ge=0)
    context_token_margin_percent: float = Field(0, ge=0, lt=100)

    # HTTP auth
    supabase_jwt_secret: SecretStr | None = None
    supabase_jwks_url: str | None = None
    supabase_jwt_audience: str = "authenticated"
    auth_max_failures: int = Field(5, ge=1)
    auth_failure_window_seconds: int = Field(900, ge=1)
    auth_block_seconds: int = Field(900, ge=1)
    trusted_proxies: str | None = None

    # HTTP server limits (`serve`; README "The HTTP service")
    http_max_header_bytes: int = Field(16384, ge=1024, le=1048576)
    http_max_headers: int = Field(100, ge=10, le=1000)
    http_header_timeout_seconds: float = Field(10, gt=0, le=300)
    http_keep_alive_seconds: int = Field(5, ge=1, le=300)
    http_max_connections: int = Field(1000, ge=1, le=100000)
    http_shutdown_timeout_seconds: int = Field(20, ge=1, le=3600)

    # Health
    health_ping_cache_seconds: int = Field(30, ge=0)

    # Mock providers
    mock_latency_ms: str = "50-200"
    mock_failure_rate: float = Field(0, ge=0, le=1)
    crm_mock_failure_rate: float | None = Field(None, ge=0, le=1)
    scheduling_mock_failure_rate: float | None = Field(None, ge=0, le=1)
    email_mock_failure_rate: float | None = Field(None, ge=0, le=1)
    mock_seed: int = 0

    # Logging
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] = "json"

    @field_validator("crm_provider", "scheduling_provider", "email_provider", mode="before")
    @classmethod
    def _provider_name(cls, value: object, info: Any) -> str:
        kind = str(info.field_name).removesuffix("_provider")
        return normalise_provider(kind, str(value))

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("cache_backend", "log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("mock_latency_ms")
    @classmethod
    def _latency(cls, value: str) -> str:
        parse_latency_range(value)
        return value.strip()

    @field_validator("crm_hubspot_api_version")
    @classmethod
    def _hubspot_version(cls, value: str) -> str:
        text = value.strip()
        if text != "v3" and not re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", text):
            raise ValueError("must be v3 or a date version such as 2026-03")
        return text

    @field_validator("crm_salesforce_api_version")
    @classmethod
    def _salesforce_version(cls, value: str) -> str:
        text = value.strip()
        if not re.fullmatch(r"v\d{2,3}\.0", text):
            raise ValueError("must look like v62.0")
        return text

    @field_validator("scheduling_event_type_map")
    @classmethod
    def _event_type_map(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_event_type_map(value)
        return value.strip()

    @field_validator("scheduling_durations")
    @classmethod
    def _durations(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_durations(value)
        return value.strip()

    @field_validator("scheduling_working_hours")
    @classmethod
    def _working_hours(cls, value: str) -> str:
        WorkingHours.parse(value)
        return value.strip()

    @field_validator("scheduling_time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        WorkingHours.parse("mon 09:00-10:00", value.strip())
        return value.strip()

    @field_validator("crm_stage_map")
    @classmethod
    def _stage_map(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_stage_map(value)
        return value.strip()

    @field_validator(
        "crm_endpoint",
        "scheduling_endpoint",
        "email_endpoint",
        "supabase_jwks_url",
        "crm_salesforce_login_url",
        "scheduling_oauth_token_url",
    )
    @classmethod
    def _http_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        """Where credentials go (a bearer token, an API key, client secrets) or keys come from: https only,
        except on a loopback host (a local fake, a tunnel). The value is not repeated: it may hold a user."""
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
            raise ConfigurationError(
                f"Invalid environment variable {str(info.field_name).upper()}: must be an https:// URL "
                "(http:// only for a loopback host: 127.0.0.1, ::1, localhost), e.g. https://api.hubapi.com"
            )
        if not parts.hostname:
            raise ConfigurationError(
                f"Invalid environment variable {str(info.field_name).upper()}: must be a URL with a host, "
                "e.g. https://api.hubapi.com"
            )
        return value.strip().rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if not url.startswith(
            ("sqlite:///", "sqlite+aiosqlite:///", "postgresql://", "postgres://", "postgresql+asyncpg://")
        ):
            raise ValueError("must start with sqlite:///, postgresql:// or postgres://")
        return SecretStr(url)

    @model_validator(mode="after")
    def _required_keys(self) -> Settings:
        from fearvana_integration.adapters.registry import adapter_class  # the registry imports this module

        for kind in SOURCE_KINDS:
            if not self.enabled(kind) or self.provider(kind) == "mock":
                continue
            cls = adapter_class(kind, self.provider(kind))  # not implemented: say that first, not "missing key"
            if kind == "crm" and self.crm_provider == "salesforce":
                # Salesforce signs in with OAuth client credentials, not an API key.
                for name in ("crm_salesforce_client_id", "crm_salesforce_client_secret", "crm_salesforce_login_url"):
                    value = getattr(self, name)
                    text = value.get_secret_value() if isinstance(value, SecretStr) else value
                    if text is None or not text.strip():
                        raise ConfigurationError(
                            f"Missing required environment variable: {name.upper()} (CRM_PROVIDER=salesforce)"
                        )
                continue
            problem = cls.missing_settings(self)
            if problem is not None:
                raise ConfigurationError(problem)
        if self.cache_backend == "redis" and self.redis_url is None:
            raise ConfigurationError("Missing required environment variable: REDIS_URL (CACHE_BACKEND=redis)")
        return self

    # Derived values -------------------------------------------------------------------------------

    def provider(self, kind: SourceKind) -> str:
        """The configured provider name of ``kind``."""
        return str(getattr(self, f"{kind}_provider"))

    def enabled(self, kind: SourceKind) -> bool:
        """Whether ``kind`` is switched on."""
        return bool(getattr(self, f"{kind}_enabled"))

    def timeout_seconds(self, source: str) -> float:
        """Per-source timeout: ``<SOURCE>_TIMEOUT_MS`` or ``SOURCE_TIMEOUT_MS``."""
        field = "store_timeout_ms" if source == "supabase" else f"{source}_timeout_ms"
        override = getattr(self, field, None)
        return (override if override is not None else self.source_timeout_ms) / 1000

    def mock_failure_rate_for(self, kind: SourceKind) -> float:
        """``<KIND>_MOCK_FAILURE_RATE`` or ``MOCK_FAILURE_RATE``."""
        override = getattr(self, f"{kind}_mock_failure_rate")
        return float(override if override is not None else self.mock_failure_rate)

    @property
    def mock_latency_range_ms(self) -> tuple[int, int]:
        """``MOCK_LATENCY_MS`` parsed."""
        return parse_latency_range(self.mock_latency_ms)

    @property
    def database_backend(self) -> Literal["sqlite", "postgres"]:
        """Which store ``DATABASE_URL`` selects."""
        return "sqlite" if self.database_url.get_secret_value().startswith("sqlite") else "postgres"

    def audit_spool_root(self) -> Path:
        """Where audit events wait on disk before the table takes them (``AUDIT_SPOOL_DIR``, else the
        user's state directory: it must outlive the process, so not a temporary directory)."""
        if self.audit_spool_dir is not None:
            return self.audit_spool_dir
        state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(state) / "fearvana-integration" / "audit-spool"

    def effective(self) -> list[tuple[str, str]]:
        """(ENV_NAME, printable value) for every setting; secrets masked, URL passwords hidden."""
        rows: list[tuple[str, str]] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if name == "database_url":
                shown = mask_url(value.get_secret_value())
            elif isinstance(value, SecretStr):
                shown = "********"
            elif value is None:
                shown = "(not set)"
            else:
                shown = str(value).lower() if isinstance(value, bool) else str(value)
            rows.append((name.upper(), shown))
        return rows


def _loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or ``localhost``: traffic that never leaves the machine."""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``****``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit((parts.scheme, f"{user}:****@{host}", parts.path, parts.query, parts.fragment))


def _format_validation_error(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        env_name = field.upper()
        secret = any(word in field for word in ("key", "secret", "url", "token"))
        got = "" if secret or "input" not in item else f" (got {item['input']!r})"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(f"Invalid environment variable {env_name}: {message}{got}")
    return "; ".join(problems)


def load_settings(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None, read_env_files: bool = True
) -> Settings:
    """Build :class:`Settings` from ``environ`` (default: the process environment) and the .env files.

    Raises :class:`ConfigurationError` naming the variable for any invalid or missing setting,
    and when a Supabase deployment's variables are present without ``DATABASE_URL``.
    """
    base = Path.cwd() if cwd is None else cwd
    files = [base / name for name in ENV_FILES] if read_env_files else []
    merged: dict[str, str] = {}
    for path in files:
        if path.is_file():
            merged.update({k.upper(): v for k, v in dotenv_values(path).items() if v is not None})
    env = dict(os.environ if environ is None else environ)
    merged.update({k.upper(): v for k, v in env.items()})

    present_markers = [name for name in SUPABASE_MARKERS if merged.get(name)]
    if present_markers and not merged.get("DATABASE_URL"):
        raise ConfigurationError(
            f"{present_markers[0]} is set but DATABASE_URL is not: set DATABASE_URL to the Supabase "
            "Postgres connection string (refusing to fall back to the demo SQLite file)"
        )
    known = {name.upper() for name in Settings.model_fields}
    # An empty value means "not set", as in most .env tooling.
    values = {k.lower(): v for k, v in merged.items() if k in known and v.strip() != ""}
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigurationError(_format_validation_error(error)) from None


__all__ = [
    "KNOWN_PROVIDERS",
    "MIN_MAX_TOKENS",
    "SOURCE_KINDS",
    "Settings",
    "SourceKind",
    "load_settings",
    "mask_url",
    "normalise_provider",
    "parse_latency_range",
    "parse_stage_map",
]
