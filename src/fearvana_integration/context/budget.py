"""Fitting a context to its token budget.

Every piece of the context renders to one or more prompt lines (``render.py``), priced by the real
tokenizer; line counts add up exactly because no BPE piece spans a newline. Pieces are taken in
priority order — identity, notes and flags, the Sacred Edge (at most ``SACRED_EDGE_MAX_TOKENS``) and
the nearest pending commitments, life areas, spiral state and assessment, next session, CRM, coach
actions and the app's open suggestions, patterns and wins, today's tasks, entries, supplements,
conversation recency, older history — while they fit. The first piece that does not fit is
shortened to the room left (its free text with a visible ``…[shortened]``; any other line cut with
``…[cut]``, recorded in ``optimization.cut`` so rendering reproduces it) and nothing of lower priority
is kept after it. Entries not listed one by one are summarised per category (count, mean, min, max,
trend) rather than dropped. The fitted context is rendered once more and counted exactly.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel

from fearvana_integration.config import MIN_MAX_TOKENS
from fearvana_integration.context.render import (
    HEADINGS,
    challenges_item,
    coach_action_item,
    commitment_item,
    commitments_item,
    conversation_item,
    crm_item,
    cut_line,
    entry_day_heading,
    entry_item,
    freshness_item,
    header_lines,
    later_appointments,
    life_area_item,
    next_session_item,
    note_item,
    past_session_item,
    pattern_item,
    preparation_lines,
    profile_item,
    render_context,
    render_sections,
    sacred_edge_item,
    spiral_item,
    suggestion_item,
    summary_item,
    supplement_item,
    task_lines,
    ticket_item,
    upcoming_item,
    win_item,
)
from fearvana_integration.context.summaries import SummaryIndex
from fearvana_integration.context.tokens import Tokenizer
from fearvana_integration.domain.coaching import Commitment, EnhancedSuggestion, Pattern, SacredEdge, Win
from fearvana_integration.domain.context import (
    CustomerContext,
    CutLine,
    NoteForAi,
    Optimization,
    SectionOptimization,
)
from fearvana_integration.domain.crm import Ticket
from fearvana_integration.domain.customer import (
    CoachAction,
    Entry,
    EntrySummary,
    LifeArea,
    Profile,
    Supplement,
)
from fearvana_integration.domain.scheduling import Appointment
from fearvana_integration.errors import BudgetTooSmall

SHORTEN_MARKER = "…[shortened]"
FREE_TEXT_CAP_CHARS = 600
MIN_USEFUL_ROOM = 8
SACRED_EDGE_MAX_TOKENS = 120


def effective_budget(max_tokens: int, reserved: int = 0, margin_percent: float = 0) -> int:
    """Tokens the text may use: ``max_tokens`` minus reserved tokens and the safety margin."""
    if max_tokens < MIN_MAX_TOKENS:
        raise BudgetTooSmall(max_tokens, MIN_MAX_TOKENS)
    budget = int((max_tokens - reserved) * (1 - margin_percent / 100))
    if budget < MIN_MAX_TOKENS:
        minimum = reserved + int(MIN_MAX_TOKENS / (1 - margin_percent / 100)) + 1
        raise BudgetTooSmall(max_tokens, max(minimum, MIN_MAX_TOKENS))
    return budget


def shorten_text(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters plus the visible marker (unchanged when short enough)."""
    if len(text) <= chars:
        return text
    return text[: max(chars, 0)].rstrip() + SHORTEN_MARKER


def shorten_fenced(text: str, chars: int) -> str:
    """Shorten text that already contains fenced parts (a note) without breaking a fence."""
    return cut_line(text, chars, marker=SHORTEN_MARKER)


@dataclass(frozen=True)
class FullContext:
    """An assembled, unfitted context plus the older entries its summaries were made from.

    ``index`` (optional) is the summary index of older + recent entries, when the assembler built it
    already.
    """

    context: CustomerContext
    older_entries: list[Entry]
    index: SummaryIndex | None = None


def entry_line_groups(recent: Sequence[Entry], now: datetime) -> list[list[str]]:
    """Each entry's prompt lines (its day heading first when it opens a day), newest first."""
    groups: list[list[str]] = []
    previous_day = None
    for entry in recent:
        day = entry.timestamp.date()
        lines = [entry_item(entry)]
        if day != previous_day:
            lines.insert(0, entry_day_heading(entry.timestamp, now))
            previous_day = day
        groups.append(lines)
    return groups


def prime_entry_lines(recent: Sequence[Entry], now: datetime, tokenizer: Tokenizer) -> None:
    """Render and price the entries' lines ahead of fitting (both are memoised)."""
    for lines in entry_line_groups(recent, now):
        for line in lines:
            tokenizer.count_line(line + "\n")


@dataclass
class _Draft:
    """What the fitter keeps, slot by slot."""

    profile: Profile | None = None
    notes: list[NoteForAi] = field(default_factory=list)
    freshness: bool = False
    sacred_edge: SacredEdge | None = None
    commitments: bool = False
    pending: list[Commitment] = field(default_factory=list)
    areas: list[LifeArea] = field(default_factory=list)
    spiral: bool = False
    challenges: bool = False
    scheduling: bool = False
    brief: bool = False
    crm: bool = False
    tickets: list[Ticket] = field(default_factory=list)
    actions: list[CoachAction] = field(default_factory=list)
    suggestions: list[EnhancedSuggestion] = field(default_factory=list)
    patterns: list[Pattern] = field(default_factory=list)
    wins: list[Win] = field(default_factory=list)
    tasks: bool = False
    conversation: bool = False
    entries: list[Entry] = field(default_factory=list)
    summaries: list[EntrySummary] = field(default_factory=list)
    summarised_entries: int = 0
    supplements: list[Supplement] = field(default_factory=list)
    upcoming: list[Appointment] = field(default_factory=list)
    recent: list[Appointment] = field(default_factory=list)
    shortened: dict[str, int] = field(default_factory=dict)
    cut: CutLine | None = None


Keep = Callable[[_Draft], None]


@dataclass
class _Piece:
    """One thing the fitter may keep: its section, and its lines + effect for a given free text."""

    section: str
    make: Callable[[str], tuple[list[str], Keep]]
    text: str = ""
    shortenable: bool = False
    shorten: Callable[[str, int], str] = shorten_text


def _flag(name: str) -> Keep:
    """Keep: set a boolean slot of the draft."""
    return lambda draft: setattr(draft, name, True)


def _appender(name: str, value: object) -> Keep:
    """Keep: append ``value`` to a list slot of the draft."""
    return lambda draft: getattr(draft, name).append(value)


def _fixed(section: str, lines: list[str], keep: Keep) -> _Piece:
    return _Piece(section, lambda _text: (lines, keep))


class _Fitter:
    """Greedy, priority-ordered selection with exact line prices."""

    def __init__(self, budget: int, tokenizer: Tokenizer, header: list[str]) -> None:
        self.budget = budget
        self.tokenizer = tokenizer
        self.draft = _Draft()
        self.sections: set[str] = set()
        self.used = self.lines_cost(header)

    def lines_cost(self, lines: Sequence[str]) -> int:
        return sum(self.tokenizer.count_line(line + "\n") for line in lines)

    def heading_cost(self, section: str) -> int:
        return 0 if section in self.sections else self.tokenizer.count(HEADINGS[section] + "\n")

    @property
    def room(self) -> int:
        return self.budget - self.used

    def add(self, section: str, lines: Sequence[str], keep: Keep) -> None:
        self.used += self.heading_cost(section) + self.lines_cost(lines)
        self.sections.add(section)
        keep(self.draft)

    def take(self, piece: _Piece) -> bool:
        """Keep the piece if it fits; else keep as much of it as fits, and report False (stop)."""
        lines, keep = piece.make(piece.text)
        if self.heading_cost(piece.section) + self.lines_cost(lines) <= self.room:
            self.add(piece.section, lines, keep)
            return True
        if self.room >= MIN_USEFUL_ROOM and not (piece.shortenable and self._shorten(piece)):
            self._cut(piece.section, lines, keep)
        return False

    def _shorten(self, piece: _Piece) -> bool:
        def fits(chars: int) -> bool:
            lines, _ = piece.make(piece.shorten(piece.text, chars))
            return self.heading_cost(piece.section) + self.lines_cost(lines) <= self.room

        best = _largest(0, len(piece.text) - 1, fits)
        if best is None:
            return False
        lines, keep = piece.make(piece.shorten(piece.text, best))
        self.add(piece.section, lines, keep)
        self.draft.shortened[piece.section] = self.draft.shortened.get(piece.section, 0) + 1
        return True

    def _cut(self, section: str, lines: list[str], keep: Keep) -> None:
        fixed = self.heading_cost(section) + self.lines_cost(lines[:-1])
        last = lines[-1]
        best = _largest(
            1, len(last) - 1, lambda chars: fixed + self.tokenizer.count(cut_line(last, chars) + "\n") <= self.room
        )
        if best is None or best < meaningful_cut(last, self.tokenizer):
            return
        self.add(section, [*lines[:-1], cut_line(last, best)], keep)
        self.draft.cut = CutLine(section=section, chars=best)


MEANINGFUL_CUT_TOKENS = 6


def meaningful_cut(line: str, tokenizer: Tokenizer) -> int:
    """The fewest characters a cut line keeps to still say something: ``MEANINGFUL_CUT_TOKENS`` tokens past
    its label (``- 10:56 Mindset: ``, ``- Customer "``); a shorter cut is dropped instead
    (``- 10:56 Mindset: …[cut]`` tells the AI nothing). Counted in tokens, so dense text needs fewer
    characters than plain words."""
    label_end = min((i for i in (line.find(": "), line.find('"')) if i >= 0), default=0)
    enough = _smallest(
        label_end + 1, len(line), lambda chars: tokenizer.count(line[label_end:chars]) >= MEANINGFUL_CUT_TOKENS
    )
    return enough if enough is not None else len(line)


def _smallest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """The smallest value in [low, high] for which the monotone predicate holds."""
    best = None
    while low <= high:
        middle = (low + high) // 2
        if ok(middle):
            best, high = middle, middle - 1
        else:
            low = middle + 1
    return best


def _largest(low: int, high: int, ok: Callable[[int], bool]) -> int | None:
    """The largest value in [low, high] for which the monotone predicate holds."""
    best = None
    while low <= high:
        middle = (low + high) // 2
        if ok(middle):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return best


def _cap_free_text(ctx: CustomerContext, limit: int) -> tuple[CustomerContext, dict[str, int]]:
    """Free texts longer than ``limit`` shortened, so one essay cannot crowd out the rest."""
    shortened: dict[str, int] = {}

    def cap(section: str, text: str | None) -> str | None:
        if text is None or len(text) <= limit:
            return text
        shortened[section] = shortened.get(section, 0) + 1
        return shorten_text(text, limit)

    def must(section: str, text: str) -> str:
        return cap(section, text) or ""

    actions = [a.model_copy(update={"suggestion": must("coachActions", a.suggestion)}) for a in ctx.coach_actions]
    crm = ctx.crm_context
    if crm is not None:
        crm = crm.model_copy(
            update={"tickets": [t.model_copy(update={"subject": must("crm", t.subject)}) for t in crm.tickets]}
        )
    scheduling = ctx.scheduling_context
    if scheduling is not None:
        recent = [
            a.model_copy(update={"notes": cap("history", a.notes), "outcome": cap("history", a.outcome)})
            for a in scheduling.recent_sessions
        ]
        scheduling = scheduling.model_copy(
            update={"recent_sessions": recent, "last_session": recent[0] if recent else None}
        )
    profile = ctx.profile.model_copy(update={"display_name": cap("profile", ctx.profile.display_name)})
    entries = [
        e
        if not any(isinstance(v, str) and len(v) > limit for v in e.metrics.values())
        else e.model_copy(
            update={"metrics": {k: cap("recentEntries", v) if isinstance(v, str) else v for k, v in e.metrics.items()}}
        )
        for e in ctx.recent_entries
    ]
    commitments = ctx.commitments
    if commitments is not None:
        pending = [
            c.model_copy(update={"description": must("commitments", c.description)}) for c in commitments.pending
        ]
        commitments = commitments.model_copy(update={"pending": pending})
    suggestions = [
        s.model_copy(update={"title": must("suggestions", s.title), "description": must("suggestions", s.description)})
        for s in ctx.enhanced_suggestions
    ]
    patterns = [p.model_copy(update={"description": must("patterns", p.description)}) for p in ctx.patterns]
    wins = [w.model_copy(update={"description": must("wins", w.description)}) for w in ctx.wins]
    capped = ctx.model_copy(
        update={
            "coach_actions": actions,
            "crm_context": crm,
            "scheduling_context": scheduling,
            "profile": profile,
            "recent_entries": entries,
            "commitments": commitments,
            "enhanced_suggestions": suggestions,
            "patterns": patterns,
            "wins": wins,
        }
    )
    return capped, shortened


def cap_sacred_edge(edge: SacredEdge, now: datetime, tokenizer: Tokenizer) -> SacredEdge:
    """The Sacred Edge within ``SACRED_EDGE_MAX_TOKENS``: its free texts shortened alike until its line fits.

    The customer's own words come first in the prompt after the notes; a long essay must not push
    their commitments and life areas out.
    """
    if tokenizer.count_line(sacred_edge_item(edge, now) + "\n") <= SACRED_EDGE_MAX_TOKENS:
        return edge
    texts = ("description", "root_fear", "deeper_purpose", "latest_experiment")

    def capped(chars: int) -> SacredEdge:
        update = {}
        for name in texts:
            value = getattr(edge, name)
            if isinstance(value, str):
                update[name] = shorten_text(value, chars)
        return edge.model_copy(update=update)

    longest = max(len(getattr(edge, name) or "") for name in texts)
    best = _largest(
        1,
        longest,
        lambda chars: tokenizer.count_line(sacred_edge_item(capped(chars), now) + "\n") <= SACRED_EDGE_MAX_TOKENS,
    )
    return capped(best or 1)


Item = TypeVar("Item", bound=BaseModel)


def _shortenable(
    section: str, items: Sequence[Item], field: str, line: Callable[[Item], str], slot: str
) -> list[_Piece]:
    """One piece per item whose free text ``field`` may be shortened; kept items go to ``slot``."""
    pieces = []
    for item in items:

        def make(text: str, item: Item = item) -> tuple[list[str], Keep]:
            kept = item.model_copy(update={field: text})
            return [line(kept)], _appender(slot, kept)

        pieces.append(_Piece(section, make, getattr(item, field), True))
    return pieces


def _pieces(ctx: CustomerContext) -> list[_Piece]:
    """Everything above the entries, in priority order."""
    now = ctx.retrieved_at
    pieces: list[_Piece] = []

    def profile_piece(name: str) -> tuple[list[str], Keep]:
        profile = ctx.profile.model_copy(update={"display_name": name or None})
        return [profile_item(profile, now)], lambda d: setattr(d, "profile", profile)

    pieces.append(_Piece("profile", profile_piece, ctx.profile.display_name or "", bool(ctx.profile.display_name)))
    for note in ctx.notes_for_ai:

        def note_piece(message: str, note: NoteForAi = note) -> tuple[list[str], Keep]:
            kept = note.model_copy(update={"message": message})
            return [note_item(kept)], lambda d: d.notes.append(kept)

        pieces.append(_Piece("notes", note_piece, note.message, True, shorten_fenced))
    if ctx.freshness:
        pieces.append(_fixed("notes", [freshness_item(ctx.freshness)], _flag("freshness")))
    edge = ctx.sacred_edge
    if edge is not None:

        def edge_piece(description: str, edge: SacredEdge = edge) -> tuple[list[str], Keep]:
            kept = edge.model_copy(update={"description": description})
            return [sacred_edge_item(kept, now)], lambda d: setattr(d, "sacred_edge", kept)

        pieces.append(_Piece("sacredEdge", edge_piece, edge.description, True))
    if ctx.commitments is not None:
        pieces.append(_fixed("commitments", [commitments_item(ctx.commitments)], _flag("commitments")))
        pieces += _shortenable(
            "commitments", ctx.commitments.pending, "description", lambda c: commitment_item(c, now), "pending"
        )
    for area in ctx.life_areas:
        pieces.append(_fixed("lifeAreas", [life_area_item(area, now)], _appender("areas", area)))
    if ctx.spiral_state is not None:
        pieces.append(_fixed("spiral", [spiral_item(ctx.spiral_state, now)], _flag("spiral")))
        if ctx.spiral_state.completed_challenges or ctx.spiral_state.completed_challenge_count:
            pieces.append(_fixed("spiral", [challenges_item(ctx.spiral_state)], _flag("challenges")))
    if ctx.scheduling_context is not None:
        pieces.append(_fixed("nextSession", [next_session_item(ctx.scheduling_context, now)], _flag("scheduling")))
        if ctx.scheduling_context.preparation_brief:
            pieces.append(_fixed("nextSession", preparation_lines(ctx.scheduling_context), _flag("brief")))
        pieces += [
            _fixed("nextSession", [upcoming_item(a, now)], _appender("upcoming", a))
            for a in later_appointments(ctx.scheduling_context)
        ]
    if ctx.crm_context is not None:
        pieces.append(_fixed("crm", [crm_item(ctx.crm_context, now)], _flag("crm")))
        pieces += _shortenable("crm", ctx.crm_context.tickets, "subject", lambda t: ticket_item(t, now), "tickets")
    pieces += _shortenable(
        "coachActions", ctx.coach_actions, "suggestion", lambda a: coach_action_item(a, now), "actions"
    )
    pieces += _shortenable(
        "suggestions", ctx.enhanced_suggestions, "description", lambda s: suggestion_item(s, now), "suggestions"
    )
    pieces += _shortenable("patterns", ctx.patterns, "description", lambda p: pattern_item(p, now), "patterns")
    pieces += _shortenable("wins", ctx.wins, "description", lambda w: win_item(w, now), "wins")
    if ctx.daily_tasks is not None:
        pieces.append(_fixed("dailyTasks", task_lines(ctx.daily_tasks), _flag("tasks")))
    return pieces


def _tail_pieces(ctx: CustomerContext) -> list[_Piece]:
    """Supplements, conversation recency and past sessions: after the entries."""
    now = ctx.retrieved_at
    pieces = [_fixed("supplements", [supplement_item(s)], _appender("supplements", s)) for s in ctx.supplements]
    if ctx.conversation is not None:
        pieces.append(_fixed("conversation", [conversation_item(ctx.conversation, now)], _flag("conversation")))
    scheduling = ctx.scheduling_context
    if scheduling is not None:
        for session in scheduling.recent_sessions:

            def session_piece(notes: str, session: Appointment = session) -> tuple[list[str], Keep]:
                kept = session.model_copy(update={"notes": notes or None})
                return [past_session_item(kept, now)], lambda d: d.recent.append(kept)

            pieces.append(_Piece("history", session_piece, session.notes or "", bool(session.notes)))
    return pieces


def _fit_entries(
    fitter: _Fitter, recent: list[Entry], older: list[Entry], now: datetime, index: SummaryIndex | None
) -> bool:
    """List as many of the newest entries as fit and summarise the rest per category.

    True when every entry is represented (listed or summarised), so lower-priority pieces may follow;
    False when not even the summaries fit (some entries are then dropped, and reported as such).
    """
    item_lines = entry_line_groups(recent, now)
    prefix = [0]
    for lines in item_lines:
        prefix.append(prefix[-1] + fitter.lines_cost(lines))
    entries_heading = fitter.heading_cost("recentEntries")
    summaries_heading = fitter.heading_cost("entrySummaries")
    n = len(recent)
    plans: dict[int, tuple[list[EntrySummary], list[int]]] = {}
    if index is None or index.size != len(older) + len(recent):
        index = SummaryIndex([*reversed(older), *reversed(recent)])  # both lists are newest first

    def summary_plan(k: int) -> tuple[list[EntrySummary], list[int]]:
        if k not in plans:
            summaries = index.oldest(len(older) + n - k)
            plans[k] = (summaries, [fitter.tokenizer.count_line(summary_item(s) + "\n") for s in summaries])
        return plans[k]

    def cost(k: int) -> int:
        _, summary_costs = summary_plan(k)
        listed = entries_heading + prefix[k] if k else 0
        return listed + (summaries_heading + sum(summary_costs) if summary_costs else 0)

    room = fitter.room
    k: int | None = n
    if cost(n) > room:
        # Estimate with the summary cost of one split, then walk to the exact best split: the
        # summaries' cost barely changes with k, so this takes a handful of probes, not a search.
        estimate = cost(n - 1) - (entries_heading + prefix[n - 1] if n > 1 else 0)
        k = min(bisect.bisect_right(prefix, room - estimate - entries_heading) - 1, n - 1)
        while k >= 0 and cost(k) > room:
            k -= 1
        while 0 <= k < n - 1 and cost(k + 1) <= room:
            k += 1
        if k < 0:
            k = None
        elif _list_with_cut(fitter, recent, older, item_lines, k, prefix[k] + entries_heading, summary_plan):
            return False
    if k is None:
        summaries, summary_costs = summary_plan(0)
        kept: list[EntrySummary] = []
        used = summaries_heading
        for summary, summary_cost in zip(summaries, summary_costs, strict=True):
            if used + summary_cost > room:
                break
            kept.append(summary)
            used += summary_cost
        if kept:
            fitter.add("entrySummaries", [summary_item(s) for s in kept], lambda d: d.summaries.extend(kept))
            fitter.draft.summarised_entries = sum(s.count for s in kept)
        return False
    if k:
        listed = [line for lines in item_lines[:k] for line in lines]
        fitter.add("recentEntries", listed, lambda d: d.entries.extend(recent[:k]))
    summaries, _ = summary_plan(k)
    if summaries:
        fitter.add("entrySummaries", [summary_item(s) for s in summaries], lambda d: d.summaries.extend(summaries))
        fitter.draft.summarised_entries = n - k + len(older)
    return True


def _list_with_cut(
    fitter: _Fitter,
    recent: list[Entry],
    older: list[Entry],
    item_lines: list[list[str]],
    k: int,
    listed_cost: int,
    summary_plan: Callable[[int], tuple[list[EntrySummary], list[int]]],
) -> bool:
    """Fill the room left after k entries by listing entry k with its line cut; True if done."""
    summaries, summary_costs = summary_plan(k + 1)
    fixed = listed_cost + fitter.lines_cost(item_lines[k][:-1])
    if summary_costs:
        fixed += fitter.heading_cost("entrySummaries") + sum(summary_costs)
    room = fitter.room - fixed
    last = item_lines[k][-1]
    if room < MIN_USEFUL_ROOM:
        return False
    best = _largest(1, len(last) - 1, lambda chars: fitter.tokenizer.count(cut_line(last, chars) + "\n") <= room)
    if best is None or best < meaningful_cut(last, fitter.tokenizer):
        return False
    listed = [line for lines in item_lines[:k] for line in lines] + [*item_lines[k][:-1], cut_line(last, best)]
    fitter.add("recentEntries", listed, lambda d: d.entries.extend(recent[: k + 1]))
    fitter.draft.cut = CutLine(section="recentEntries", chars=best)
    if summaries:
        fitter.add("entrySummaries", [summary_item(s) for s in summaries], lambda d: d.summaries.extend(summaries))
        fitter.draft.summarised_entries = len(recent) - k - 1 + len(older)
    return True


def _build(ctx: CustomerContext, draft: _Draft) -> CustomerContext:
    """The fitted context: exactly the kept pieces."""
    scheduling = None
    full_scheduling = ctx.scheduling_context
    if draft.scheduling and full_scheduling is not None:
        first = [full_scheduling.next_appointment] if full_scheduling.next_appointment else []
        scheduling = full_scheduling.model_copy(
            update={
                "upcoming_appointments": first + draft.upcoming,
                "recent_sessions": draft.recent,
                "last_session": draft.recent[0] if draft.recent else None,
                "preparation_brief": full_scheduling.preparation_brief if draft.brief else None,
            }
        )
    crm = ctx.crm_context.model_copy(update={"tickets": draft.tickets}) if draft.crm and ctx.crm_context else None
    spiral = None
    if draft.spiral and ctx.spiral_state is not None:
        challenges = ctx.spiral_state.completed_challenges if draft.challenges else []
        count = ctx.spiral_state.completed_challenge_count if draft.challenges else 0
        spiral = ctx.spiral_state.model_copy(
            update={"completed_challenges": challenges, "completed_challenge_count": count}
        )
    commitments = None
    if draft.commitments and ctx.commitments is not None:
        commitments = ctx.commitments.model_copy(update={"pending": draft.pending})
    return ctx.model_copy(
        update={
            "profile": draft.profile or ctx.profile,
            "notes_for_ai": draft.notes,
            "freshness": ctx.freshness if draft.freshness else {},
            "sacred_edge": draft.sacred_edge,
            "commitments": commitments,
            "life_areas": draft.areas,
            "spiral_state": spiral,
            "scheduling_context": scheduling,
            "crm_context": crm,
            "coach_actions": draft.actions,
            "enhanced_suggestions": draft.suggestions,
            "patterns": draft.patterns,
            "wins": draft.wins,
            "daily_tasks": ctx.daily_tasks if draft.tasks else None,
            "recent_entries": draft.entries,
            "entry_summaries": draft.summaries,
            "supplements": draft.supplements,
            "conversation": ctx.conversation if draft.conversation else None,
        }
    )


def _report(
    full: CustomerContext, older: int, fitted: CustomerContext, draft: _Draft | None, shortened: dict[str, int]
) -> list[SectionOptimization]:
    """Per section: how many pieces were kept, summarised, dropped, shortened."""

    def count(ctx: CustomerContext) -> dict[str, int]:
        scheduling = ctx.scheduling_context
        later = len(later_appointments(scheduling)) if scheduling else 0
        spiral = ctx.spiral_state
        return {
            "notes": len(ctx.notes_for_ai) + (1 if ctx.freshness else 0),
            "profile": 1,
            "sacredEdge": 1 if ctx.sacred_edge else 0,
            "commitments": (1 + len(ctx.commitments.pending)) if ctx.commitments else 0,
            "lifeAreas": len(ctx.life_areas),
            "spiral": (1 + (1 if spiral.completed_challenges or spiral.completed_challenge_count else 0))
            if spiral
            else 0,
            "nextSession": 1 + later + (1 if scheduling.preparation_brief else 0) if scheduling else 0,
            "crm": (1 + len(ctx.crm_context.tickets)) if ctx.crm_context else 0,
            "coachActions": len(ctx.coach_actions),
            "suggestions": len(ctx.enhanced_suggestions),
            "patterns": len(ctx.patterns),
            "wins": len(ctx.wins),
            "dailyTasks": 1 if ctx.daily_tasks else 0,
            "recentEntries": len(ctx.recent_entries),
            "supplements": len(ctx.supplements),
            "conversation": 1 if ctx.conversation else 0,
            "history": len(scheduling.recent_sessions) if scheduling else 0,
        }

    before, after = count(full), count(fitted)
    summarised_recent = 0
    summarised_older = older if fitted.entry_summaries or not older else 0
    if draft is not None and draft.summarised_entries:
        summarised_recent = max(draft.summarised_entries - older, 0)
        summarised_older = min(draft.summarised_entries, older)
    report = []
    for name, total in before.items():
        kept = after[name]
        summarised = summarised_recent if name == "recentEntries" else 0
        report.append(
            SectionOptimization(
                name=name,
                kept=kept,
                summarised=summarised,
                dropped=max(total - kept - summarised, 0),
                shortened=shortened.get(name, 0),
            )
        )
    report.append(
        SectionOptimization(
            name="olderEntries", kept=0, summarised=summarised_older, dropped=max(older - summarised_older, 0)
        )
    )
    return report


def fit_context(full: FullContext, *, max_tokens: int, budget: int, tokenizer: Tokenizer) -> CustomerContext:
    """The context cut to ``budget`` tokens of prompt text, with ``token_count`` and ``optimization`` set.

    ``budget`` is the effective budget (:func:`effective_budget`); ``max_tokens`` is what the caller asked.
    """
    edge = full.context.sacred_edge
    edge_shortened: dict[str, int] = {}
    if edge is not None:
        capped_edge = cap_sacred_edge(edge, full.context.retrieved_at, tokenizer)
        if capped_edge is not edge:
            edge_shortened["sacredEdge"] = 1
            full = replace(full, context=full.context.model_copy(update={"sacred_edge": capped_edge}))
    ctx = full.context
    older = len(full.older_entries)
    # Summing memoised line counts equals counting the whole text (no BPE piece spans a newline)
    # and leaves every line's count in the memo for the fitter below.
    before = sum(tokenizer.count_line(line + "\n") for line in render_context(ctx).splitlines())
    if before <= budget:
        report = _report(ctx, older, ctx, None, edge_shortened)
        return ctx.model_copy(
            update={
                "token_count": before,
                "max_tokens": max_tokens,
                "optimization": Optimization(tokens_before=before, tokens_after=before, sections=report),
            }
        )
    capped, shortened = _cap_free_text(ctx, FREE_TEXT_CAP_CHARS)
    shortened.update(edge_shortened)
    # A removed character removes at most one token: skip rendering when capping cannot be enough.
    most_saved = sum(len(text) - FREE_TEXT_CAP_CHARS for text in _free_texts(ctx) if len(text) > FREE_TEXT_CAP_CHARS)
    if shortened and before - most_saved <= budget and tokenizer.count(render_context(capped)) <= budget:
        return _fit_by_capping(full, capped, shortened, before, max_tokens, budget, tokenizer)
    fit = functools.partial(_fit_pieces, full, ctx, capped, before, shortened, max_tokens, tokenizer)
    fitted = fit(budget)
    # Say in the prompt what was left out (the JSON's optimization says it for programs): the line's own
    # tokens come out of the budget, which may leave out a little more, so fit again until it holds.
    line = omission_line(fitted)
    if budget < OMISSION_MIN_BUDGET or line is None:
        return fitted
    for _ in range(3):
        cost = tokenizer.count_line(line + "\n")
        candidate = fit(budget - cost)
        new_line = omission_line(candidate)
        if new_line is None:
            return candidate
        new_cost = tokenizer.count_line(new_line + "\n")
        if new_cost <= cost and candidate.optimization is not None:
            # The line sits in the header on a line of its own: its tokens add up exactly.
            count = candidate.token_count + new_cost
            optimization = candidate.optimization.model_copy(update={"omission": new_line, "tokens_after": count})
            return candidate.model_copy(update={"token_count": count, "optimization": optimization})
        line = new_line
    return fitted


def _fit_pieces(
    full: FullContext,
    ctx: CustomerContext,
    capped: CustomerContext,
    before: int,
    shortened_before: dict[str, int],
    max_tokens: int,
    tokenizer: Tokenizer,
    budget: int,
) -> CustomerContext:
    """Greedy fit of the pieces in priority order into ``budget``."""
    now = capped.retrieved_at
    shortened = dict(shortened_before)
    older = len(full.older_entries)
    fitter = _Fitter(budget, tokenizer, header_lines(capped))
    complete = all(fitter.take(piece) for piece in _pieces(capped))
    if complete:
        # Capping may have rewritten entries' texts, never their times or numbers: the index still holds.
        complete = _fit_entries(fitter, capped.recent_entries, full.older_entries, now, full.index)
    if complete:
        all(fitter.take(piece) for piece in _tail_pieces(capped))
    draft = fitter.draft
    for section, number in draft.shortened.items():
        shortened[section] = shortened.get(section, 0) + number
    fitted = _build(capped, draft)
    optimization = Optimization(
        tokens_before=before,
        tokens_after=0,
        sections=_report(ctx, older, fitted, draft, shortened),
        cut=draft.cut,
    )
    fitted = fitted.model_copy(update={"max_tokens": max_tokens, "optimization": optimization})
    fitted, after = _guarantee(fitted, tokenizer.count(render_context(fitted)), budget, tokenizer)
    final = fitted.optimization or optimization
    return fitted.model_copy(
        update={"token_count": after, "optimization": final.model_copy(update={"tokens_after": after})}
    )


OMISSION_MIN_BUDGET = 200
_OMITTED_NOUNS: dict[str, tuple[str, str]] = {
    "notes": ("note for the AI", "notes for the AI"),
    "sacredEdge": ("Sacred Edge line", "Sacred Edge lines"),
    "commitments": ("commitment line", "commitment lines"),
    "lifeAreas": ("life area", "life areas"),
    "spiral": ("spiral journey line", "spiral journey lines"),
    "nextSession": ("upcoming session line", "upcoming session lines"),
    "crm": ("CRM line", "CRM lines"),
    "coachActions": ("coach action", "coach actions"),
    "suggestions": ("open suggestion", "open suggestions"),
    "patterns": ("pattern", "patterns"),
    "wins": ("win", "wins"),
    "dailyTasks": ("daily-task summary", "daily-task summaries"),
    "recentEntries": ("recent entry", "recent entries"),
    "olderEntries": ("older entry", "older entries"),
    "supplements": ("supplement", "supplements"),
    "conversation": ("conversation-recency line", "conversation-recency lines"),
    "history": ("past session", "past sessions"),
}


def omission_line(ctx: CustomerContext) -> str | None:
    """The prompt line naming what fitting left out, with counts, and how many recent entries it
    summarised instead of listing; None when nothing was."""
    if ctx.optimization is None:
        return None
    dropped = []
    summarised = 0
    for section in ctx.optimization.sections:
        if section.name == "recentEntries":
            summarised = section.summarised
        nouns = _OMITTED_NOUNS.get(section.name)
        if nouns is not None and section.dropped > 0:
            dropped.append(f"{section.dropped} {nouns[0] if section.dropped == 1 else nouns[1]}")
    if summarised:
        summary = (
            f"{summarised} recent {'entry' if summarised == 1 else 'entries'} summarised by area instead of listed"
        )
    if dropped:
        return "Left out for length: " + ", ".join(dropped) + (f"; {summary}." if summarised else ".")
    if summarised:
        return f"For length, {summary}."
    return None


def _fit_by_capping(
    full: FullContext,
    capped: CustomerContext,
    shortened: dict[str, int],
    before: int,
    max_tokens: int,
    budget: int,
    tokenizer: Tokenizer,
) -> CustomerContext:
    """Everything fits once long texts are capped: raise the cap as far as the budget allows."""
    ctx = full.context
    longest = max((len(t) for t in _free_texts(ctx)), default=FREE_TEXT_CAP_CHARS)
    best_limit = _largest(
        FREE_TEXT_CAP_CHARS,
        longest,
        lambda limit: tokenizer.count(render_context(_cap_free_text(ctx, limit)[0])) <= budget,
    )
    if best_limit is not None:
        capped, recapped = _cap_free_text(ctx, best_limit)
        # the Sacred Edge was capped before, by its own limit
        shortened = {**recapped, **{k: v for k, v in shortened.items() if k == "sacredEdge"}}
    after = tokenizer.count(render_context(capped))
    report = _report(ctx, len(full.older_entries), capped, None, shortened)
    return capped.model_copy(
        update={
            "token_count": after,
            "max_tokens": max_tokens,
            "optimization": Optimization(tokens_before=before, tokens_after=after, sections=report),
        }
    )


def _free_texts(ctx: CustomerContext) -> list[str]:
    texts = [a.suggestion for a in ctx.coach_actions]
    if ctx.profile.display_name:
        texts.append(ctx.profile.display_name)
    if ctx.crm_context is not None:
        texts += [t.subject for t in ctx.crm_context.tickets]
    if ctx.scheduling_context is not None:
        texts += [a.notes or "" for a in ctx.scheduling_context.recent_sessions]
        texts += [a.outcome or "" for a in ctx.scheduling_context.recent_sessions]
    texts += [v for e in ctx.recent_entries for v in e.metrics.values() if isinstance(v, str)]
    if ctx.commitments is not None:
        texts += [c.description for c in ctx.commitments.pending]
    texts += [s.title for s in ctx.enhanced_suggestions] + [s.description for s in ctx.enhanced_suggestions]
    texts += [p.description for p in ctx.patterns] + [w.description for w in ctx.wins]
    return texts


def _guarantee(ctx: CustomerContext, count: int, budget: int, tokenizer: Tokenizer) -> tuple[CustomerContext, int]:
    """Last line of defence for "never over": cut the last rendered section until the text fits.

    Line prices add up exactly, so this does nothing in practice; it exists so that the guarantee does
    not rest on that observation alone.
    """
    while count > budget:
        sections = render_sections(ctx)
        name = next(reversed(sections))
        optimization = ctx.optimization or Optimization(tokens_before=count, tokens_after=count)
        current = optimization.cut.chars if optimization.cut and optimization.cut.section == name else None
        last_line = sections[name][-1]
        chars = max((current if current is not None else len(last_line)) - max((count - budget) * 2, 1), 0)
        if chars == 0 and len(sections) > 1:
            ctx = _drop_section(ctx, name)
        else:
            ctx = ctx.model_copy(
                update={"optimization": optimization.model_copy(update={"cut": CutLine(section=name, chars=chars)})}
            )
        count = tokenizer.count(render_context(ctx))
    return ctx, count


def _drop_section(ctx: CustomerContext, name: str) -> CustomerContext:
    empty: dict[str, dict[str, object]] = {
        "notes": {"notes_for_ai": [], "freshness": {}},
        "sacredEdge": {"sacred_edge": None},
        "commitments": {"commitments": None},
        "suggestions": {"enhanced_suggestions": []},
        "patterns": {"patterns": []},
        "wins": {"wins": []},
        "dailyTasks": {"daily_tasks": None},
        "conversation": {"conversation": None},
        "lifeAreas": {"life_areas": []},
        "spiral": {"spiral_state": None},
        "nextSession": {"scheduling_context": None},
        "crm": {"crm_context": None},
        "coachActions": {"coach_actions": []},
        "recentEntries": {"recent_entries": []},
        "entrySummaries": {"entry_summaries": []},
        "supplements": {"supplements": []},
        "history": {"scheduling_context": None},
    }
    optimization = ctx.optimization.model_copy(update={"cut": None}) if ctx.optimization else None
    return ctx.model_copy(update={**empty.get(name, {}), "optimization": optimization})
