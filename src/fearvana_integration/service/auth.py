"""Supabase JWTs: HS256 with ``SUPABASE_JWT_SECRET``, or asymmetric keys from ``SUPABASE_JWKS_URL``.

Signature, expiry and audience are checked. Role ``authenticated`` (``sub`` = the customer's UUID)
acts for that customer only; ``service_role`` (the AI backend; ``aud`` optional, no ``sub``) for
anyone. JWKS keys are cached and fetched again when a token names a key id we do not know (key
rotation), at most once every few seconds so a flood of forged ``kid`` values cannot hammer the
issuer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import httpx
import jwt
import structlog

from fearvana_integration.config import Settings
from fearvana_integration.errors import AuthenticationFailed, Forbidden

log = structlog.get_logger("fearvana_integration.auth")
ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "EdDSA")
# The JWK key type each asymmetric algorithm verifies with (``kty``).
KEY_TYPES = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
JWKS_REFRESH_MIN_SECONDS = 5.0
Role = Literal["authenticated", "service_role"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: a customer (``subject``) or the service."""

    role: Role
    subject: UUID | None

    @property
    def is_service(self) -> bool:
        """Whether this is the AI backend's service role."""
        return self.role == "service_role"

    @property
    def actor(self) -> str:
        """How the audit trail names this caller."""
        return "service" if self.is_service else f"customer:{self.subject}"

    def may_act_for(self, customer_id: UUID) -> bool:
        """Service: anyone; a customer: only themselves."""
        return self.is_service or self.subject == customer_id


class TokenVerifier:
    """Verifies bearer tokens; raises AuthenticationFailed (401) or Forbidden (403)."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.secret = settings.supabase_jwt_secret.get_secret_value() if settings.supabase_jwt_secret else None
        self.jwks_url = settings.supabase_jwks_url
        self.audience = settings.supabase_jwt_audience
        self.http = http
        self._keys: dict[str, _Key] = {}
        self._fetched_at = 0.0

    async def verify(self, token: str) -> Principal:
        """The principal a valid token stands for.

        Whatever keeps a token from being verified — a malformed header, a key of another type than its
        algorithm, claims the JWT library chokes on — is AuthenticationFailed, never anything else.
        """
        try:
            return await self._verify(token)
        except (AuthenticationFailed, Forbidden):
            raise
        except Exception as error:  # an unverifiable token is an invalid one, whatever broke
            log.warning("token could not be verified", error_type=type(error).__name__)
            raise AuthenticationFailed("Invalid token") from None

    async def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationFailed("Malformed bearer token") from None
        algorithm = header.get("alg")
        if algorithm == "HS256":
            if self.secret is None:
                raise AuthenticationFailed("HS256 tokens are not accepted here (no SUPABASE_JWT_SECRET)")
            key: Any = self.secret
        elif isinstance(algorithm, str) and algorithm in ASYMMETRIC:
            jwk = await self._jwks_key(header.get("kid"))
            if jwk.key_type != KEY_TYPES[algorithm[:2]] or jwk.algorithm not in (None, algorithm):
                raise AuthenticationFailed("Token algorithm does not match its key")
            key = jwk.key
        else:
            raise AuthenticationFailed("Unsupported token algorithm")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                options={"require": ["exp"], "verify_aud": False},
                leeway=5,
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationFailed("Token expired") from None
        except jwt.PyJWTError:
            raise AuthenticationFailed("Invalid token signature or claims") from None
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> Principal:
        role = claims.get("role")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience] if audience is not None else []
        if role == "service_role":
            if audiences and self.audience not in audiences:
                raise AuthenticationFailed("Token audience is not accepted")
            return Principal("service_role", None)
        if self.audience not in audiences:
            raise AuthenticationFailed("Token audience is not accepted")
        if role != "authenticated":
            raise Forbidden(f"Role {str(role)[:40]!r} may not use this service")
        try:
            subject = UUID(str(claims.get("sub")))
        except ValueError:
            raise AuthenticationFailed("Token subject is not a customer id") from None
        return Principal("authenticated", subject)

    async def _jwks_key(self, kid: object) -> _Key:
        if self.jwks_url is None:
            raise AuthenticationFailed("Asymmetric tokens are not accepted here (no SUPABASE_JWKS_URL)")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationFailed("Token has no key id")
        if kid not in self._keys and time.monotonic() - self._fetched_at >= JWKS_REFRESH_MIN_SECONDS:
            await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise AuthenticationFailed("Token signed with an unknown key")
        return key

    async def _refresh(self) -> None:
        """Fetch the JWKS again. A document that cannot be read keeps the keys we had; an entry that is
        not a usable signing key is skipped (with a warning) without hiding the others."""
        self._fetched_at = time.monotonic()
        assert self.jwks_url is not None
        try:
            response = await self.http.get(self.jwks_url, timeout=5)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError, json.JSONDecodeError) as error:
            log.warning("could not refresh the JWKS", error=type(error).__name__)
            return
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            log.warning("could not refresh the JWKS", error="no list of keys")
            return
        keys: dict[str, _Key] = {}
        for entry in entries:
            kid = entry.get("kid") if isinstance(entry, dict) else None
            if not isinstance(kid, str) or not kid:
                continue
            try:
                declared = entry.get("alg")
                keys[kid] = _Key(
                    jwt.PyJWK(entry).key, str(entry.get("kty")), declared if isinstance(declared, str) else None
                )
            except Exception as error:  # an unusable key (unknown type, bad numbers) is skipped
                log.warning("skipping an unusable JWKS key", kid=kid[:64], error=type(error).__name__)
        self._keys = keys


@dataclass(frozen=True)
class _Key:
    """A JWKS signing key: the key, its type (``kty``) and the algorithm it is published for, if any."""

    key: Any
    key_type: str
    algorithm: str | None


def mint_token(secret: str, *, subject: UUID | None, audience: str, ttl_seconds: int = 3600) -> str:
    """An HS256 token like Supabase issues: for a customer, or (``subject=None``) the service role."""
    now = int(time.time())
    claims: dict[str, Any] = {"iat": now, "exp": now + ttl_seconds, "iss": "fearvana-integration"}
    if subject is None:
        claims["role"] = "service_role"
    else:
        claims.update({"role": "authenticated", "sub": str(subject), "aud": audience})
    return jwt.encode(claims, secret, algorithm="HS256")
