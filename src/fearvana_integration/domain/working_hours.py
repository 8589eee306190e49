"""The coach's working hours and session lengths, for platforms that have no notion of a slot.

``SCHEDULING_WORKING_HOURS`` is a list of ``<days> <from>-<to>`` separated by ``;``, in the
coach's ``SCHEDULING_TIME_ZONE``: ``mon-fri 09:00-17:00`` (the default), ``mon,wed 08:30-12:00;
tue-thu 13:00-18:00``. Days are ``mon``…``sun``, single or as a range; times are 24-hour ``HH:MM``
(``24:00`` ends a day). A day may have several periods; overlapping periods are merged.
``SCHEDULING_DURATIONS`` is a JSON object of minutes per appointment type, over our defaults.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fearvana_integration.domain.scheduling import APPOINTMENT_TYPES, DEFAULT_DURATIONS_MINUTES

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_WORKING_HOURS = "mon-fri 09:00-17:00"
_PERIOD = re.compile(r"^\s*([a-z, \-]+?)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


def _minutes(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{text!r} is not a time of day (HH:MM, 00:00-24:00)")
    return hours * 60 + minutes


def _days(text: str) -> list[int]:
    chosen: list[int] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        first, _, last = piece.partition("-")
        if first.strip() not in DAYS or (last and last.strip() not in DAYS):
            raise ValueError(f"{piece!r}: days are {', '.join(DAYS)}, single or as a range like mon-fri")
        start = DAYS.index(first.strip())
        end = DAYS.index(last.strip()) if last else start
        chosen += list(range(start, end + 1)) if start <= end else [*range(start, 7), *range(end + 1)]
    if not chosen:
        raise ValueError("a period needs at least one day")
    return chosen


@dataclass(frozen=True)
class WorkingHours:
    """Per weekday (0 = Monday), the working periods as (start, end) minutes after local midnight."""

    periods: tuple[tuple[tuple[int, int], ...], ...]
    time_zone: ZoneInfo

    @classmethod
    def parse(cls, spec: str, time_zone: str = "UTC") -> WorkingHours:
        """Parse ``SCHEDULING_WORKING_HOURS``; ValueError naming what is wrong."""
        try:
            zone = ZoneInfo(time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{time_zone!r} is not an IANA time zone (e.g. Europe/London)") from None
        per_day: list[list[tuple[int, int]]] = [[] for _ in DAYS]
        pieces = [p for p in spec.lower().split(";") if p.strip()]
        if not pieces:
            raise ValueError(f"no working hours given; e.g. {DEFAULT_WORKING_HOURS!r}")
        for piece in pieces:
            match = _PERIOD.match(piece)
            if match is None:
                raise ValueError(f"{piece.strip()!r} is not '<days> HH:MM-HH:MM', e.g. {DEFAULT_WORKING_HOURS!r}")
            start, end = _minutes(match.group(2)), _minutes(match.group(3))
            if end <= start:
                raise ValueError(f"{piece.strip()!r}: the period must end after it starts")
            for day in _days(match.group(1)):
                per_day[day].append((start, end))
        merged: list[tuple[tuple[int, int], ...]] = []
        for periods in per_day:
            periods.sort()
            joined: list[tuple[int, int]] = []
            for start, end in periods:
                if joined and start <= joined[-1][1]:
                    joined[-1] = (joined[-1][0], max(joined[-1][1], end))
                else:
                    joined.append((start, end))
            merged.append(tuple(joined))
        return cls(tuple(merged), zone)

    def windows(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The working periods that overlap ``[start, end)``, as aware datetimes, clipped to it."""
        found: list[tuple[datetime, datetime]] = []
        local_day: date = start.astimezone(self.time_zone).date() - timedelta(days=1)
        last_day = end.astimezone(self.time_zone).date() + timedelta(days=1)
        while local_day <= last_day:
            for begin, finish in self.periods[local_day.weekday()]:
                opens = _local(local_day, begin, self.time_zone)
                closes = _local(local_day, finish, self.time_zone)
                lower, upper = max(opens, start), min(closes, end)
                if lower < upper:
                    found.append((lower, upper))
            local_day += timedelta(days=1)
        return found


def _local(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """Local wall time ``minutes`` after midnight of ``day`` (24:00 is the next midnight), aware."""
    if minutes == 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)


def parse_durations(raw: str | None) -> dict[str, int]:
    """``SCHEDULING_DURATIONS``: minutes per appointment type over the defaults; ValueError when wrong."""
    durations = dict(DEFAULT_DURATIONS_MINUTES)
    if raw is None or not raw.strip():
        return durations
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f'must be a JSON object, e.g. {{"check-in": 20}} ({error.msg})') from None
    if not isinstance(given, dict):
        raise ValueError('must be a JSON object, e.g. {"check-in": 20}')
    for name, minutes in given.items():
        if name not in APPOINTMENT_TYPES:
            raise ValueError(f"{name!r} is not an appointment type ({', '.join(APPOINTMENT_TYPES)})")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 5 <= minutes <= 480:
            raise ValueError(f"{name}: minutes must be a whole number from 5 to 480")
        durations[name] = minutes
    return durations


def parse_event_type_map(raw: str | None) -> dict[str, str]:
    """``SCHEDULING_EVENT_TYPE_MAP``: our appointment type → the platform's event/appointment type id."""
    if raw is None or not raw.strip():
        return {}
    try:
        given = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f'must be a JSON object, e.g. {{"coaching-session": "<event type>"}} ({error.msg})') from None
    if not isinstance(given, dict) or not given:
        raise ValueError('must be a non-empty JSON object, e.g. {"coaching-session": "<event type>"}')
    mapped: dict[str, str] = {}
    for name, vendor in given.items():
        if name not in APPOINTMENT_TYPES:
            raise ValueError(f"{name!r} is not an appointment type ({', '.join(APPOINTMENT_TYPES)})")
        if not isinstance(vendor, str | int) or isinstance(vendor, bool) or not str(vendor).strip():
            raise ValueError(f"{name}: the platform's event type must be a non-empty string or number")
        mapped[name] = str(vendor).strip()
    return mapped
