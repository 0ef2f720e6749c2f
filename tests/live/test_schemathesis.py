"""The service under a property-based client: schemathesis generates requests from the service's own
``/openapi.json`` and runs every check on every answer (no 5xx, documented statuses and bodies, schema-valid data
accepted, invalid data refused, the token enforced, 405 with ``Allow``...), against a real uvicorn server.

Its four phases run: examples, coverage (boundary and invalid values of each field), fuzzing (hypothesis) and
stateful (sequences that use one answer in the next call). The seed is fixed and the examples per operation are
bounded, so a run is reproducible. Positive cases get their bar prices ordered by a hook (the one relation the
schema cannot state, ``tests/live/schemathesis_hooks.py``). The default suite runs a short pass (about 700 cases);
the slow marker runs three seeds with 300 examples per operation (at least 1,500 cases each).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .server import TOKEN, Server

ROOT = Path(__file__).resolve().parents[2]


def schemathesis(url: str, out: Path, *, seed: int, max_examples: int) -> tuple[int, int, str]:
    """Run ``schemathesis run`` with every check; returns (exit code, cases generated, its output)."""
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.live.schemathesis_hooks",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        "NO_COLOR": "1",
    }
    cmd = [sys.executable, "-m", "schemathesis.cli", "run", url + "/openapi.json", "--checks", "all"]
    cmd += ["--seed", str(seed), "--max-examples", str(max_examples), "--workers", "1"]
    cmd += ["-H", f"Authorization: Bearer {TOKEN}", "--report", "junit", "--report-dir", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1800, cwd=out)
    text = proc.stdout + proc.stderr
    (out / "schemathesis.log").write_text(text, encoding="utf-8")
    found = re.search(r"(\d+) generated", text)
    return proc.returncode, int(found.group(1)) if found else 0, text


@pytest.fixture
def server(tiny_bundle, tmp_path):
    srv = Server(tiny_bundle, tmp_path / "journal.sqlite", tmp_path / "server.log")
    yield srv
    srv.stop()


def _check(server: Server, tmp_path: Path, seed: int, max_examples: int, least: int) -> int:
    code, cases, text = schemathesis(server.url, tmp_path, seed=seed, max_examples=max_examples)
    tail = text[-4000:]
    assert code == 0 and "No issues found" in text, tail
    assert cases >= least, tail
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log, log[-4000:]  # no error was raised inside the server, even one answered 4xx
    return cases


def test_schemathesis_finds_no_failure(server, tmp_path):
    _check(server, tmp_path, seed=1, max_examples=15, least=500)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [7, 2026, 31337])
def test_schemathesis_finds_no_failure_over_thousands_of_cases(server, tmp_path, seed):
    _check(server, tmp_path, seed=seed, max_examples=300, least=1500)
