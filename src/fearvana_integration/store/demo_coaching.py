"""The demo customers' coaching records: Sacred Edge, commitments, patterns, wins, assessments, daily
tasks, the app coach's suggestions, conversation turns — and the shared challenge catalogue.

Scripted for the six scenario customers (each shows something a coach must see), drawn at random for
generated ones. Deterministic: every choice comes from the customer's own ``random.Random``.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fearvana_integration.domain.life_areas import APP_LIFE_AREAS

CATALOGUE_NAMESPACE = uuid.UUID("6f1c2d7e-4b1a-5c3e-9f0a-fea7a2a00002")

# (slug, title, spiral level, step, type, active): the shared growth-challenge catalogue.
CHALLENGES: tuple[tuple[str, str, str, int, str, bool], ...] = (
    ("cold-shower-7d", "Seven cold showers", "red", 1, "discipline", True),
    ("digital-sunset", "Digital sunset at 9 pm", "blue", 2, "habit", True),
    ("gratitude-week", "A week of gratitude notes", "green", 2, "reflection", True),
    ("hard-conversation", "Have the conversation you avoid", "orange", 3, "sacred_edge", True),
    ("sacred-edge-journal", "Journal on your Sacred Edge", "orange", 1, "reflection", True),
    ("no-sugar-14d", "Fourteen days without added sugar", "blue", 4, "discipline", True),
    ("savings-sprint", "Thirty-day savings sprint", "orange", 4, "money", True),
    ("phone-free-dinner", "Phone-free family dinners", "green", 3, "relationships", True),
    ("breathwork-10d", "Ten days of breathwork", "yellow", 5, "practice", True),
    ("early-riser", "Up at 6 for two weeks", "blue", 5, "habit", True),
    ("public-talk", "Give a five-minute talk", "orange", 6, "sacred_edge", False),  # retired from the catalogue
)


def challenge_id(slug: str) -> uuid.UUID:
    """The fixed id of a catalogue challenge."""
    return uuid.uuid5(CATALOGUE_NAMESPACE, slug)


def catalogue_rows(now: datetime) -> list[dict[str, Any]]:
    """The catalogue's rows."""
    return [
        {"id": challenge_id(slug), "spiral_level": level, "target_step": step, "challenge_type": kind,
         "title": title, "description": f"{title}: a Fearvana growth challenge.", "xp_reward": 25 * step,
         "difficulty_level": min(5, max(1, step - 1)), "is_active": active, "created_at": now - timedelta(days=900)}
        for slug, title, level, step, kind, active in CHALLENGES
    ]  # fmt: skip


@dataclass
class Coaching:
    """One customer's coaching rows by table (``_category`` keys are resolved to life-level ids later)."""

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, **values: Any) -> None:
        self.rows.setdefault(table, []).append(values)


_EDGES = (
    ("Speaking up in leadership meetings instead of staying quiet", "Being seen as not good enough",
     "To lead my team with honesty and earn my own respect", "exploring"),
    ("Asking my father for the conversation we never had", "Rejection by the people I love most",
     "A family where hard things can be said", "engaging"),
    ("Quitting the safe job to build the studio", "Failing publicly and losing security",
     "Work that is mine and makes me come alive", "identified"),
    ("Training for the mountain race after the injury", "My body letting me down again",
     "Trusting myself under pressure", "integrated"),
)  # fmt: skip
_EXPERIMENTS = (
    {"title": "Said one honest sentence in the Monday meeting", "outcome": "felt shaky, nobody objected"},
    {"title": "Wrote the email I was afraid to send", "outcome": "sent it after two days"},
    {"title": "Asked for feedback on my draft", "outcome": "useful, less scary than expected"},
    "Ten minutes of cold exposure before the call",
)
_COMMITMENTS = (
    "Call my brother this weekend",
    "Book the course before Friday",
    "Meditate ten minutes every morning this week",
    "Send the proposal to the client",
    "No phone in the bedroom for seven nights",
    "Run three times this week",
    "Tell my manager about the promotion I want",
    "Move 10% of the bonus to savings",
)
_PATTERNS = (
    ("avoidance", "Postpones hard conversations until they escalate"),
    ("resistance", "Pushes back on evening routines as 'not my style'"),
    ("recurring_challenge", "Sleep drops below six hours in deadline weeks"),
    ("breakthrough", "Named the fear out loud in the session and acted on it the same day"),
    ("avoidance", "Skips the money check-in when spending was high"),
)
_WINS = (
    ("sacred_edge", "large", "Spoke first in the board meeting"),
    ("commitment", "medium", "Kept the morning routine for 14 days"),
    ("small_win", "small", "Cooked dinner instead of ordering"),
    ("breakthrough", "large", "Asked for help without apologising"),
    ("small_win", "small", "Walked to work three days in a row"),
)
_TASKS = (
    "10-minute morning meditation",
    "Log sleep and mood",
    "Walk after lunch",
    "Write three gratitudes",
    "Review spending",
    "30 minutes of study",
)
_SUGGESTIONS = (
    ("Name the fear before the meeting", "Write the sentence you fear saying, and say it first.", "medium", "high",
     "sacred_edge", "mindset_maturity"),
    ("Protect your sleep window", "Set an alarm for bedtime, not only for waking.", "easy", "medium", "habit",
     "health"),
    ("One honest money talk", "Share one number with your partner this week.", "hard", "high", "relationships",
     "money"),
)  # fmt: skip
_LONG_EDGE = (
    "Standing on a stage in front of the whole company and telling the story of the year I almost lost "
    "everything: the debt, the divorce, the months I did not get out of bed, and what I learned when I "
    "finally asked for help. I have avoided this for five years because I am afraid people will stop "
    "seeing me as the strong one, and because part of me still believes that story is a failure rather "
    "than the reason I can coach anyone at all."
)


def _at(now: datetime, rng: random.Random, days: tuple[float, float]) -> datetime:
    return now - timedelta(days=rng.uniform(*days))


def scripted_coaching(email: str, now: datetime, rng: random.Random, coaching: Coaching, canary: str) -> bool:
    """The scenario customers' coaching records; False when ``email`` is not a scenario customer."""
    if email == "demo@fearvana.local":
        _edge(coaching, now, 0, experiments=3, identified_days=120)
        _commitments(coaching, now, rng, pending=((2.0, 0), (-3.0, 1), (None, 2)), completed=5, broken=1)
        _patterns(coaching, now, (0, 2, 3))
        _wins(coaching, now, (0, 1, 2, 4))
        coaching.add("user_spiral_assessments", spiral_level="orange", confidence_score=78,
                     assessed_at=now - timedelta(days=20))  # fmt: skip
        _tasks(coaching, now, rng, days=14, per_day=3, done_rate=0.7, today_done=1)
        _suggestions(coaching, now, (0, 1), dismissed=(2,))
        _conversation(coaching, now, rng, days=(0.5, 2, 6, 13, 27), turns=4)
        return True
    if email == "new@fearvana.local":
        return True  # signed up, nothing else: a new customer
    if email == "stale@fearvana.local":
        _edge(coaching, now, 2, experiments=1, identified_days=200, updated_days=60)
        _commitments(coaching, now, rng, pending=((-50.0, 3),), completed=2, broken=2, made_days=(55, 120))
        _patterns(coaching, now, (0,), last_seen_days=50)
        _conversation(coaching, now, rng, days=(46, 52, 60), turns=3)
        return True
    if email == "heavy@fearvana.local":
        _edge(coaching, now, 0, experiments=12, identified_days=500, long_text=True)
        _commitments(coaching, now, rng, pending=((1.0, 4), (5.0, 5), (-1.0, 6), (-9.0, 7), (12.0, 0), (20.0, 1)),
                     completed=40, broken=9)  # fmt: skip
        _patterns(coaching, now, (0, 1, 2, 3, 4))
        coaching.rows["user_patterns"][-1]["description"] = canary
        _wins(coaching, now, (0, 1, 2, 3, 4), repeat=6)
        coaching.add("spiral_assessments", primary_level="orange", secondary_level="blue",
                     created_at=now - timedelta(days=400))  # fmt: skip
        coaching.add("user_spiral_assessments", spiral_level="green", confidence_score=64,
                     assessed_at=now - timedelta(days=9))  # fmt: skip
        _tasks(coaching, now, rng, days=60, per_day=5, done_rate=0.8, today_done=2)
        _suggestions(coaching, now, (0, 1, 2), dismissed=())
        _conversation(coaching, now, rng, days=tuple(d + 0.3 for d in range(0, 30, 2)), turns=10)
        return True
    if email == "churned-booked@fearvana.local":
        _edge(coaching, now, 3, experiments=0, identified_days=300, updated_days=40)
        _commitments(coaching, now, rng, pending=((-14.0, 5),), completed=1, broken=6, made_days=(20, 200))
        _patterns(coaching, now, (4, 1))
        coaching.add("spiral_assessments", primary_level="blue", secondary_level="orange",
                     created_at=now - timedelta(days=250))  # fmt: skip
        _conversation(coaching, now, rng, days=(11, 25), turns=2)
        return True
    if email == "prep-due@fearvana.local":
        _edge(coaching, now, 1, experiments=2, identified_days=60)
        _commitments(coaching, now, rng, pending=((1.5, 6), (4.0, 7)), completed=3, broken=0)
        _wins(coaching, now, (1,))
        coaching.add("user_spiral_assessments", spiral_level="orange", confidence_score=55,
                     assessed_at=now - timedelta(days=45))  # fmt: skip
        _tasks(coaching, now, rng, days=7, per_day=2, done_rate=0.5, today_done=0)
        _conversation(coaching, now, rng, days=(1, 3), turns=6)
        return True
    return False


def generated_coaching(now: datetime, rng: random.Random, coaching: Coaching, active: bool, age_days: int) -> None:
    """Coaching records for a generated customer (fewer for inactive ones)."""
    if not active or rng.random() < 0.3:
        return
    span = (1.0, max(2.0, min(age_days - 1.0, 300.0)))
    if rng.random() < 0.6:
        _edge(coaching, now, rng.randrange(len(_EDGES)), experiments=rng.randrange(0, 5),
              identified_days=rng.uniform(*span))  # fmt: skip
    if rng.random() < 0.7:
        pending = tuple((rng.uniform(-10, 15), rng.randrange(len(_COMMITMENTS))) for _ in range(rng.randrange(0, 4)))
        _commitments(coaching, now, rng, pending=pending, completed=rng.randrange(0, 8), broken=rng.randrange(0, 4),
                     made_days=span)  # fmt: skip
    if rng.random() < 0.5:
        _patterns(coaching, now, tuple(rng.sample(range(len(_PATTERNS)), rng.randrange(1, 3))))
    if rng.random() < 0.5:
        _wins(coaching, now, tuple(rng.sample(range(len(_WINS)), rng.randrange(1, 4))))
    if rng.random() < 0.4:
        coaching.add("user_spiral_assessments", spiral_level=rng.choice(("red", "blue", "orange", "green")),
                     confidence_score=rng.randrange(40, 95), assessed_at=_at(now, rng, span))  # fmt: skip
    if rng.random() < 0.4:
        _tasks(coaching, now, rng, days=rng.randrange(3, 15), per_day=rng.randrange(1, 4),
               done_rate=rng.uniform(0.2, 0.9), today_done=0)  # fmt: skip
    if rng.random() < 0.5:
        _conversation(coaching, now, rng, days=tuple(sorted(rng.uniform(0.2, 40) for _ in range(rng.randrange(1, 5)))),
                      turns=rng.randrange(2, 8))  # fmt: skip


def _edge(
    coaching: Coaching,
    now: datetime,
    index: int,
    *,
    experiments: int,
    identified_days: float,
    updated_days: float | None = None,
    long_text: bool = False,
) -> None:
    description, fear, purpose, status = _EDGES[index]
    coaching.add(
        "user_sacred_edges",
        description=_LONG_EDGE if long_text else description,
        root_fear=fear,
        deeper_purpose=purpose,
        identified_date=now - timedelta(days=identified_days),
        updated_at=now - timedelta(days=updated_days if updated_days is not None else min(identified_days, 3.5)),
        experiments=[_EXPERIMENTS[i % len(_EXPERIMENTS)] for i in range(experiments)],
        status=status,
    )


def _commitments(
    coaching: Coaching,
    now: datetime,
    rng: random.Random,
    *,
    pending: tuple[tuple[float | None, int], ...],
    completed: int,
    broken: int,
    made_days: tuple[float, float] = (1.0, 60.0),
) -> None:
    for due_in, text in pending:
        due = now + timedelta(days=due_in) if due_in is not None else None
        made = min(now, (due or now) - timedelta(days=rng.uniform(2, 10)))
        coaching.add("user_commitments", description=_COMMITMENTS[text % len(_COMMITMENTS)], created_at=made,
                     due_date=due, status="pending", follow_up_count=rng.randrange(0, 3))  # fmt: skip
    for status, count in (("completed", completed), ("broken", broken)):
        for _ in range(count):
            made = _at(now, rng, made_days)
            kept = made + timedelta(days=rng.uniform(0.5, 6)) if status == "completed" else None
            coaching.add("user_commitments", description=rng.choice(_COMMITMENTS), created_at=made,
                         due_date=made + timedelta(days=rng.uniform(1, 7)), status=status,
                         follow_up_count=rng.randrange(0, 3), completed_at=kept)  # fmt: skip


def _patterns(coaching: Coaching, now: datetime, which: tuple[int, ...], last_seen_days: float = 0.0) -> None:
    severities = ("high", "medium", "medium", "low", "low")
    for rank, index in enumerate(which):
        kind, text = _PATTERNS[index]
        coaching.add("user_patterns", pattern_type=kind, description=text, occurrences=2 + 3 * (len(which) - rank),
                     first_seen=now - timedelta(days=90 + 10 * index),
                     last_seen=now - timedelta(days=last_seen_days + 2 + 5 * rank),
                     severity=severities[index % len(severities)])  # fmt: skip


def _wins(coaching: Coaching, now: datetime, which: tuple[int, ...], repeat: int = 1) -> None:
    for round_ in range(repeat):
        for rank, index in enumerate(which):
            category, impact, text = _WINS[index]
            coaching.add("user_wins", description=text, category=category, impact=impact,
                         created_at=now - timedelta(days=1 + 4 * rank + 30 * round_))  # fmt: skip


def _tasks(
    coaching: Coaching, now: datetime, rng: random.Random, *, days: int, per_day: int, done_rate: float, today_done: int
) -> None:
    today: date = now.date()
    for offset in range(days):
        day = today - timedelta(days=offset)
        for index in range(per_day):
            done = index < today_done if offset == 0 else rng.random() < done_rate
            coaching.add("daily_tasks", title=_TASKS[(offset + index) % len(_TASKS)], description=None,
                         points=10 * (index + 1), completed=done, due_date=day,
                         _category=APP_LIFE_AREAS[(offset + index) % len(APP_LIFE_AREAS)],
                         created_at=datetime.combine(day, now.timetz()) - timedelta(hours=12),
                         updated_at=datetime.combine(day, now.timetz()) - timedelta(hours=2))  # fmt: skip


def _suggestions(coaching: Coaching, now: datetime, which: tuple[int, ...], dismissed: tuple[int, ...]) -> None:
    for rank, index in enumerate((*which, *dismissed)):
        title, text, difficulty, impact, kind, category = _SUGGESTIONS[index]
        coaching.add("enhanced_coach_suggestions", title=title, description=text, action_items=[],
                     estimated_time="15 minutes", difficulty=difficulty, impact=impact, spiral_level="orange",
                     aqal_quadrant="upper-left", suggestion_type=kind, completed=False,
                     dismissed=index in dismissed, _category=category,
                     created_at=now - timedelta(days=1 + 3 * rank))  # fmt: skip


def _conversation(
    coaching: Coaching, now: datetime, rng: random.Random, *, days: tuple[float, ...], turns: int
) -> None:
    for day in days:
        start = now - timedelta(days=day)
        for turn in range(turns):
            coaching.add("akshay_conversations", role="user" if turn % 2 == 0 else "assistant",
                         content="(demo conversation turn)", spiral_level="orange",
                         created_at=start + timedelta(minutes=2 * turn + rng.random()))  # fmt: skip
