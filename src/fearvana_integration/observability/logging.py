"""structlog through stdlib logging: JSON (or console) lines on standard error, redacted."""

from __future__ import annotations

import logging
import sys

import structlog

from fearvana_integration.config import Settings
from fearvana_integration.observability.redaction import redact_processor

_HANDLER_NAME = "fearvana-integration"


def _shared() -> list[structlog.types.Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]


def formatter(fmt: str = "json") -> logging.Formatter:
    """The redacting formatter every record goes through (tests attach it to their own handlers)."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib records through one redacting formatter on stderr."""
    shared = _shared()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(fmt))
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # Replace our own handler (configuring twice must not print twice); leave anyone else's alone.
    root.handlers[:] = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()  # uvicorn's lines go through ours (one format, no interleaving)
        logging.getLogger(name).propagate = True
    # The service writes its own access line (route template, latency, correlation id); uvicorn's would
    # repeat it with the raw URL. With no handler reachable, uvicorn skips building its line at all.
    uvicorn_access = logging.getLogger("uvicorn.access")
    uvicorn_access.handlers.clear()
    uvicorn_access.propagate = False


def configure_from_settings(settings: Settings) -> None:
    """:func:`configure_logging` with ``LOG_LEVEL`` and ``LOG_FORMAT``."""
    configure_logging(settings.log_level, settings.log_format)
