"""Production-store figures (issue: Supabase Postgres with RLS, migrations and audit):

1. data statements per cold context read (target 1);
2. the store read of one context (role + claims + the one statement) against a floor of the same
   transaction shape (BEGIN, role + claims, SELECT 1, COMMIT), in the same run (target <= 2x);
3. that read at 1,000 and at 100,000 customers (target p95 at 100k <= 1.2 x p95 at 1k), and how long
   loading 100,000 customers (about 30 entries each) takes (target < 10 min);
4. the audit trail's overhead per context read (target <= 5 % of the read's p95);
5. a heavy customer (25,000 entries over five years, and years of coaching records) read under the
   app's own row-level-security policies — entries and coach actions look their owner up in a
   subquery per row — against the same read with the policies bypassed (service_role) and against
   the transaction floor (target p95 <= 3x the same read without policies, and <= 25 ms), beside what
   a read touching the customer's whole entry history costs under those policies.

Databases ``fi_bench_1k`` / ``fi_bench_100k`` are created on the local server (127.0.0.1:5432) and
dropped at the end unless --keep (a kept one is reused by the next run).

Run: .venv/bin/python benchmarks/postgres.py [--customers-large 100000] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
from _common import machine, percentiles

from fearvana_integration import IntegrationManager
from fearvana_integration.config import Settings, load_settings
from fearvana_integration.observability.logging import configure_logging
from fearvana_integration.runtime import build_runtime
from fearvana_integration.store import schema as t
from fearvana_integration.store.admin import init_postgres
from fearvana_integration.store.demo import demo_customer_id, demo_specs, seed_demo
from fearvana_integration.store.engine import create_engine
from fearvana_integration.store.repository import _SETUP, CustomerStore, _activity_from, _journey_from, _limits
from fearvana_integration.store.signup import NewUser, sign_up

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
COUNT_DEMO_CUSTOMERS = "SELECT count(*) FROM public.profiles WHERE email <> 'bench-heavy@fearvana.local'"


def fmt(samples: list[float]) -> str:
    p50, p95, p99 = percentiles(samples)
    return f"p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  p99 {p99:6.2f} ms"


def settings_for(name: str, **env: str) -> Settings:
    values = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}",
        "MOCK_LATENCY_MS": "0",
        "LOG_LEVEL": "CRITICAL",
        **env,
    }
    return load_settings(values, read_env_files=False)


async def ensure_database(name: str, customers: int) -> float | None:
    """Create and seed ``name`` unless it already holds ``customers`` customers; seconds it took to seed."""
    admin = await asyncpg.connect(ADMIN)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    settings = settings_for(name)
    engine = create_engine(settings)
    try:
        if exists:
            async with engine.connect() as conn:
                have = (await conn.execute(sa.text(COUNT_DEMO_CUSTOMERS))).scalar()
            if have == customers:
                return None
        await init_postgres(engine, supabase_compat=True)
        started = time.perf_counter()
        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 30:
                last[0] = time.perf_counter()
                print(f"   … seeded {done:,}/{total:,}", flush=True)

        await seed_demo(engine, "postgres", count=customers, now=datetime.now(UTC), mean_entries=30, progress=progress)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


async def drop(name: str) -> None:
    admin = await asyncpg.connect(ADMIN)
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await admin.close()


async def read_vs_floor(name: str, customers: int, runs: int) -> tuple[list[float], list[float]]:
    """Store reads of random customers (one statement each) beside the bare transaction shape."""
    manager = IntegrationManager(build_runtime(settings_for(name)))
    store = manager.runtime.store
    ids = [demo_customer_id(spec.email) for spec in demo_specs(customers)]
    rng = random.Random(7)
    now = datetime.now(UTC)
    reads, floors = [], []
    floor = sa.text("SELECT 1")
    for _ in range(runs):
        customer = rng.choice(ids)
        started = time.perf_counter()
        await store.load_all(customer, now)
        reads.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        async with store.engine.connect() as conn, conn.begin():
            await conn.execute(_SETUP, {"role": "authenticated", "claims": "{}", "timeout": "10000"})
            await conn.execute(floor)
        floors.append((time.perf_counter() - started) * 1000)
    await manager.aclose()
    return reads, floors


async def statements_per_context(name: str) -> list[str]:
    manager = IntegrationManager(build_runtime(settings_for(name)))
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(manager.runtime.store.engine.sync_engine, "before_cursor_execute", record)
    await manager.get_customer_context(demo_customer_id("heavy@fearvana.local"))
    await manager.aclose()
    return [s for s in seen if not s.lstrip().startswith("SELECT set_config(") and "audit_log" not in s]


async def audit_overhead(name: str, runs: int) -> tuple[list[float], list[float], float]:
    """Uncached context reads with the audit trail recording and with recording switched off,
    interleaved request by request after a warm-up; plus the time spent in audit code itself
    (recording and flushing, which share the event loop with the reads) per read, in ms."""
    ids = [demo_customer_id(spec.email) for spec in demo_specs(12)]
    audited = IntegrationManager(build_runtime(settings_for(name, CACHE_ENABLED="false")))
    silent = IntegrationManager(build_runtime(settings_for(name, CACHE_ENABLED="false")))
    silent.runtime.audit.record = lambda *args, **kwargs: None  # type: ignore[method-assign]
    audit = audited.runtime.audit
    spent = [0.0]
    record, flush = audit.record, audit.flush

    def timed_record(*args: Any, **kwargs: Any) -> None:
        started = time.perf_counter()
        record(*args, **kwargs)
        spent[0] += time.perf_counter() - started

    audit.record = timed_record  # type: ignore[method-assign]
    samples: dict[int, list[float]] = {id(audited): [], id(silent): []}
    for index in range(len(ids) * 2):
        for manager in (audited, silent):
            await manager.get_customer_context(ids[index % len(ids)])
    spent[0] = 0.0
    for index in range(runs):
        pair = (audited, silent) if index % 2 == 0 else (silent, audited)
        for manager in pair:
            started = time.perf_counter()
            await manager.get_customer_context(ids[index % len(ids)])
            samples[id(manager)].append((time.perf_counter() - started) * 1000)
    recording = spent[0] / runs
    # The batched write, measured alone (timed in the loop above it would include the reads that
    # ran while it waited for the database): 2,000 events, per event.
    audit.record = record  # type: ignore[method-assign]
    await flush()
    for _ in range(2000):
        record("context.read", customer_id=ids[0], resources=("profile",))
    started = time.perf_counter()
    await flush()
    writing = (time.perf_counter() - started) / 2000
    await audited.aclose()
    await silent.aclose()
    return samples[id(audited)], samples[id(silent)], (recording + writing) * 1000


HEAVY_EMAIL = "bench-heavy@fearvana.local"
HEAVY_ENTRIES = 25_000
HEAVY_ID = uuid.uuid5(uuid.NAMESPACE_URL, "fearvana-bench:heavy")


async def ensure_heavy_customer(name: str) -> None:
    """A customer with 25,000 entries over five years and years of coaching records, written the way
    the app writes them (sign-up, then activity); kept when it is already there."""
    engine = create_engine(settings_for(name))
    now = datetime.now(UTC)
    rng = random.Random(11)
    try:
        async with engine.begin() as conn:
            have = (
                await conn.execute(
                    sa.text(
                        "SELECT count(*) FROM public.entries e JOIN public.life_levels l ON l.id = e.level_id "
                        "WHERE l.profile_id = :p"
                    ),
                    {"p": HEAVY_ID},
                )
            ).scalar()
            if have == HEAVY_ENTRIES:
                return
            await conn.execute(sa.text("DELETE FROM auth.users WHERE id = :p"), {"p": HEAVY_ID})
            await sign_up(conn, "postgres", [NewUser(HEAVY_ID, HEAVY_EMAIL, "Bench Heavy", now - timedelta(days=1900))])
            levels = [
                row.id
                for row in await conn.execute(
                    sa.select(t.life_levels.c.id).where(t.life_levels.c.profile_id == HEAVY_ID)
                )
            ]
            span = 5 * 365 * 86400
            entries = [
                {"id": uuid.uuid4(), "level_id": rng.choice(levels), "created_at": now,
                 "metric": {"sleep_hours": round(rng.uniform(5, 9), 1)},
                 "ts": now - timedelta(seconds=rng.uniform(0, span))}
                for _ in range(HEAVY_ENTRIES)
            ]  # fmt: skip
            await conn.execute(t.entries.insert(), entries)
            actions = [
                {"id": uuid.uuid4(), "level_id": rng.choice(levels), "suggestion": "Walk after lunch.",
                 "completed": rng.random() < 0.5, "ts": now - timedelta(days=rng.uniform(0, 1800))}
                for _ in range(400)
            ]  # fmt: skip
            await conn.execute(t.coach_actions.insert(), actions)
            await conn.execute(
                t.daily_tasks.insert(),
                [{"id": uuid.uuid4(), "profile_id": HEAVY_ID, "title": "Meditate", "completed": rng.random() < 0.7,
                  "due_date": (now - timedelta(days=day)).date()} for day in range(730) for _ in range(3)],
            )  # fmt: skip
            await conn.execute(
                t.akshay_conversations.insert(),
                [{"id": uuid.uuid4(), "user_id": HEAVY_ID, "role": ("user", "assistant")[i % 2], "content": "…",
                  "created_at": now - timedelta(minutes=i * 97)} for i in range(6000)],
            )  # fmt: skip
            await conn.execute(
                t.user_commitments.insert(),
                [{"id": uuid.uuid4(), "user_id": HEAVY_ID, "description": "Run three times this week",
                  "status": rng.choice(("pending", "completed", "completed", "broken")),
                  "created_at": now - timedelta(days=rng.uniform(0, 700)),
                  "due_date": now + timedelta(days=rng.uniform(-700, 14))} for _ in range(400)],
            )  # fmt: skip
            await conn.execute(
                t.spiral_xp_log.insert(),
                [{"id": uuid.uuid4(), "profile_id": HEAVY_ID, "xp_type": "growth_edge", "xp_amount": 25,
                  "source_type": "daily_task", "spiral_level": "orange",
                  "created_at": now - timedelta(days=rng.uniform(0, 1800))} for _ in range(3000)],
            )  # fmt: skip
            await conn.execute(
                sa.text(
                    "INSERT INTO public.user_sacred_edges (user_id, description, status) "
                    "VALUES (:p, 'Speaking on stage', 'engaging')"
                ),
                {"p": HEAVY_ID},
            )
        async with engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(sa.text("ANALYZE"))
    finally:
        await engine.dispose()


async def heavy_under_policies(name: str, runs: int) -> dict[str, list[float]]:
    """The heavy customer's store read with the app's policies in force, the same read with them
    bypassed, the transaction floor, and a whole-history read under the policies — interleaved."""
    # One pool per role: a cached plan of a statement under row-level security is made again whenever
    # the same connection runs it as another role, which interleaving would do on every read.
    store = CustomerStore(create_engine(settings_for(name)), "postgres")
    bypass = CustomerStore(create_engine(settings_for(name)), "postgres")
    floor = sa.text("SELECT 1")
    history = sa.text(
        "SELECT count(*), max(e.ts) FROM public.entries e JOIN public.life_levels l ON l.id = e.level_id "
        "WHERE l.profile_id = :p"
    )
    samples: dict[str, list[float]] = {"policies": [], "bypassed": [], "floor": [], "history": []}

    async def document(role: str) -> None:
        limits = _limits(datetime.now(UTC))
        reader = store if role == "authenticated" else bypass
        async with reader.transaction(HEAVY_ID if role == "authenticated" else None, role=role) as conn:
            raw = await reader._document(conn, HEAVY_ID, "all", limits)
        _activity_from(raw, limits.history_start)
        _journey_from(raw)

    for index in range(runs + 20):
        timings: dict[str, float] = {}
        order = ["policies", "bypassed", "floor"] if index % 2 else ["floor", "bypassed", "policies"]
        for kind in order:
            started = time.perf_counter()
            if kind == "floor":
                async with store.engine.connect() as conn, conn.begin():
                    await conn.execute(_SETUP, {"role": "authenticated", "claims": "{}", "timeout": "10000"})
                    await conn.execute(floor)
            else:
                await document("authenticated" if kind == "policies" else "service_role")
            timings[kind] = (time.perf_counter() - started) * 1000
        if index >= 20:  # after a warm-up
            for kind, value in timings.items():
                samples[kind].append(value)
    for _ in range(max(runs // 20, 5)):
        started = time.perf_counter()
        async with store.transaction(HEAVY_ID) as conn:
            await conn.execute(history, {"p": HEAVY_ID})
        samples["history"].append((time.perf_counter() - started) * 1000)
    await store.aclose()
    await bypass.aclose()
    return samples


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers-large", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--keep", action="store_true", help="keep the databases for the next run")
    args = parser.parse_args()
    configure_logging("CRITICAL")
    small, large = "fi_bench_1k", "fi_bench_100k"
    print(f"machine: {machine()}")
    print(f"date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    await ensure_database(small, 1000)
    print(f"\n0. seeding {args.customers_large:,} customers (about 30 entries each) …", flush=True)
    seconds = await ensure_database(large, args.customers_large)
    if seconds is None:
        print("   (reused the kept database)")
    else:
        print(f"   took {seconds / 60:.1f} min (target < 10 min)")
    async with create_engine(settings_for(large)).connect() as conn:
        entries = (await conn.execute(sa.text("SELECT count(*) FROM public.entries"))).scalar()
    print(f"   {entries:,} entries in all")

    data = await statements_per_context(small)
    print(f"\n1. data statements for one cold context: {len(data)} (target 1): {data[0][:80]}…")

    print(f"\n2./3. store read of one context (random customers, {args.runs} reads) vs its transaction floor")
    for name, customers in ((small, 1000), (large, args.customers_large)):
        reads, floors = await read_vs_floor(name, customers, args.runs)
        ratio = percentiles(reads)[1] / percentiles(floors)[1]
        print(f"   {customers:>7,} customers  read  {fmt(reads)}")
        print(f"   {'':>7}            floor {fmt(floors)}   read/floor p95 {ratio:.2f}x (target <= 2)")
        if name == small:
            small_p95 = percentiles(reads)[1]
        else:
            print(f"   p95 at {customers:,} / p95 at 1,000 = {percentiles(reads)[1] / small_p95:.2f} (target <= 1.2)")
    # The app's schema has no index on supplements.profile_id (db init advises one): the same reads with it.
    async with create_engine(settings_for(large)).connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            sa.text("CREATE INDEX IF NOT EXISTS bench_advised_supplements ON public.supplements (profile_id)")
        )
        reads, floors = await read_vs_floor(large, args.customers_large, args.runs)
        await conn.execute(sa.text("DROP INDEX IF EXISTS public.bench_advised_supplements"))
    ratio = percentiles(reads)[1] / percentiles(floors)[1]
    print(f"   {args.customers_large:>7,} customers, with the index db init advises on supplements(profile_id):")
    print(f"   {'':>7}            read  {fmt(reads)}")
    print(f"   {'':>7}            floor {fmt(floors)}   read/floor p95 {ratio:.2f}x")
    print(
        f"   p95 at {args.customers_large:,} / p95 at 1,000 = {percentiles(reads)[1] / small_p95:.2f} (target <= 1.2)"
    )

    audited, silent, per_read = await audit_overhead(small, args.runs // 2)
    overhead = (percentiles(audited)[1] - percentiles(silent)[1]) / percentiles(silent)[1]
    print(f"\n4. uncached context reads ({args.runs // 2} each, interleaved after a warm-up), audit on vs off")
    print(f"   audit on   {fmt(audited)}")
    print(f"   audit off  {fmt(silent)}")
    print(f"   difference at p95: {overhead:+.1%} (noisy: p95 is the heavy customer's reads)")
    print(
        f"   audit work per read (recording, plus writing one event in a batch of 2,000): {per_read:.3f} ms = "
        f"{per_read / percentiles(silent)[1]:.2%} of the read p95 (target <= 5 %)"
    )
    print(f"\n5. heavy customer ({HEAVY_ENTRIES:,} entries over 5 years, 6,000 conversation turns, 2,190 tasks, "
          f"3,000 XP rows) under the app's policies, {args.runs // 2} reads interleaved")  # fmt: skip
    await ensure_heavy_customer(small)
    default_gc = await heavy_under_policies(small, args.runs // 2)
    print(
        f"   with the garbage collector's defaults: read {fmt(default_gc['policies'])} "
        f"(full collections of this process's ~120k start-up objects take ~45 ms and land in ~5 % of reads)"
    )
    gc.collect()
    gc.freeze()  # what the service does after start-up (create_served_app)
    heavy = await heavy_under_policies(small, args.runs // 2)
    print("   with start-up objects frozen, as the service runs:")
    policies, bypassed, floor = heavy["policies"], heavy["bypassed"], heavy["floor"]
    print(f"   read, policies in force  {fmt(policies)}")
    print(f"   same read, bypassed      {fmt(bypassed)}")
    print(f"   transaction floor        {fmt(floor)}")
    print(f"   whole-history read under the policies (count + max of all {HEAVY_ENTRIES:,}) {fmt(heavy['history'])}")
    p95 = percentiles(policies)[1]
    print(
        f"   read / read without policies at p95: {p95 / percentiles(bypassed)[1]:.2f}x (target <= 3); "
        f"read p95 {p95:.2f} ms (target <= 25 ms); read / transaction floor at p95: {p95 / percentiles(floor)[1]:.1f}x"
    )  # fmt: skip
    if not args.keep:
        await drop(small)
        await drop(large)


if __name__ == "__main__":
    asyncio.run(main())
