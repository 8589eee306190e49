"""`token` and `serve`: the development secret, the loopback rule, and the Quick start's curl for real."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
from dotenv import dotenv_values

from fearvana_integration.service.devsecret import DEV_MARKER
from fearvana_integration.store.demo import demo_customer_id
from tests.cli.conftest import Result, one_error_line

DEMO = demo_customer_id("demo@fearvana.local")


def _secret(directory: Path) -> str:
    value = dotenv_values(directory / ".env.local").get("SUPABASE_JWT_SECRET")
    assert value
    return value


def test_token_generates_one_development_secret_and_signs_with_it(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    first: Result = cli("token", "demo@fearvana.local")
    assert first.code == 0, first.err
    assert DEV_MARKER in (tmp_path / ".env.local").read_text()
    secret = _secret(tmp_path)
    claims = jwt.decode(first.out.strip(), secret, algorithms=["HS256"], audience="authenticated")
    assert claims["sub"] == str(DEMO) and claims["role"] == "authenticated" and claims["exp"] > time.time()
    second: Result = cli("token", "--service")
    assert jwt.decode(second.out.strip(), secret, algorithms=["HS256"])["role"] == "service_role"
    assert (tmp_path / ".env.local").read_text().count("SUPABASE_JWT_SECRET=") == 1  # reused, not appended again


def test_token_usage_errors(cli) -> None:  # type: ignore[no-untyped-def]
    assert "either a customer" in one_error_line(cli("token"))
    assert "either a customer" in one_error_line(cli("token", "demo@fearvana.local", "--service"))
    missing: Result = cli("token", "nobody@fearvana.local")
    assert missing.code == 1 and "Customer not found" in one_error_line(missing)


def test_token_writes_a_development_secret_only_when_it_succeeds_and_says_so(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("token", "nobody@fearvana.local").code == 1
    assert not (tmp_path / ".env.local").exists()
    minted: Result = cli("token", "demo@fearvana.local")
    assert minted.code == 0 and minted.out.count(".") == 2  # a JWT
    assert (tmp_path / ".env.local").exists()
    assert "wrote a random development secret to" in minted.err and str(tmp_path) in minted.err


def test_serve_refuses_a_public_address_with_the_development_secret(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    refused: Result = cli("serve", "--host", "0.0.0.0")
    assert refused.code == 2
    assert "Refusing to listen on 0.0.0.0" in one_error_line(refused)
    assert not (tmp_path / ".env.local").exists()  # a refused start writes nothing


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_quick_start_serve_then_curl_with_a_minted_token(tmp_path: Path, demo_db: Path) -> None:
    """What the README's first command does, in its own processes: serve, mint, call, stop cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "CRM_", "MOCK_", "SUPABASE_"))}
    env.update({"DATABASE_URL": f"sqlite:///{demo_db}", "MOCK_LATENCY_MS": "0"})
    script = Path(sys.executable).parent / "fearvana-integration"
    port = _free_port()
    server = subprocess.Popen(
        [script, "serve", "--port", str(port)], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        minted = subprocess.run(
            [script, "token", "demo@fearvana.local"], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert minted.returncode == 0, minted.stderr
        headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        response = httpx.get(f"{base}/api/customers/{DEMO}/context", params={"format": "prompt"}, headers=headers)
        assert response.status_code == 200, response.text
        assert response.text.startswith("# Customer context") and "Dana Demo" in response.text
        assert httpx.get(f"{base}/api/customers/{DEMO}/context").status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert minted.stdout.strip() not in stderr  # the token is never logged
    assert '"route": "/api/customers/{customer_id}/context"' in stderr  # the access line
