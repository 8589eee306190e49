"""Limits on HTTP/1.1 request heads for uvicorn's httptools protocol: size, header count, read time.

Why this exists: uvicorn with httptools bounds none of them. httptools joins the pieces of a header
value that arrive in separate reads by concatenating bytes — quadratic — so one 60 MB header held the
event loop for 4.4 s (every other request waited), four of them added 267 MB, and a connection that
sends part of a request and then nothing was held for as long as the client liked.

:class:`LimitedHttpToolsProtocol` is uvicorn's ``HttpToolsProtocol`` plus three checks, made before
anything reaches the app:

- the request line and headers together at most ``max_head_bytes`` → else ``431`` (``414`` when the
  request target alone is too long), counted as the bytes arrive, so an unfinished header cannot grow
  past the limit by more than one socket read;
- at most ``max_headers`` header fields → else ``431``;
- the head complete within ``head_timeout_seconds`` of the connection opening (first request) or of
  the request's first byte (later requests on a kept-alive connection) → else ``408`` (or a plain
  close when not one byte arrived).

Each refusal is a minimal problem-details response with ``connection: close``, then the connection is
closed. Everything else — parsing, keep-alive, pipelining, the concurrency cap — is uvicorn's own.
"""

from __future__ import annotations

import asyncio
import functools
import json
from dataclasses import dataclass
from typing import Any, cast

import httptools
import structlog
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from fearvana_integration.config import Settings
from fearvana_integration.service.problems import PROBLEM_BASE

log = structlog.get_logger("fearvana_integration.http")

# Counted per header field on top of its name and value: ": " and the line's CRLF.
_FIELD_OVERHEAD = 4


@dataclass(frozen=True)
class HttpLimits:
    """What one request head may cost (the ``HTTP_*`` settings). Picklable: ``--workers`` ships it."""

    max_head_bytes: int = 16 * 1024
    max_headers: int = 100
    head_timeout_seconds: float = 10.0

    @classmethod
    def from_settings(cls, settings: Settings) -> HttpLimits:
        """The limits ``settings`` configure."""
        return cls(
            max_head_bytes=settings.http_max_header_bytes,
            max_headers=settings.http_max_headers,
            head_timeout_seconds=settings.http_header_timeout_seconds,
        )


def limited_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """uvicorn's ``http=`` argument: :class:`LimitedHttpToolsProtocol` bound to ``limits``.

    A ``functools.partial`` of an importable class and a frozen dataclass pickles (the class by
    reference, the limits by value), so the worker processes ``--workers N`` spawns from uvicorn's
    pickled config rebuild exactly this protocol with these limits. uvicorn only ever calls it
    (``http_protocol_class(config=…, server_state=…, …)``), hence the cast.
    """
    return cast("type[asyncio.Protocol]", functools.partial(LimitedHttpToolsProtocol, limits=limits))


class _HeadRefused(Exception):
    """Raised inside a parser callback to stop parsing; the status is kept on the protocol."""


# status → (problem type slug, title); the phrase on the status line is the standard one.
_REFUSALS: dict[int, tuple[str, str]] = {
    408: ("request-timeout", "The request head was not received in time"),
    414: ("uri-too-long", "Request target too long"),
    431: ("request-header-fields-too-large", "Request header fields too large"),
}
_PHRASES = {408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large"}


def _refusal(status: int, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """The whole response: status line, uvicorn's default headers (date), a problem-details body."""
    slug, title = _REFUSALS[status]
    body = json.dumps({"type": PROBLEM_BASE + slug, "title": title, "status": status}, separators=(",", ":"))
    lines = [f"HTTP/1.1 {status} {_PHRASES[status]}".encode()]
    lines += [name + b": " + value for name, value in default_headers]
    lines += [
        b"content-type: application/problem+json",
        b"content-length: " + str(len(body)).encode(),
        b"connection: close",
        b"",
        body.encode(),
    ]
    return b"\r\n".join(lines)


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that refuses oversized, over-long or too slow request heads."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        limits: HttpLimits | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits = limits or HttpLimits()
        # Between a head's first byte (or the connection's opening) and its end. A new connection and a
        # finished request are both "reading a head": whatever arrives next starts one.
        self._reading_head = True
        self._head_started = False  # a byte of the current head has arrived (408 rather than a silent close)
        self._head_bytes = 0  # raw bytes of the current head, counted per read
        self._parsed_bytes = 0  # request target + complete header fields, as the parser reported them
        self._target_bytes = 0
        self._header_count = 0
        self._boundaries = 0  # heads and messages completed: tells whether one read held only head bytes
        self._refused_status: int | None = None
        self._head_timer: asyncio.TimerHandle | None = None

    # Connection ------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head timer at once: a connection that never sends a byte is closed too."""
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the timer with the connection."""
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's ``data_received``, plus the byte count and the refusals raised by the callbacks."""
        self._unset_keepalive_if_required()
        boundaries = self._boundaries
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._refused_status is not None:
                self._refuse(self._refused_status)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if not self._reading_head or self.transport.is_closing():
            return
        if self._boundaries == boundaries:
            # No head or message ended in this read, and one is being read: every byte was head. This is
            # what bounds a header whose value never ends (the parser reports it only once complete).
            self._head_bytes += len(data)
        else:
            # A pipelined head began somewhere in this read: where is unknown, so count what was parsed.
            self._head_bytes = self._parsed_bytes
        if self._head_bytes > self.limits.max_head_bytes:
            too_long_target = self._target_bytes > self.limits.max_head_bytes
            self._refuse(414 if too_long_target else 431)

    # Parser callbacks --------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A head's first byte: reset the per-head counts; time it unless the connection's timer runs."""
        super().on_message_begin()
        self._reading_head = True
        self._head_started = True
        self._head_bytes = self._parsed_bytes = self._target_bytes = self._header_count = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        """Count the request target (it arrives in pieces, one per read)."""
        self._target_bytes += len(url)
        self._parsed_bytes += len(url)
        if self._target_bytes > self.limits.max_head_bytes:
            self._stop(414)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        """Count header fields and their bytes (catches a big head that arrived in one read)."""
        self._header_count += 1
        self._parsed_bytes += len(name) + len(value) + _FIELD_OVERHEAD
        if self._header_count > self.limits.max_headers or self._parsed_bytes > self.limits.max_head_bytes:
            self._stop(431)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        """The head is in, within every limit: stop its timer and hand the request to uvicorn."""
        self._cancel_head_timer()
        self._reading_head = self._head_started = False
        self._head_bytes = 0
        self._boundaries += 1
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """Whatever arrives next on this connection begins the next head."""
        super().on_message_complete()
        self._reading_head = True
        self._head_bytes = 0
        self._boundaries += 1

    @property
    def client_host(self) -> str | None:
        """The peer's address, as the access log names it."""
        return self.client[0] if self.client else None

    # Refusals ----------------------------------------------------------------------------------------

    def _stop(self, status: int) -> None:
        self._refused_status = status
        raise _HeadRefused(status)  # httptools turns it into HttpParserError, caught in data_received

    def _refuse(self, status: int) -> None:
        """Answer ``status`` and close: nothing of this request reaches the app."""
        self._cancel_head_timer()
        self._reading_head = False
        if self.transport.is_closing():
            return
        # One line per refused connection (like uvicorn's own "Invalid HTTP request"); never the head itself.
        log.warning("request head refused", status=status, reason=_PHRASES[status], client=self.client_host)
        self.transport.write(_refusal(status, self.server_state.default_headers))
        self.transport.close()

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(self.limits.head_timeout_seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing():
            return
        if self._head_started:
            self._refuse(408)
        else:
            self.transport.close()  # nothing was asked: nothing to answer


__all__ = ["HttpLimits", "LimitedHttpToolsProtocol", "limited_protocol"]
