"""The learnability certification (issue 24): the ceiling passes its own measurement, and the default config learns
the planted edge's decisions on a short run; the whole certification is the slow test.

The fast test trains the planted-edge preset (PPO on the bracket menu with full-information learning, the pooled
menu head reading the component slots) for a short budget on one draw of the ``technical_h5`` market and checks its
decisions on a fresh 2,500-bar path: with the signal on it asks for a trade, with it off it stays flat.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.benchmarks import certify


def _task(tmp_path, market: str, learners: list[str], steps: int, test_bars: int = 2500) -> dict:
    return {
        "market": market,
        "seed": 0,
        "root": str(tmp_path),
        "config": "planted_edge",
        "learners": learners,
        "variants": {k: certify.LEARNERS[k] for k in learners if k in certify.LEARNERS},
        "steps": steps,
        "test_bars": test_bars,
        "episode_bars": 2500,
        "warmup": 1000,
        "n_boot": 200,
    }


def test_the_planted_rule_is_the_ceiling_of_its_own_measurement(tmp_path):
    unit = certify.run_unit(_task(tmp_path, "two_regime_tech_theme", ["rule"], steps=0))
    rule = unit["rule"]
    assert rule["on"] == 1.0 and rule["off"] == 1.0 and rule["share"] == 1.0
    assert rule["rate_per_bar"] > 0 and rule["trades"] > 300
    assert rule["sharpe_diff_vs_rule"] == [0.0, 0.0, 0.0]


def test_a_short_run_of_the_default_config_learns_the_planted_decisions(tmp_path):
    unit = certify.run_unit(_task(tmp_path, "technical_h5", ["rule", "default"], steps=60_000))
    agent = unit["default"]
    print(json.dumps({k: agent[k] for k in ("share", "on", "off", "sharpe", "trades")}))  # pytest -rP
    assert agent["on"] >= 0.8 and agent["off"] >= 0.8, agent  # asks for a trade with the signal, stays flat without
    assert agent["share"] > 0.5, agent  # and earns most of the ceiling's growth


def test_summaries_take_medians_over_seeds_and_pass_only_above_the_goal():
    rows = [
        {"market": "m", "seed": s, "rule": _row(1.0, 1.0, 1.0), "default": _row(share, 0.95, 0.92)}
        for s, share in enumerate((0.7, 0.85, 0.9))
    ]
    markets = certify.summarize(rows, ["rule", "default"], goal=0.8)
    assert markets["m"]["default"]["share"] == pytest.approx(0.85) and markets["m"]["default"]["passed"]
    assert not certify.summarize(rows, ["rule", "default"], goal=0.86)["m"]["default"]["passed"]
    assert "| m | default | 0.85 | 0.95 / 0.92 |" in certify.table(markets)


def _row(share: float, on: float, off: float) -> dict:
    return {"share": share, "on": on, "off": off, "sharpe": 1.0, "trades": 10, "sharpe_diff_vs_rule": [0.0, -0.1, 0.1]}


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="goal not reached (docs/results/learnability.md, 2026-12-07): the default config earns 0.98-1.08 of the "
    "planted rule's growth on the one-regime markets with accuracy on 0.84-0.92, and 0.50-0.77 on the two-regime "
    "ones (goal 0.8 and accuracy 0.9 / 0.9 on every market); remove this mark when it passes",
)
def test_the_default_config_passes_the_certification(tmp_path):
    """Every market of the family, 3 seeds, the 50,000-bar test path: ``python -m experiments.benchmarks.certify``."""
    tasks = [_task(tmp_path, m, ["rule", "default"], steps=None, test_bars=50_000) for m in certify.MARKETS]
    units = [certify.run_unit({**t, "seed": s}) for t in tasks for s in (0, 1, 2)]
    markets = certify.summarize(units, ["rule", "default"], goal=0.8)
    print(certify.table(markets))
    assert all(np.isfinite(rows["default"]["share"]) for rows in markets.values())
    assert all(rows["default"]["passed"] for rows in markets.values())


def test_reports_quote_the_certification_and_say_whether_the_run_is_certified(tmp_path):
    from experiments.config import config_tree, load_config, to_yaml
    from experiments.reporting.learning import certification_lines, learner_settings

    cfg = load_config("planted_edge")
    cert = {
        "config": "planted_edge",
        "date": "2026-12-06",
        "commit": "abc1234",
        "command": "python -m experiments.benchmarks.certify",
        "goal": 0.8,
        "passed": False,
        "learner": learner_settings(config_tree(cfg)),
        "markets": {"technical_h5": {"share": 0.94, "on": 0.97, "off": 0.98, "passed": True}},
    }
    path = tmp_path / "certification.json"
    path.write_text(json.dumps(cert))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(to_yaml(cfg))
    (line,) = certification_lines(run, path)
    assert "**not passed**" in line and "technical_h5 0.94" in line and line.endswith("the certified ones.")
    (run / "config.yaml").write_text(to_yaml(load_config("planted_edge", ["ppo.full_info=5"])))
    assert certification_lines(run, path)[0].endswith("not the certified ones.")
    assert certification_lines(run, tmp_path / "none.json") == []


def test_the_published_command_reproduces_the_run():
    """Flags as flags, no empty options, and the variant's name is not listed twice when the command runs again."""
    settings = {
        "config": "planted_edge",
        "markets": ["technical_h5"],
        "learners": ["rule", "default", "norm", "fast"],
        "variant": ["norm=train.normalize_obs=true", "fast=ppo.learning_rate=0.001,ppo.full_info=30"],
        "seeds": [0],
        "steps": None,
        "quick": False,
        "ceiling_check": True,
        "out": "runs/x",
        "publish": True,
    }
    line = certify.command_line(settings)
    assert line == (
        "python -m experiments.benchmarks.certify --config planted_edge --markets technical_h5 "
        "--learners rule default norm fast --variant norm=train.normalize_obs=true "
        "--variant fast=ppo.learning_rate=0.001,ppo.full_info=30 --seeds 0 --ceiling-check"
    )


class _HaltingEnv:
    """An episode of bars [start, stop) whose account halts at bar ``halt`` (terminated) or runs to the last bar."""

    min_trade = 0.01

    def __init__(self, start: int, stop: int, halt: int | None) -> None:
        self.window, self.halt, self.bar = (start, stop), halt, start
        self.equity_curve = np.full(stop + 5, np.nan)
        self.unwrapped = self

    def reset(self, seed=None):
        self.bar = self.window[0]
        self.equity_curve[self.bar] = 100.0
        return np.zeros(27, np.float32), {}

    def step(self, action):
        self.bar += 1
        self.equity_curve[self.bar] = self.equity_curve[self.bar - 1] * 0.99
        term = self.halt is not None and self.bar >= self.halt
        trunc = not term and self.bar >= self.window[1] - 1
        return np.zeros(27, np.float32), 0.0, term, trunc, {"requested_size": 0.2}


def test_an_episode_the_halt_ends_early_counts_its_remaining_bars_in_cash():
    """A halted learner's returns cover the same bars as the rule's (zeros after the halt), so the paired Sharpe
    difference can be taken, and its growth per bar is over the whole episode."""

    class Rule:
        def signal(self, obs, bar):
            return True

    def policy(obs, info):
        return 0

    episodes = [(10, 30), (30, 50)]
    full = certify.measure(lambda a, b: _HaltingEnv(a, b, None), policy, Rule(), episodes)
    halted = certify.measure(lambda a, b: _HaltingEnv(a, b, a + 5 if a == 10 else None), policy, Rule(), episodes)
    assert len(full.returns) == len(halted.returns) == full.bars == halted.bars == 38
    assert np.all(halted.returns[5:19] == 0.0) and np.all(halted.returns[:5] < 0)
    assert halted.growth == pytest.approx(5 * np.log(0.99) + 19 * np.log(0.99))
