"""What the three real CRMs share: turning vendor field values into our stage/tags/sentiment, and the
text we write into (and read back from) a note or activity.

No vendor has our lifecycle stages, tags or sentiment as such (PROVIDERS.md §1), so each is a
configured field (``CRM_STAGE_PROPERTY``, ``CRM_STAGE_MAP``, ``CRM_STATUS_PROPERTY``,
``CRM_TAGS_PROPERTY``, ``CRM_SENTIMENT_PROPERTY``) with per-vendor defaults. A value the mapping does
not know becomes ``None`` and is reported in ``CRMContext.unmapped_fields`` (the AI gets a note) —
never a guess.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import cast, get_args

from fearvana_integration.config import Settings, parse_stage_map
from fearvana_integration.domain.crm import Interaction, InteractionType, LifecycleStage, Sentiment

FALLBACK_KEY = "*"
_STAGES = cast(tuple[LifecycleStage, ...], get_args(LifecycleStage))
_SENTIMENTS = cast(tuple[Sentiment, ...], get_args(Sentiment))
_TYPES = cast(tuple[InteractionType, ...], get_args(InteractionType))
# Statuses that override the lifecycle stage when the status field holds them (SPEC: at-risk, churned).
_OVERRIDING_STATUSES: tuple[LifecycleStage, ...] = ("at-risk", "churned")


@dataclass(frozen=True)
class CrmFieldMap:
    """Where one CRM keeps stage, status, tags and sentiment, and how its stage values map to ours."""

    stage_property: str | None
    stage_map: dict[str, LifecycleStage | None]
    status_property: str | None = None
    tags_property: str | None = None
    sentiment_property: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, defaults: CrmFieldMap) -> CrmFieldMap:
        """The vendor ``defaults`` with every ``CRM_*_PROPERTY`` / ``CRM_STAGE_MAP`` that is set applied.

        ``CRM_STAGE_MAP`` replaces the default map as a whole (a partial merge would keep vendor
        defaults the operator meant to drop).
        """
        stage_map = defaults.stage_map
        if settings.crm_stage_map is not None:
            stage_map = cast(dict[str, LifecycleStage | None], parse_stage_map(settings.crm_stage_map))
        return cls(
            stage_property=_setting(settings.crm_stage_property, defaults.stage_property),
            stage_map=stage_map,
            status_property=_setting(settings.crm_status_property, defaults.status_property),
            tags_property=_setting(settings.crm_tags_property, defaults.tags_property),
            sentiment_property=_setting(settings.crm_sentiment_property, defaults.sentiment_property),
        )

    def properties(self) -> list[str]:
        """The vendor fields to request for a context."""
        names = (self.stage_property, self.status_property, self.tags_property, self.sentiment_property)
        return [name for name in names if name]

    def stage(self, raw_stage: object, raw_status: object = None) -> StageReading:
        """Our stage from the vendor's stage value and (winning for at-risk/churned) its status value."""
        status = _text(raw_status)
        if status is not None:
            normalised = re.sub(r"[\s_]+", "-", status.casefold())
            if normalised in _OVERRIDING_STATUSES:
                return StageReading(normalised)
        value = _text(raw_stage)
        if value is None:
            return StageReading(None)
        key = value.casefold()
        if key in self.stage_map:
            return StageReading(self.stage_map[key])
        if key in _STAGES and not self.stage_map:
            return StageReading(key)
        if FALLBACK_KEY in self.stage_map:
            return StageReading(self.stage_map[FALLBACK_KEY])
        return StageReading(None, unmapped=value)

    @staticmethod
    def tags(raw: object) -> list[str]:
        """A multi-value field (``;``-separated as HubSpot and Salesforce store them, or a list) as tags."""
        if raw is None:
            return []
        items: list[object] = list(raw) if isinstance(raw, list | tuple) else re.split(r"[;,\n]", str(raw))
        seen: dict[str, None] = {}
        for item in items:
            text = str(item).strip()
            if text:
                seen.setdefault(text, None)
        return list(seen)

    @staticmethod
    def sentiment(raw: object) -> SentimentReading:
        """``positive|neutral|negative`` (any case); anything else is unmapped, never guessed."""
        value = _text(raw)
        if value is None:
            return SentimentReading(None)
        key = value.casefold()
        if key in _SENTIMENTS:
            return SentimentReading(key)
        return SentimentReading(None, unmapped=value)


@dataclass(frozen=True)
class StageReading:
    """A mapped stage, or None with the vendor value nobody mapped."""

    stage: LifecycleStage | None
    unmapped: str | None = None


@dataclass(frozen=True)
class SentimentReading:
    """A sentiment, or None with the vendor value that is not one."""

    sentiment: Sentiment | None
    unmapped: str | None = None


def unmapped_fields(stage: StageReading, sentiment: SentimentReading) -> dict[str, str]:
    """``CRMContext.unmapped_fields`` for one record."""
    found: dict[str, str] = {}
    if stage.unmapped is not None:
        found["lifecycleStage"] = stage.unmapped
    if sentiment.unmapped is not None:
        found["sentiment"] = sentiment.unmapped
    return found


def parse_vendor_time(value: object) -> datetime:
    """A vendor timestamp as aware UTC: ISO-8601 (``Z``, ``+0000``, ``+00:00``), a date, or epoch milliseconds.

    A time without a zone is UTC (Pipedrive's ``add_time``). ValueError for anything else.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    text = str(value).strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _setting(value: str | None, default: str | None) -> str | None:
    if value is None or not value.strip():
        return default
    return value.strip()


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


# Interaction bodies ----------------------------------------------------------------------------------

_HTML_START_RE = re.compile(r"\s*<(p|div|br|span|html|body|ul|ol|b|strong|i|em)\b", re.I)
_FOOTER_RE = re.compile(r"\n*\[Fearvana(?P<fields>(?: · [a-z]+=[^·\]\n]*)*)\]\s*$")


@dataclass(frozen=True)
class ParsedBody:
    """A note/activity body as we wrote it: the summary and what the footer recorded."""

    summary: str
    type: InteractionType | None = None
    timestamp: datetime | None = None
    sentiment: Sentiment | None = None
    interaction_id: str | None = None


def compose_body(interaction: Interaction) -> str:
    """Plain-text body: the summary, then a footer a human can read and we can parse back.

    The exact time lives in the footer because some vendors only keep a date (Salesforce
    ``Task.ActivityDate``); sentiment and our id live there because no vendor has fields for them.
    """
    parts = [f"type={interaction.type}", f"at={interaction.timestamp.strftime('%Y-%m-%dT%H:%M:%SZ')}"]
    if interaction.sentiment is not None:
        parts.append(f"sentiment={interaction.sentiment}")
    if interaction.id is not None:
        parts.append(f"id={interaction.id}")
    return f"{interaction.summary}\n\n[Fearvana · {' · '.join(parts)}]"


def compose_html_body(interaction: Interaction) -> str:
    """:func:`compose_body` as HTML (HubSpot and Pipedrive store note bodies as HTML)."""
    return "".join(
        f"<p>{html.escape(paragraph).replace(chr(10), '<br>')}</p>"
        for paragraph in compose_body(interaction).split("\n\n")
    )


def html_to_text(body: str) -> str:
    """Undo :func:`compose_html_body` (and what vendors do to plain text): paragraphs, breaks, entities."""
    if not _HTML_START_RE.match(body):
        return body
    text = re.sub(r"</p>\s*<p[^>]*>", "\n\n", body, flags=re.I)
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.I)
    text = re.sub(r"<[^>]+>", "", text)
    return html.unescape(text)


def parse_body(body: str | None) -> ParsedBody:
    """The summary and footer fields of a body; a body we did not write is all summary."""
    text = html_to_text(body or "").strip()
    match = _FOOTER_RE.search(text)
    if match is None:
        return ParsedBody(summary=text)
    fields: dict[str, str] = {}
    for item in match.group("fields").split(" · "):
        name, _, value = item.partition("=")
        if name:
            fields[name.strip()] = value.strip()
    kind = fields.get("type")
    sentiment = fields.get("sentiment")
    at = fields.get("at")
    timestamp: datetime | None = None
    if at:
        try:
            timestamp = parse_vendor_time(at)
        except ValueError:
            timestamp = None
    return ParsedBody(
        summary=text[: match.start()].rstrip(),
        type=kind if kind in _TYPES else None,
        timestamp=timestamp,
        sentiment=sentiment if sentiment in _SENTIMENTS else None,
        interaction_id=fields.get("id"),
    )


@dataclass
class VendorIdCache:
    """Email → the vendor's contact id, so a customer is searched for once (SPEC §3 "remembers").

    Bounded; an entry is dropped when the vendor says the id no longer exists.
    """

    max_entries: int = 10_000
    _ids: dict[str, str] = field(default_factory=dict)

    def get(self, email: str) -> str | None:
        """The remembered id for ``email``."""
        return self._ids.get(email.strip().casefold())

    def put(self, email: str, vendor_id: str) -> None:
        """Remember ``vendor_id`` for ``email``."""
        if len(self._ids) >= self.max_entries:
            self._ids.pop(next(iter(self._ids)))
        self._ids[email.strip().casefold()] = vendor_id

    def forget(self, email: str) -> None:
        """Drop ``email``'s id (the vendor deleted or merged the record)."""
        self._ids.pop(email.strip().casefold(), None)
