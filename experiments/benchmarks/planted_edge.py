"""Does the agent learn a planted edge? Train on ``synthetic:planted_edge`` and compare out of sample.

The market (``experiments/config/presets/planted_edge.yaml``): one regime, drift 0.0002 and vol 1% a day, whose
``technical`` score has a 0.65 hit rate on the 5-bar forward return. For each variant (a named set of config
overrides: reward kind, observation normalisation, discount ...) and seed, the benchmark trains with
``experiments.training.train.train``, picks the best checkpoint on the validation window, and backtests it on the test
window beside the composite-score rule, buy-and-hold at the cap and the planted rule ``signal_technical``
(20% long when technical > 0, hold 5 bars: the rule the edge was planted for). Each seed draws its own market
(``synthetic:planted_edge:<seed>``; ``--fixed-data`` keeps the config's) and trains its own agent, so seeds
vary both the sample and the learner, and every comparison is paired on the same bars.

Printed per variant: each seed's test Sharpe, trade count and mean size, and paired Sharpe differences (90%
stationary-bootstrap CIs) against composite_score and buy_and_hold_cap, per seed and pooled over seeds (the
seeds' test windows laid end to end).

Usage::

    python -m experiments.benchmarks.planted_edge                                   # every variant, seeds 0-2
    python -m experiments.benchmarks.planted_edge --variants default dsr --seeds 0 1 --steps 100000 --jobs 2
    python -m experiments.benchmarks.planted_edge --config planted_edge_2regime      # the moving edge
    python -m experiments.benchmarks.planted_edge --rules-only --seeds 0 1 2 3 4 5 6 7 8 9   # is the test passable?

Run folders go under ``--runs-dir`` (default ``runs/bench/planted_edge``); ``--out`` writes the JSON.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

_LOGRET_STD1 = ["stack.reward.kind=log_return", "train.normalize_obs=true", "ppo.log_std_init=-1.0"]
VARIANTS: dict[str, list[str]] = {
    # what the config says (the package defaults)
    "default": [],
    # the same training, the best checkpoint picked by validation Sharpe instead of validation reward
    "default_sharpe": ["train.select_by=sharpe"],
    # before issue 8: differential Sharpe reward, raw observations, discount 0.99
    "dsr": ["stack.reward.kind=dsr", "train.normalize_obs=false", "ppo.gamma=0.99"],
    "dsr_norm": ["stack.reward.kind=dsr", "train.normalize_obs=true", "ppo.gamma=0.99"],
    "logret_norm": ["stack.reward.kind=log_return", "train.normalize_obs=true", "ppo.gamma=0.99"],
    "logret_norm_g0": ["stack.reward.kind=log_return", "train.normalize_obs=true", "ppo.gamma=0.0"],
    "logret_g0": ["stack.reward.kind=log_return", "train.normalize_obs=false", "ppo.gamma=0.0"],
    # nearly undiscounted: the objective is the episode's (252 bars) total log growth, so a long hold pays for
    # the bars it uses (with discount 0 the agent is paid per trade, whatever its length)
    "logret_norm_g999": ["stack.reward.kind=log_return", "train.normalize_obs=true", "ppo.gamma=0.999"],
    # less exploration noise: the mean action (hold, stop, target) matters more than its noise
    "logret_norm_std1": _LOGRET_STD1,
    "logret_norm_std15": ["stack.reward.kind=log_return", "train.normalize_obs=true", "ppo.log_std_init=-1.5"],
    "logret_norm_std2": ["stack.reward.kind=log_return", "train.normalize_obs=true", "ppo.log_std_init=-2.0"],
    # an opportunity cost per bar (the semi-Markov average-reward correction, envs.reward): PPO discounts per
    # decision, so without it a long hold is paid for its bars at the price of one decision; 0.005 and 0.01 a bar
    # bracket the reward rate of buy-and-hold at the cap (about 0.004) and of the planted rule (about 0.008)
    "logret_norm_std1_bc5": [*_LOGRET_STD1, "stack.reward.bar_cost=0.005"],
    "logret_norm_std1_bc10": [*_LOGRET_STD1, "stack.reward.bar_cost=0.01"],
    # each decision paid for its own trade only (a contextual bandit over trades, which this market is): with
    # discount 0 the bar cost is the whole price of the time a trade uses; or discount 0.99 with GAE lambda 0
    # (one-step advantages against the learned value, far less noise from the following trades)
    "logret_norm_std1_bc5_g0": [*_LOGRET_STD1, "stack.reward.bar_cost=0.005", "ppo.gamma=0.0"],
    "logret_norm_std1_bc5_l0": [*_LOGRET_STD1, "stack.reward.bar_cost=0.005", "ppo.gae_lambda=0.0"],
    # the same with a learning rate of 1e-3 instead of 3e-4: does the size follow the signal sooner?
    "logret_norm_std1_bc5_g0_lr1e3": [
        *_LOGRET_STD1,
        "stack.reward.bar_cost=0.005",
        "ppo.gamma=0.0",
        "ppo.learning_rate=0.001",
    ],
    # the checkpoint with the best validation Sharpe
    "logret_norm_sharpe": ["stack.reward.kind=log_return", "train.normalize_obs=true", "train.select_by=sharpe"],
}
BASELINES = ("composite_score", "buy_and_hold_cap", "signal_technical")
COMPARE = ("composite_score", "buy_and_hold_cap")


def _returns(result: Any) -> np.ndarray:
    eq = result.equity.to_numpy(dtype=np.float64)
    return eq[1:] / eq[:-1] - 1.0


def _backtests(cfg: Any, model: Path | None, seed: int) -> dict[str, Any]:
    """The trained model (if any) and the baselines of :data:`BASELINES` on the test window of ``cfg``."""
    from agents.stack import fit_detector, make_env
    from envs.data import load
    from experiments.evaluation.backtest import run_backtest
    from experiments.evaluation.baselines import SignalRule, make_baselines
    from experiments.evaluation.policies import load_policy

    data = load(cfg.stack.data)
    detector = fit_detector(cfg.stack, data, "test") if cfg.stack.tiers.tier2 else None

    def env() -> Any:
        return make_env(cfg.stack, "test", data=data, detector=detector)

    action_map = env().unwrapped.action_map
    rules = {**make_baselines(action_map, cfg.seed), "signal_technical": SignalRule(action_map, "technical")}
    policies: dict[str, Any] = {name: rules[name] for name in BASELINES}
    if model is not None:
        policies = {"agent": load_policy(model), **policies}
    out = {}
    for name, policy in policies.items():
        res = run_backtest(env(), policy, seed=seed)
        sizes = res.trades["size"].to_numpy() if len(res.trades) else np.zeros(0)
        out[name] = {
            "sharpe": res.metrics["sharpe_annual"],
            "trades": len(res.trades),
            "mean_size": float(sizes.mean()) if sizes.size else 0.0,
            # bars from decision to exit (what the trade cost in time) and the hold the policy asked for
            "mean_bars": float((res.trades["exit_bar"] - res.trades["decision_bar"]).mean()) if sizes.size else 0.0,
            "mean_hold": float(res.trades["hold"].mean()) if sizes.size else 0.0,
            "max_drawdown": res.metrics["max_drawdown_frac"],
            "returns": _returns(res).tolist(),
        }
    return out


def run_unit(config: str, variant: str, seed: int, steps: int, runs_dir: str, vary_data: bool) -> dict[str, Any]:
    """Train one (variant, seed), backtest its best model and the baselines on the test window.

    With ``vary_data`` and a synthetic preset as the config's data, the market itself is drawn with ``seed``
    (``synthetic:<market>:<seed>``): seeds then vary the market sample as well as the agent.
    """
    import torch

    torch.set_num_threads(1)
    from experiments.config import load_config
    from experiments.training.train import train

    overrides = [*VARIANTS[variant], f"seed={seed}", f"train.total_timesteps={steps}", f"runs_dir={runs_dir}"]
    overrides.append(f"name={Path(config).stem}-{variant}-s{seed}")
    cfg = load_config(config, overrides=overrides)
    if vary_data and cfg.stack.data.startswith("synthetic:"):
        market = cfg.stack.data.split(":")[1]
        cfg = load_config(config, overrides=[*overrides, f"stack.data=synthetic:{market}:{seed}"])
    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    tests = _backtests(cfg, result.best_model_path or result.model_path, seed)
    agent = tests.pop("agent")
    return {
        "variant": variant,
        "seed": seed,
        "data": cfg.stack.data,
        "run_dir": str(result.run_dir),
        "seconds": time.perf_counter() - t0,
        **agent,
        "baselines": tests,
    }


def _diff(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    from experiments.evaluation.stats import paired_sharpe_difference

    d = paired_sharpe_difference(a, b, confidence=0.90, n_boot=1000, rng=0)
    return {"diff": d.diff_sharpe_annual, "low": d.ci_low_annual, "high": d.ci_high_annual}


def summarize_variant(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-seed figures and paired differences against each baseline of :data:`COMPARE`, per seed and pooled
    (the seeds' test windows laid end to end, the agent's bars paired with the baseline's on the same data)."""
    out: dict[str, Any] = {
        "seeds": [u["seed"] for u in units],
        "data": [u["data"] for u in units],
        "sharpe": [u["sharpe"] for u in units],
        "sharpe_median": float(np.median([u["sharpe"] for u in units])),
        "trades": [u["trades"] for u in units],
        "mean_size": [u["mean_size"] for u in units],
        "mean_bars": [u["mean_bars"] for u in units],
        "mean_hold": [u["mean_hold"] for u in units],
        "max_drawdown": [u["max_drawdown"] for u in units],
        "baselines": {b: [u["baselines"][b]["sharpe"] for u in units] for b in BASELINES},
    }
    for name in COMPARE:
        pairs = [(np.asarray(u["returns"]), np.asarray(u["baselines"][name]["returns"])) for u in units]
        out[f"vs_{name}"] = [_diff(a, b) for a, b in pairs]
        out[f"vs_{name}_pooled"] = _diff(np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs]))
    return out


def rules_only(config: str, seeds: list[int], vary_data: bool, out: str | None) -> int:
    """Is the test passable? The planted rule's paired Sharpe difference against each baseline of :data:`COMPARE`,
    pooled over the seeds' draws (90% CI), with no agent trained."""
    from experiments.config import load_config

    units = []
    for seed in seeds:
        cfg = load_config(config, overrides=[f"seed={seed}"])
        if vary_data and cfg.stack.data.startswith("synthetic:"):
            market = cfg.stack.data.split(":")[1]
            cfg = load_config(config, overrides=[f"seed={seed}", f"stack.data=synthetic:{market}:{seed}"])
        units.append(_backtests(cfg, None, seed))
        print(f"seed {seed} ({cfg.stack.data}): " + ", ".join(f"{k} {v['sharpe']:.2f}" for k, v in units[-1].items()))
    rule = np.concatenate([np.asarray(u["signal_technical"]["returns"]) for u in units])
    report: dict[str, Any] = {"config": config, "seeds": seeds, "vary_data": vary_data}
    for name in COMPARE:
        d = _diff(rule, np.concatenate([np.asarray(u[name]["returns"]) for u in units]))
        report[f"signal_technical_vs_{name}_pooled"] = d
        print(f"signal_technical vs {name}, pooled over {len(seeds)} draws (90% CI): {_fmt(d)}")
    write_json(out, report, indent=1)
    return 0


def _fmt(d: dict[str, float]) -> str:
    return f"{d['diff']:+.2f} [{d['low']:+.2f}, {d['high']:+.2f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="planted_edge")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs-dir", default="runs/bench/planted_edge")
    parser.add_argument("--out", default=None)
    parser.add_argument("--fixed-data", action="store_true", help="one market draw (the config's) for every seed")
    parser.add_argument(
        "--rules-only",
        action="store_true",
        help="no training: the planted rule (signal_technical) against the baselines on each seed's draw, pooled",
    )
    args = parser.parse_args(argv)
    if args.rules_only:
        return rules_only(args.config, args.seeds, not args.fixed_data, args.out)
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown or args.steps < 1 or args.jobs < 1:
        print(
            f"error: variants {unknown} unknown (choose from {list(VARIANTS)}) or --steps/--jobs < 1", file=sys.stderr
        )
        return 2
    t0 = time.perf_counter()
    vary = not args.fixed_data
    jobs = [(args.config, v, s, args.steps, args.runs_dir, vary) for v in args.variants for s in args.seeds]
    with ProcessPoolExecutor(args.jobs) as pool:
        units = list(pool.map(run_unit, *zip(*jobs, strict=True)))
    print(f"planted-edge benchmark: config {args.config}, {args.steps} steps, seeds {args.seeds}, {args.jobs} jobs")
    print(f"market drawn per seed: {vary}; {platform.machine()}; wall time {time.perf_counter() - t0:.0f} s")
    report: dict[str, Any] = {"settings": vars(args), "variants": {}}
    for v in args.variants:
        s = summarize_variant([u for u in units if u["variant"] == v])
        report["variants"][v] = s
        print(f"\n{v}: overrides {VARIANTS[v] or '(config as is)'}")
        print(f"  test Sharpe per seed {[round(x, 2) for x in s['sharpe']]}, median {s['sharpe_median']:.2f}")
        for b, values in s["baselines"].items():
            print(f"    {b:<17} per seed {[round(x, 2) for x in values]}")
        print(f"  trades {s['trades']}, mean size {[round(x, 3) for x in s['mean_size']]}")
        holds, bars = [round(x, 1) for x in s["mean_hold"]], [round(x, 1) for x in s["mean_bars"]]
        print(f"  hold asked {holds}, bars held {bars}")
        print(f"  max drawdown {[round(x, 3) for x in s['max_drawdown']]}")
        for name in COMPARE:
            per_seed = ", ".join(_fmt(d) for d in s[f"vs_{name}"])
            print(f"  dSharpe vs {name} (90% CI): per seed {per_seed}; pooled {_fmt(s[f'vs_{name}_pooled'])}")
    write_json(args.out, report, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
