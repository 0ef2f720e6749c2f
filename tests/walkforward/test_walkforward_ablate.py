"""``tradebrain ablate`` through the local process pool (two workers), ``report --run`` rebuilding the results page,
and the same cache run by a local Ray instance."""

from __future__ import annotations

import json
import shutil

import pytest

from experiments.cli import main
from experiments.config import load_config
from experiments.walkforward.plan import ABLATION, PLAN


@pytest.fixture(scope="module")
def ablation(tiny_config, shared):
    """One ablation per session (shared by the xdist workers), two pool workers, one seed."""

    def run(root):
        return main(
            [
                "ablate",
                "--config",
                str(tiny_config),
                "--run",
                str(root),
                "--jobs",
                "2",
                "--set",
                "walkforward.seeds=[0]",
            ]
        )

    root, code = shared("ablate", run)
    assert code == 0
    return root


def test_ablate_runs_every_tier_set_and_baseline_on_every_fold(ablation):
    plan = json.loads((ablation / PLAN).read_text())
    assert plan["command"].startswith("ablate --config ") and "--jobs 2" in plan["command"]
    kinds = {(u["fold"], u["tier_set"]) for u in plan["units"]}
    assert kinds == {(y, t) for y in (2004, 2005) for t in (*ABLATION, "baselines")}
    page = (ablation / "results.md").read_text()
    assert "measured: all |" in page  # the all-tiers column of the promise table is Tier 4's row
    tier4 = list((ablation / "tier4").iterdir())  # `all` is the rule adapter; `all_maml` is not in the ablation
    assert len(tier4) == 1 and tier4[0].name.startswith("rules-seed0-")  # one prior for the seed, both folds
    assert "all_maml" not in ABLATION and "| all_maml |" not in page
    for name in (*ABLATION, "buy_and_hold_full", "buy_and_hold_cap", "ma_trend", "composite_fixed"):
        assert f"| {name} | 2 |" in page, name  # 2 folds x 1 seed
    timing = json.loads((ablation / "timing.json").read_text())
    assert timing["units_run"] == len(plan["units"]) == 14 and timing["jobs"] == 2 and timing["units_per_minute"] > 0


def test_each_tier_set_trains_with_its_tiers_and_the_fold_windows(ablation):
    plan = json.loads((ablation / PLAN).read_text())
    folds = {f["test_year"]: f for f in plan["folds"]}
    expected = {"tier3": (False, False), "tier1+3": (True, False), "tier2+3": (False, True), "tier1+2+3": (True, True)}
    for unit in plan["units"]:
        cfg = load_config(ablation / "units" / unit["key"] / "config.yaml")
        fold = folds[unit["fold"]]
        assert [list(cfg.stack.train), list(cfg.stack.val), list(cfg.stack.test)] == [
            fold["train"],
            fold["val"],
            fold["test"],
        ]
        if unit["tier_set"] in expected:
            assert (cfg.stack.tiers.tier1, cfg.stack.tiers.tier2) == expected[unit["tier_set"]]
            assert (ablation / "units" / unit["key"] / "model.zip").exists()  # PPO trained in a pool worker
        else:
            assert not (ablation / "units" / unit["key"] / "model.zip").exists()  # rules and baselines: no PPO


def test_report_rebuilds_the_results_page_of_a_walk_forward_folder(ablation, tmp_path, capsys):
    copy = shutil.copytree(ablation, tmp_path / ablation.name)  # the shared folder stays as it is
    before = (copy / "results.md").read_text()
    (copy / "results.md").unlink()
    (copy / "fold_sharpe.png").unlink()
    assert main(["report", "--run", str(copy)]) == 0
    assert (copy / "results.md").read_text() == before and (copy / "fold_sharpe.png").exists()
    assert "results.md" in capsys.readouterr().out


def test_ray_executor_runs_units_into_the_same_cache(tiny_config, tmp_path, capsys):
    pytest.importorskip("ray")
    root = tmp_path / "run"
    sets = ["walkforward.tier_sets=[rules]", "walkforward.baselines=false", "walkforward.last_test_year=2004"]
    argv = ["walk-forward", "--config", str(tiny_config), "--run", str(root), "--jobs", "1"]
    for item in [*sets, "walkforward.seeds=[0]"]:
        argv += ["--set", item]
    assert main([*argv, "--executor", "ray"]) == 0
    (unit,) = json.loads((root / PLAN).read_text())["units"]
    payload = json.loads((root / "units" / f"{unit['key']}.json").read_text())
    assert payload["tier_set"] == "rules" and payload["policies"]["rules"]["trials"] == 1
    capsys.readouterr()
    assert main(argv) == 0  # the local executor reads what the Ray workers wrote
    assert "1 of 1 units already done: reused" in capsys.readouterr().out
