"""The HTTP service under test: a TestClient on the demo database, keys of our own, logs captured."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from fearvana_integration.config import load_settings
from fearvana_integration.observability.logging import formatter
from fearvana_integration.service.app import create_app
from fearvana_integration.service.auth import mint_token
from fearvana_integration.store.demo import demo_customer_id, demo_specs

SECRET = "test-secret-for-the-http-suite-0123456789abcdef"
AUDIENCE = "authenticated"
JWKS_URL = "https://project.supabase.example/auth/v1/.well-known/jwks.json"
DEMO = demo_customer_id("demo@fearvana.local")
HEAVY = demo_customer_id("heavy@fearvana.local")


@dataclass
class Keys:
    """RSA keys served as a JWKS by a fake issuer (httpx.MockTransport), rotatable."""

    published: dict[str, Any] = field(default_factory=dict)
    private: dict[str, Any] = field(default_factory=dict)
    fetches: int = 0

    def add(self, kid: str) -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private[kid] = key
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        self.published[kid] = {**public, "kid": kid, "alg": "RS256", "use": "sig"}

    def rotate_to(self, kid: str) -> None:
        self.add(kid)
        self.published = {kid: self.published[kid]}

    def sign(self, kid: str, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private[kid], algorithm="RS256", headers={"kid": kid})

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            assert str(request.url) == JWKS_URL
            self.fetches += 1
            return httpx.Response(200, json={"keys": list(self.published.values())})

        return httpx.MockTransport(handle)


def customer_token(customer: UUID, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"sub": str(customer), "role": "authenticated", "aud": AUDIENCE, "iat": now, "exp": now + 600}
    claims.update(overrides)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, SECRET, algorithm="HS256")


def service_token() -> str:
    return mint_token(SECRET, subject=None, audience=AUDIENCE)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class LogCapture(logging.Handler):
    """Every log line, formatted exactly as the service writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(formatter("json"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(autouse=True)
def logs() -> Iterator[LogCapture]:
    """Captures every log line of the test and fails it if any holds a demo email, a phone or a token."""
    capture = LogCapture()
    root = logging.getLogger()
    root.addHandler(capture)
    issued: list[str] = []
    _ISSUED.append(issued)
    yield capture
    root.removeHandler(capture)
    _ISSUED.pop()
    secrets_seen = [spec.email for spec in demo_specs(12)] + ["+1 415 555 0134", SECRET] + issued
    for line in capture.lines:
        for secret in secrets_seen:
            assert secret not in line, f"{secret[:12]}… leaked into a log line: {line[:200]}"
        assert "eyJ" not in line, f"a JWT leaked into a log line: {line[:200]}"


_ISSUED: list[list[str]] = []


def remember(token: str) -> str:
    """Register a token the log check must not find."""
    if _ISSUED:
        _ISSUED[-1].append(token)
    return token


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(demo_db: Path) -> Iterator[AppFactory]:
    """A started service (lifespan run) with settings overridable per test, and its fake JWKS issuer."""
    clients: list[TestClient] = []

    def factory(keys: Keys | None = None, **env: str) -> TestClient:
        values = {
            "DATABASE_URL": f"sqlite:///{demo_db}",
            "MOCK_LATENCY_MS": "0",
            "SUPABASE_JWT_SECRET": SECRET,
            "LOG_LEVEL": "INFO",
            **env,
        }
        http = httpx.AsyncClient(transport=keys.transport()) if keys else None
        if keys:
            values["SUPABASE_JWKS_URL"] = JWKS_URL
        app = create_app(load_settings(values, read_env_files=False), http_client=http)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield factory
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: AppFactory) -> TestClient:
    return make_client()
