"""``docs/service.md``'s curl session runs as written against a real ``tradebrain serve``.

Every fenced ``bash`` block of the page is joined, in order, into one script run with ``bash -euo pipefail`` (a
shell variable set in one block, such as the decision id ``D``, is used in the next). The blocks read the server's
address from ``$TRADEBRAIN_URL`` (default ``http://127.0.0.1:8000``, as ``tradebrain serve`` binds) and the token
from ``$TRADEBRAIN_TOKEN``; the test sets both for its server on a free port. ``curl -f`` makes a refused call fail
the script, so every call the page expects to succeed did; the calls the page shows failing print their status.
Command lines the page does not mean to run here (starting the server, the benchmarks) are in ``sh`` blocks.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .server import TOKEN, Server

PAGE = Path(__file__).resolve().parents[2] / "docs" / "service.md"
BLOCK = re.compile(r"^```bash\n(.*?)^```", re.M | re.S)


def session() -> str:
    return "\n".join(BLOCK.findall(PAGE.read_text(encoding="utf-8")))


@pytest.mark.skipif(shutil.which("curl") is None, reason="the session uses curl")
def test_the_curl_session_runs_as_written(tiny_bundle, tmp_path):
    script = session()
    assert "$D" in script and "curl" in script
    srv = Server(tiny_bundle, tmp_path / "journal.sqlite", tmp_path / "server.log")
    try:
        env = {**os.environ, "TRADEBRAIN_URL": srv.url, "TRADEBRAIN_TOKEN": TOKEN}
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=120
        )
    finally:
        srv.stop()
    out = done.stdout
    assert done.returncode == 0, f"exit {done.returncode}\n{out}\n{done.stderr}"
    assert '"ready":false,"bars_needed":119' in out
    assert '"mode":"scores"' in out and '"action":"buy"' in out
    decision_id = re.search(r"^decision id: (\S+)$", out, re.M).group(1)
    assert decision_id.startswith("DEMO-2024-01-03")
    assert '"trade_id":"demo-1","accepted":true' in out and '"accepted":false,"duplicate":true' in out
    assert "HTTP 422" in out and "HTTP 409" in out and "HTTP 401" in out
    assert '"state":"HALTED"' in out and '"reason":"reset: ops: checked"' in out
