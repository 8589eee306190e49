"""Turning a database driver's error into one line that says what happened and what to do next.

The line carries the database's own SQL state and a short cause — never SQL text, connection strings
or data values (quoted values in a message are replaced by "…") — and, where the cause is clear, the
next step: run `db init`, check the database name or the credentials in DATABASE_URL, start the server.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from fearvana_integration.errors import StoreUnavailable

_QUOTED_VALUE = re.compile(r'(: |=)"[^"]*"')
_DETAIL = re.compile(r"\n.*$|\[SQL:.*$|\(Background on this error.*$", re.S)
_CONNECT_ERRORS = (ConnectionRefusedError, ConnectionResetError, TimeoutError, OSError)


def sql_state(error: BaseException) -> str | None:
    """The SQLSTATE of a database error, wherever the driver put it."""
    for candidate in (error, getattr(error, "orig", None), error.__cause__):
        if candidate is None:
            continue
        for attribute in ("sqlstate", "pgcode"):
            value = getattr(candidate, attribute, None)
            if isinstance(value, str) and len(value) == 5:
                return value
    return None


def cause(error: BaseException) -> str:
    """The database's own one-line message, without SQL text or quoted values (which may be data)."""
    original = getattr(error, "orig", None) or error
    text = str(original).strip()
    text = re.sub(r"^<class '[^']+'>: ", "", text)
    text = _DETAIL.sub("", text)
    text = _QUOTED_VALUE.sub(lambda match: f'{match.group(1)}"…"', text)
    return text[:200] or type(error).__name__


def _connection_error(error: BaseException) -> BaseException | None:
    for candidate in (error, getattr(error, "orig", None), error.__cause__):
        if isinstance(candidate, _CONNECT_ERRORS) and not hasattr(candidate, "sqlstate"):
            return candidate
    return None


def describe(
    error: BaseException, *, backend: str, timeout_ms: int, database_url: str | None = None
) -> StoreUnavailable:
    """A :class:`StoreUnavailable` naming the cause and the next step."""
    text = str(error)
    if backend == "sqlite" and "unable to open database file" in text:
        return StoreUnavailable(
            "The database file does not exist: run `fearvana-integration db seed-demo` (or `db init`), "
            "or set DATABASE_URL"
        )
    if "no such table" in text or "no such column" in text:
        return StoreUnavailable(
            f"The database lacks a table or column this version reads ({cause(error)}): "
            "run `fearvana-integration db init`"
        )
    if "permission denied to set role" in text or "must be member of role" in text:
        return StoreUnavailable(
            "The database user may not switch to role authenticated/service_role: connect as the "
            "Supabase 'postgres' user (or grant those roles to the user in DATABASE_URL)"
        )
    if "statement timeout" in text or "canceling statement" in text:
        return StoreUnavailable(f"The customer store did not answer within {timeout_ms} ms")
    state = sql_state(error)
    if state is not None:
        return StoreUnavailable(_by_state(state, cause(error)))
    connection = _connection_error(error)
    if connection is not None:
        where = _host(database_url)
        reason = "no answer in time" if isinstance(connection, TimeoutError) else cause(connection)
        return StoreUnavailable(
            f"Cannot reach the database{f' at {where}' if where else ''} ({reason}): is the server running "
            "and is the host and port in DATABASE_URL right?"
        )
    return StoreUnavailable(f"Customer store unavailable ({type(error).__name__}: {cause(error)})")


def _by_state(state: str, reason: str) -> str:
    if state in ("42P01", "42883", "3F000") and ("integration." in reason or 'schema "integration"' in reason):
        return (
            f"This database does not have fearvana-integration's own schema, or an older one (SQL state {state}: "
            f"{reason}): run `fearvana-integration db init`"
        )
    if state == "3D000":
        return f"The database in DATABASE_URL does not exist (SQL state {state}: {reason}): check its name"
    if state.startswith("28"):
        return (
            f"The database refused the login (SQL state {state}: {reason}): check the user and password in DATABASE_URL"
        )
    if state.startswith(("08", "57P")):
        return f"The database connection failed (SQL state {state}: {reason}): is the server up?"
    if state.startswith(("42", "22", "23", "2B", "3F")):
        # An error in the statement itself (an undefined column or function, a type mismatch): the
        # database's schema differs from what this project reads.
        return (
            f"Customer store error (SQL state {state}: {reason}); "
            "`fearvana-integration db init` checks the schema and names what differs"
        )
    return f"Customer store unavailable (SQL state {state}: {reason})"


def _host(database_url: str | None) -> str | None:
    if not database_url or database_url.startswith("sqlite"):
        return None
    try:
        parts = urlsplit(database_url)
        return f"{parts.hostname}:{parts.port or 5432}" if parts.hostname else None
    except ValueError:
        return None
