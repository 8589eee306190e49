"""The CLI run in-process against the demo database, in an empty working directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from fearvana_integration.cli import main

OUR_PREFIXES = (
    *("CRM_", "SCHEDULING_", "EMAIL_", "MOCK_", "DATABASE_"),
    *("CACHE_", "LOG_", "CONTEXT_", "SUPABASE_", "AUTH_"),
)


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(tmp_path: Path, demo_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> object:
    """Run the CLI in-process in an empty working directory against the demo database."""
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(OUR_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{demo_db}")
    monkeypatch.setenv("MOCK_LATENCY_MS", "0")

    def run(*args: str, **env: str) -> Result:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(SystemExit) as exit_info:
            main(list(args))
        captured = capsys.readouterr()
        code = exit_info.value.code
        return Result(code if isinstance(code, int) else 1, captured.out, captured.err)

    return run


def one_error_line(result: Result) -> str:
    """The single ``error: …`` line of a failed command (and no traceback)."""
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    return lines[0]
