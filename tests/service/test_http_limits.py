"""HTTP limits of `fearvana-integration serve`, against the real server in its own process.

What an adversarial run found without them: one 60 MB header blocked the event loop for 4.4 s, four
50 MB headers added 267 MB, 500 half-open connections were held 45 s and more. Bounds here are loose
(about ten times the target) because the machine is shared; benchmarks/http_service.py measures the
real figures (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fearvana_integration.service.server import APP_FACTORY, tls_context

SCRIPT = Path(sys.executable).parent / "fearvana-integration"
OUR_PREFIXES = ("DATABASE_", "CRM_", "MOCK_", "SUPABASE_", "HTTP_", "LOG_", "CACHE_")
HEAD = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"
MB = 1024 * 1024


@dataclass
class Served:
    """A running `serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    scheme: str = "http"

    @property
    def base(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(demo_db: Path, **env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(OUR_PREFIXES)}
    environment.update({"DATABASE_URL": f"sqlite:///{demo_db}", "MOCK_LATENCY_MS": "0", **env})
    return environment


@contextmanager
def serve(
    workdir: Path, demo_db: Path, *args: str, verify: ssl.SSLContext | None = None, **env: str
) -> Iterator[Served]:
    """`fearvana-integration serve` on a free loopback port until it answers /healthz; stopped with SIGINT."""
    port = _free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as sink:  # a file, not a pipe: hundreds of refusal lines must never block the server
        process = subprocess.Popen(
            [SCRIPT, "serve", "--port", str(port), *args],
            cwd=workdir,
            env=_environment(demo_db, **env),
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    served = Served(process, port, log, "https" if verify is not None else "http")
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{served.base}/healthz", verify=verify or True, trust_env=False, timeout=1).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.1)
        yield served
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def exchange(port: int, request: bytes, timeout: float = 5) -> bytes:
    """Send ``request`` on a new connection and read until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def timed_healthz(base: str) -> float:
    """Seconds for GET /healthz on a fresh connection (which also needs the event loop to accept it)."""
    started = time.monotonic()
    response = httpx.get(f"{base}/healthz", trust_env=False, timeout=10)
    assert response.status_code == 200
    return time.monotonic() - started


@dataclass
class Flood:
    """What happened to one connection that sent a huge header."""

    seconds: float = 0.0
    sent: int = 0
    answer: bytes = b""
    cut_off: bool = False  # reset or broken pipe: the server stopped reading and closed


def send_huge_header(port: int, size: int, flood: Flood) -> None:
    """Stream ``size`` bytes of one header value as fast as the socket takes them (like the attack)."""
    chunk = b"a" * 65536
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(HEAD + b"X-Big: ")
            while flood.sent < size:
                flood.sent += sock.send(chunk)
            sock.sendall(b"\r\n\r\n")
            flood.answer = sock.recv(4096)
        except (ConnectionResetError, BrokenPipeError):
            flood.cut_off = True
    flood.seconds = time.monotonic() - started


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[Served]:
    """`serve` with the default limits."""
    with serve(tmp_path_factory.mktemp("serve-default"), demo_db) as served:
        yield served


def test_a_60_mb_header_is_cut_off_quickly_while_healthz_keeps_answering(default_server: Served) -> None:
    flood = Flood()
    sender = threading.Thread(target=send_huge_header, args=(default_server.port, 60 * MB, flood))
    sender.start()
    latencies = []
    while sender.is_alive() or len(latencies) < 5:
        latencies.append(timed_healthz(default_server.base))
    sender.join()
    assert flood.cut_off or flood.answer.startswith(b"HTTP/1.1 431 "), flood
    assert flood.seconds < 1.0, flood  # target 0.1 s; without the limit the server swallowed all 60 MB
    assert max(latencies) < 1.0, latencies  # target 0.1 s; without the limit: 4.4 s
    assert "request head refused" in default_server.log.read_text()


def test_four_50_mb_headers_at_once_cost_little_memory(default_server: Served) -> None:
    before = default_server.rss_bytes()
    floods = [Flood() for _ in range(4)]
    senders = [threading.Thread(target=send_huge_header, args=(default_server.port, 50 * MB, f)) for f in floods]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    assert all(f.cut_off or f.answer.startswith(b"HTTP/1.1 431 ") for f in floods), floods
    assert default_server.rss_bytes() - before < 32 * MB  # without the limit: 267 MB
    timed_healthz(default_server.base)


def _with_headers(count: int, extra: bytes = b"") -> bytes:
    fields = b"".join(b"X-Field-%d: value\r\n" % n for n in range(count - 2))  # + Host and Connection
    return HEAD + fields + extra + b"Connection: close\r\n\r\n"


def test_too_many_headers_are_431_and_the_limit_itself_passes(default_server: Served) -> None:
    refused = exchange(default_server.port, _with_headers(101))
    assert refused.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), refused
    assert b"connection: close\r\n" in refused
    assert refused.endswith(b'"status":431}')  # a problem-details body
    assert exchange(default_server.port, _with_headers(100)).startswith(b"HTTP/1.1 200 ")


def test_a_big_head_sent_at_once_is_431_and_a_long_target_414(default_server: Served) -> None:
    big = exchange(default_server.port, _with_headers(3, b"X-Big: " + b"a" * 20_000 + b"\r\n"))
    assert big.startswith(b"HTTP/1.1 431 "), big
    long_target = exchange(default_server.port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert long_target.startswith(b"HTTP/1.1 414 "), long_target
    within = exchange(default_server.port, _with_headers(3, b"X-Big: " + b"a" * 15_000 + b"\r\n"))
    assert within.startswith(b"HTTP/1.1 200 "), within[:100]


def test_bodies_and_pipelined_requests_do_not_count_against_the_head(default_server: Served) -> None:
    body = b"x" * 60_000
    post = b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    with socket.create_connection(("127.0.0.1", default_server.port), timeout=5) as sock:
        sock.sendall(post + b"GET /healthz HTTP/1.1\r\n")  # the next head begins in the same read
        time.sleep(0.2)
        sock.sendall(b"Host: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 405 "), answer[:200]  # the app answered the POST: no 431
    assert answer.count(b"HTTP/1.1 200 ") == 1, answer


def test_500_half_open_connections_are_closed_after_the_header_timeout(tmp_path: Path, demo_db: Path) -> None:
    env = {"HTTP_HEADER_TIMEOUT_SECONDS": "1", "HTTP_KEEP_ALIVE_SECONDS": "1", "HTTP_MAX_CONNECTIONS": "510"}
    with serve(tmp_path, demo_db, **env) as served:
        opened: dict[socket.socket, float] = {}
        silent: set[socket.socket] = set()
        try:
            for n in range(500):
                sock = socket.create_connection(("127.0.0.1", served.port), timeout=5)
                if n % 25:
                    sock.sendall(HEAD)  # part of a request, then nothing
                else:
                    silent.add(sock)  # not even that
                opened[sock] = time.monotonic()
            assert timed_healthz(served.base) < 1.0  # 501 connections: within HTTP_MAX_CONNECTIONS

            extra = [socket.create_connection(("127.0.0.1", served.port), timeout=5) for _ in range(20)]
            over = httpx.get(f"{served.base}/healthz", trust_env=False, timeout=5)
            assert over.status_code == 503  # beyond HTTP_MAX_CONNECTIONS
            for sock in extra:
                sock.close()

            answers, closed = _wait_until_closed(list(opened), deadline=time.monotonic() + 10)
            assert len(closed) == len(opened), f"{len(opened) - len(closed)} connections still open"
            held = [closed[sock] - opened[sock] for sock in opened]
            assert min(held) > 0.8 and max(held) < 5.0, (min(held), max(held))  # 1 s timeout; loose upper bound
            assert all(answers[sock] == b"" for sock in silent)  # nothing asked, nothing answered
            assert all(answers[sock].startswith(b"HTTP/1.1 408 ") for sock in opened if sock not in silent)
        finally:
            for sock in opened:
                sock.close()

        # An idle kept-alive connection is closed after HTTP_KEEP_ALIVE_SECONDS.
        with socket.create_connection(("127.0.0.1", served.port), timeout=5) as sock:
            sock.sendall(HEAD + b"\r\n")
            started = time.monotonic()
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200 ") and 0.8 < time.monotonic() - started < 5
        assert timed_healthz(served.base) < 1.0


def _wait_until_closed(
    sockets: list[socket.socket], deadline: float
) -> tuple[dict[socket.socket, bytes], dict[socket.socket, float]]:
    """Read every socket until the server closes it (or the deadline): what each got, and when it closed."""
    answers = dict.fromkeys(sockets, b"")
    closed: dict[socket.socket, float] = {}
    with selectors.DefaultSelector() as selector:
        for sock in sockets:
            selector.register(sock, selectors.EVENT_READ)
        while len(closed) < len(sockets) and time.monotonic() < deadline:
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    answers[sock] += chunk
                else:
                    closed[sock] = time.monotonic()
                    selector.unregister(sock)
    return answers, closed


def test_the_limits_hold_in_every_worker(tmp_path: Path, demo_db: Path) -> None:
    """--workers N rebuilds the protocol in each process (from a pickled config): the settings must follow."""
    with serve(tmp_path, demo_db, "--workers", "2", HTTP_MAX_HEADERS="10") as served:
        for _ in range(6):
            assert exchange(served.port, _with_headers(11)).startswith(b"HTTP/1.1 431 ")
            assert exchange(served.port, _with_headers(10)).startswith(b"HTTP/1.1 200 ")


def _self_signed(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = directory / "cert.pem", directory / "key.pem"
    certfile.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return certfile, keyfile


def _client_context(certfile: Path, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certfile))
    if version is not None:
        context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client offer old versions at all
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = context.maximum_version = version
    return context


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: that is the point
    _TLS_1_1 = ssl.TLSVersion.TLSv1_1


def _tls11_handshake_works(client: ssl.SSLContext, certfile: Path, keyfile: Path) -> bool:
    """Whether ``client`` completes a TLS 1.1 handshake with a server that allows it (stdlib, in a thread).

    Without this control, a refusal by the service could be the client's own inability.
    """
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(certfile, keyfile)
    server.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server.minimum_version = _TLS_1_1
    versions: list[str | None] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def accept() -> None:
            connection, _ = listener.accept()
            try:
                with server.wrap_socket(connection, server_side=True) as tls:
                    versions.append(tls.version())
            except (ssl.SSLError, OSError):
                connection.close()

        thread = threading.Thread(target=accept)
        thread.start()
        try:
            with (
                socket.create_connection(listener.getsockname(), timeout=5) as raw,
                client.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                versions.append(tls.version())
        except (ssl.SSLError, OSError):
            pass
        thread.join(timeout=5)
    return versions == ["TLSv1.1", "TLSv1.1"]


def test_the_tls_context_refuses_tls_1_0_and_1_1_whatever_the_platform_default() -> None:
    permissive = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        permissive.minimum_version = ssl.TLSVersion.TLSv1
    context = tls_context(uvicorn.Config(APP_FACTORY), lambda: permissive)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2


def test_https_with_a_self_signed_certificate_and_no_tls_1_1(tmp_path: Path, demo_db: Path) -> None:
    certfile, keyfile = _self_signed(tmp_path)
    trusted = _client_context(certfile)
    args = ("--ssl-certfile", str(certfile), "--ssl-keyfile", str(keyfile))
    with serve(tmp_path, demo_db, *args, verify=trusted) as served:
        response = httpx.get(f"{served.base}/healthz", verify=trusted, trust_env=False, timeout=5)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        tls12 = httpx.get(
            f"{served.base}/healthz", verify=_client_context(certfile, ssl.TLSVersion.TLSv1_2), trust_env=False
        )
        assert tls12.status_code == 200
        tls11 = _client_context(certfile, _TLS_1_1)
        assert _tls11_handshake_works(tls11, certfile, keyfile), "control: this client can speak TLS 1.1"
        with (
            socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw,
            pytest.raises(ssl.SSLError),  # uvloop hangs up without an alert ("unexpected EOF"): refused all the same
        ):
            tls11.wrap_socket(raw, server_hostname="127.0.0.1")
        # The limits apply under TLS too.
        with (
            socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw,
            trusted.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            tls.sendall(_with_headers(101))
            assert tls.recv(4096).startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("problem", ["missing", "garbage", "key-only"])
def test_unusable_certificate_files_are_one_error_line(tmp_path: Path, demo_db: Path, problem: str) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    args = {
        "missing": ["--ssl-certfile", str(tmp_path / "nope.pem"), "--ssl-keyfile", str(tmp_path / "nope.key")],
        "garbage": ["--ssl-certfile", str(garbage), "--ssl-keyfile", str(garbage)],
        "key-only": ["--ssl-keyfile", str(garbage)],
    }[problem]
    result = subprocess.run(
        [SCRIPT, "serve", "--port", str(_free_port()), *args],
        cwd=tmp_path,
        env=_environment(demo_db),
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "--ssl-" in lines[0]
    if problem == "missing":
        assert "nope.pem: no such file" in lines[0]
    assert not (tmp_path / ".env.local").exists()  # refused before the development secret is written
