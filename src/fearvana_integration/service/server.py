"""Running an app factory under uvicorn the way ``fearvana-integration serve`` does (benchmarks reuse it)."""

from __future__ import annotations

import uvicorn

APP_FACTORY = "fearvana_integration.service.app:create_served_app"


def run(host: str, port: int, workers: int, factory: str = APP_FACTORY) -> None:
    """Serve ``factory`` (an import path to a zero-argument app factory) until interrupted."""
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,  # our logging (structlog JSON through stdlib) is configured by the caller and the lifespan
        access_log=False,  # the service writes its own access line
        server_header=False,
        proxy_headers=False,  # the service reads X-Forwarded-For itself, from TRUSTED_PROXIES only
    )
