"""Running an app factory under uvicorn the way ``fearvana-integration serve`` does (benchmarks reuse it).

HTTP limits are on by default (the ``HTTP_*`` settings, README "The HTTP service"): request heads are
bounded in size, header count and read time by :mod:`fearvana_integration.service.http_limits`;
uvicorn's own options cap connections (503 beyond), idle keep-alive and the graceful shutdown. TLS,
when asked for, is 1.2 or newer.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import uvicorn

from fearvana_integration.config import Settings, load_settings
from fearvana_integration.errors import ConfigurationError
from fearvana_integration.service.http_limits import HttpLimits, limited_protocol

APP_FACTORY = "fearvana_integration.service.app:create_served_app"

HttpImplementation = Literal["limits", "httptools", "h11"]
"""``limits``: what ``serve`` runs. ``httptools`` (uvicorn's, no head limits) and ``h11`` (uvicorn's
pure-Python parser) exist for the benchmark's comparison only."""


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain (PEM) and its private key (PEM; ``None`` when the key is in the chain file)."""

    certfile: Path
    keyfile: Path | None


def check_tls_files(certfile: str | None, keyfile: str | None) -> TlsFiles | None:
    """``--ssl-certfile`` / ``--ssl-keyfile`` checked before anything starts: ``None`` without TLS.

    Raises :class:`ConfigurationError` (one line) for a key without a certificate, a missing or
    unreadable file, or files that are not a matching PEM certificate and key — uvicorn would only
    fail later, in the worker, with a traceback.
    """
    if certfile is None:
        if keyfile is not None:
            raise ConfigurationError("--ssl-keyfile needs --ssl-certfile (the certificate chain, PEM)")
        return None
    files = TlsFiles(Path(certfile), Path(keyfile) if keyfile is not None else None)
    for flag, path in (("--ssl-certfile", files.certfile), ("--ssl-keyfile", files.keyfile)):
        if path is None:
            continue
        if not path.is_file():
            raise ConfigurationError(f"{flag} {path}: {'not a file' if path.exists() else 'no such file'}")
        if not os.access(path, os.R_OK):
            raise ConfigurationError(f"{flag} {path}: not readable by this user")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(files.certfile, files.keyfile)
    except (ssl.SSLError, OSError) as error:
        raise ConfigurationError(
            f"--ssl-certfile {files.certfile} / --ssl-keyfile {files.keyfile or '(in the certificate file)'}: "
            f"{_tls_cause(error)}; give a PEM certificate chain and its private key"
        ) from None
    return files


def _tls_cause(error: OSError) -> str:
    """OpenSSL's terse reasons, in words."""
    reason = getattr(error, "reason", None)
    text = str(error)
    if reason == "KEY_VALUES_MISMATCH":
        return "the private key does not belong to the certificate"
    if "PEM lib" in text or reason in ("NO_START_LINE", "BAD_END_LINE"):
        return "not a PEM certificate and key"
    return f"unusable ({reason or error.strerror or text})"


def tls_context(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context (certificate, key) with TLS 1.0 and 1.1 refused: both are deprecated (RFC 8996).

    A module-level function, so it pickles by reference and every ``--workers`` process applies it.
    """
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def run(
    host: str,
    port: int,
    workers: int,
    factory: str = APP_FACTORY,
    *,
    settings: Settings | None = None,
    tls: TlsFiles | None = None,
    http: HttpImplementation = "limits",
) -> None:
    """Serve ``factory`` (an import path to a zero-argument app factory) until interrupted.

    ``settings`` (default: from the environment) supply the ``HTTP_*`` limits; the app reads its own
    settings in each worker.
    """
    settings = settings or load_settings()
    protocol = limited_protocol(HttpLimits.from_settings(settings)) if http == "limits" else http
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=protocol,
        limit_concurrency=settings.http_max_connections,  # per worker; 503 beyond (uvicorn's check)
        timeout_keep_alive=settings.http_keep_alive_seconds,
        timeout_graceful_shutdown=settings.http_shutdown_timeout_seconds,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,  # read by http="h11" only
        ssl_certfile=tls.certfile if tls else None,
        ssl_keyfile=tls.keyfile if tls else None,
        ssl_context_factory=tls_context if tls else None,
        log_config=None,  # our logging (structlog JSON through stdlib) is configured by the caller and the lifespan
        access_log=False,  # the service writes its own access line
        server_header=False,
        proxy_headers=False,  # the service reads X-Forwarded-For itself, from TRUSTED_PROXIES only
    )
