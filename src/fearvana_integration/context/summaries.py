"""Per-category entry summaries, computable for any "oldest N entries" in O(categories × metrics × log n).

The fitter tries many splits between listed entries (the newest) and summarised ones (everything
older): the summarised set is always a prefix of the entries in time order. Prefix sums, minima and
maxima per metric make each candidate split cheap instead of re-reading every entry.

Statistics (see ``scoring.summarise_metrics`` for the definitions): count, first and last time, and
per numeric metric mean, min, max and trend (mean of the newer half of its values against the older
half; ``stable`` within ±5 %).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import accumulate
from math import isfinite

from fearvana_integration.context.scoring import SUMMARY_TREND_THRESHOLD
from fearvana_integration.domain.customer import Entry, EntrySummary, MetricSummary, Trend


@dataclass
class _Series:
    """One metric of one category, in time order."""

    ranks: list[int] = field(default_factory=list)  # position of each value's entry in the global order
    values: list[float] = field(default_factory=list)
    sums: list[float] = field(default_factory=list)
    mins: list[float] = field(default_factory=list)
    maxs: list[float] = field(default_factory=list)

    def freeze(self) -> None:
        self.sums = [0.0, *accumulate(self.values)]
        self.mins = list(accumulate(self.values, min))
        self.maxs = list(accumulate(self.values, max))

    def stats(self, count: int) -> MetricSummary:
        total = self.sums[count]
        trend: Trend = "stable"
        if count >= 2:
            half = count // 2
            older = self.sums[half] / half
            newer = (total - self.sums[half]) / (count - half)
            scale = max(abs(older), 1e-9)
            if (newer - older) / scale > SUMMARY_TREND_THRESHOLD:
                trend = "up"
            elif (older - newer) / scale > SUMMARY_TREND_THRESHOLD:
                trend = "down"
        return MetricSummary(
            mean=round(total / count, 2), min=self.mins[count - 1], max=self.maxs[count - 1], trend=trend
        )


@dataclass
class _Category:
    ranks: list[int] = field(default_factory=list)
    stamps: list[datetime] = field(default_factory=list)
    metrics: dict[str, _Series] = field(default_factory=dict)


class SummaryIndex:
    """Summaries of the oldest ``n`` of a set of entries, for any ``n``.

    ``oldest_first`` must be in time order (ties keep their given order, so a caller splitting a list
    into listed and summarised parts gets exactly the split it asked for).
    """

    def __init__(self, oldest_first: Sequence[Entry]) -> None:
        ordered = list(oldest_first)
        self.size = len(ordered)
        self._categories: dict[str, _Category] = {}
        categories = self._categories
        for rank, entry in enumerate(ordered):
            category = categories.get(entry.category)
            if category is None:
                category = categories[entry.category] = _Category()
            category.ranks.append(rank)
            category.stamps.append(entry.timestamp)
            metrics = category.metrics
            for name, raw in entry.metrics.items():
                # Inlined scoring.numeric: this loop runs for every value of every loaded entry.
                if isinstance(raw, bool) or not isinstance(raw, int | float) or not isfinite(raw):
                    continue
                series = metrics.get(name)
                if series is None:
                    series = metrics[name] = _Series()
                series.ranks.append(rank)
                series.values.append(float(raw))
        for category in self._categories.values():
            for series in category.metrics.values():
                series.freeze()

    def oldest(self, count: int) -> list[EntrySummary]:
        """Summaries of the ``count`` oldest entries, the category with the newest entry first."""
        found: list[tuple[datetime, EntrySummary]] = []
        for name, category in self._categories.items():
            included = bisect.bisect_left(category.ranks, count)
            if not included:
                continue
            metrics = {}
            for metric in sorted(category.metrics):
                series = category.metrics[metric]
                values = bisect.bisect_left(series.ranks, count)
                if values:
                    metrics[metric] = series.stats(values)
            last = category.stamps[included - 1]
            summary = EntrySummary.model_validate(
                {"category": name, "count": included, "from": category.stamps[0], "to": last, "metrics": metrics}
            )
            found.append((last, summary))
        found.sort(key=lambda item: item[0], reverse=True)
        return [summary for _, summary in found]


def summarise_entries(entries: Sequence[Entry]) -> list[EntrySummary]:
    """Summaries of all of ``entries`` (any order), per category."""
    index = SummaryIndex(sorted(entries, key=lambda entry: entry.timestamp))
    return index.oldest(index.size)
