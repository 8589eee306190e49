"""The redaction log processor: emails, phone numbers, card numbers, API keys and tokens never reach a log.

Values under secret-looking keys are masked whole; every string value is scanned for emails, JWTs,
bearer tokens, vendor key prefixes, Luhn-valid card numbers and phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

SECRET_KEYS = re.compile(r"(pass(word)?|secret|token|api[_-]?key|authorization|cookie|credential|private)", re.I)
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
JWT = re.compile(r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*")
BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/\-]+=*")
VENDOR_KEY = re.compile(
    r"\b(pat-[a-z0-9]+-[A-Za-z0-9\-]{8,}|SG\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}|sk-[A-Za-z0-9]{16,})"
)
CARD = re.compile(r"\b(?:\d[ \-]?){13,19}\b")
PHONE = re.compile(r"(?<![\w.])\+?\d[\d ()\-.]{7,}\d(?![\w.])")
MASK = "[REDACTED]"


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = re.sub(r"\D", "", text)
    # Dates (2026-11-25) and IPv4 addresses (10.20.30.40) are not phone numbers.
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) or re.fullmatch(r"\d{1,3}(\.\d{1,3}){3}", text):
        return text
    if len(digits) < 8 or len(digits) > 15:
        return text
    return "[PHONE]"


def redact_text(text: str) -> str:
    """The text with every recognised piece of PII or secret replaced."""
    text = JWT.sub(MASK, text)
    text = BEARER.sub("Bearer " + MASK, text)
    text = VENDOR_KEY.sub(MASK, text)
    text = EMAIL.sub("[EMAIL]", text)
    text = CARD.sub(_card, text)
    return PHONE.sub(_phone, text)


def redact_value(key: str, value: Any) -> Any:
    """Redact one log field (recursively through dicts, lists and tuples)."""
    if SECRET_KEYS.search(key):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(key, item) for item in value]
    return value


def redact_processor(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor applying :func:`redact_value` to every field, the event message included."""
    for key in list(event_dict):
        event_dict[key] = redact_value(key if key != "event" else "message", event_dict[key])
    return event_dict
