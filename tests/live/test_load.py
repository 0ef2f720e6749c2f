"""The load benchmark's own checks on a short run (slow: two server starts and 16 clients for 10 s): no errors,
every acknowledged learn stored exactly once, every repeat answered as a duplicate, a restart that answers every
read as before. The measured numbers are in docs/service.md."""

from __future__ import annotations

import pytest

from experiments.benchmarks.live_load import main as live_load


@pytest.mark.slow
def test_sixteen_clients_lose_and_double_nothing(tiny_bundle, tmp_path):
    import json

    out = tmp_path / "load.json"
    argv = ["--bundle", str(tiny_bundle), "--clients", "16", "--duration", "10", "--out", str(out)]
    assert live_load(argv) == 0
    r = json.loads(out.read_text())
    j = r["journal"]
    assert r["errors"] == 0, r["error_examples"]
    assert j["acknowledged"] > 100 and j["lost"] == 0 and j["doubled"] == 0 and j["stored_not_acknowledged"] == 0
    assert j["brain_trades"] == j["acknowledged"] and j["repeats_sent"] > 0 and j["repeats_not_answered_duplicate"] == 0
    assert r["restart"]["endpoints_compared"] > 30 and r["restart"]["different"] == []
    assert set(r["routes"]) == {"/bars", "/decide", "/learn"}
