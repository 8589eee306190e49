"""structlog through stdlib logging: JSON (or console) lines on standard error, redacted."""

from __future__ import annotations

import logging
import sys

import structlog

from fearvana_integration.config import Settings
from fearvana_integration.observability.redaction import redact_processor


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    """Route structlog and stdlib records through one redacting formatter on stderr."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_processor,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def configure_from_settings(settings: Settings) -> None:
    """:func:`configure_logging` with ``LOG_LEVEL`` and ``LOG_FORMAT``."""
    configure_logging(settings.log_level, settings.log_format)
