"""Learnability certification: does a learner earn the edge planted in a market, measured so that luck cannot pass?

A family of planted markets (:data:`MARKETS`): one regime where one component's sign predicts the return over the
next ``horizon`` bars with hit rate ``hit`` (four variants: which component, horizon 3 and 5, hit rate 0.58-0.65,
vol 1-1.5% a day), and two-regime markets where the component with the edge moves with the regime. For each market
and training seed the learner trains on an 8,000-bar draw (the usual windows: train 1993-2012, validation
2012-2015) and is tested on a fresh draw of the same market, ``--test-bars`` long (default 50,000: a Sharpe's
standard error about 0.1), cut into test episodes of ``--episode-bars`` (each a fresh account, so the latched 15%
halt cannot end the run). Everything runs through the same stack, costs and risk layer; the ceiling is the rule
the edge was planted for (:class:`PlantedRule`: 20% long for ``horizon`` bars when the component of the current
regime is above 0; in a two-regime market it reads the true regime, which no learner sees).

The score of a learner, per market, over seeds:

* ``share``: its log growth per bar / the ceiling's (1.0: all of it);
* ``on`` / ``off``: decision accuracy, the share of decisions with the signal on where it traded, and with the
  signal off where it stayed flat;
* the paired Sharpe difference against the ceiling on the same bars, with its 95% stationary-bootstrap interval.

A market passes when the learner's median share over seeds is at least ``--goal`` (0.8) and its median accuracy at
least 0.9 on / 0.9 off. Before any learner is judged, ``--ceiling-check`` runs the rule through the same
measurement: the market's test path must give it a positive growth and an accuracy of 1 / 1.

Learners (``--learners``): ``rule`` (the ceiling), ``full_info_comp`` and ``full_info_all`` (a categorical policy
over the bracket menu fitted offline on full-information outcomes from the component slots / all 27 slots),
``full_info_regime`` (the same on the component slots and the generator's true regime, which no other learner sees:
how much of the rule regime information alone would give this learner), ``full_info_factored_comp`` and
``full_info_factored_all`` (the same with the factored menu head, :mod:`agents.tier3.menu_head`),
``factored`` (the config under test with ``ppo.menu_head: factored``), ``factored_signals`` and ``factored_comp``
(that, reading the components and the tiers' outputs / the components only: ``ppo.inputs``), ``pooled``,
``pooled_signals``, ``pooled_market`` and ``pooled_comp`` (``ppo.menu_head: pooled``, the item preference and the
trade threshold set from the pooled outcomes; every slot / the components and the tiers' outputs / the components and
the market features / the components only),
``menu_feedback`` (PPO on the menu from its own trades), ``ppo_box_g0`` (PPO on the Box, discount 0),
``ppo_box`` (PPO on the Box with the planted-edge preset's old settings), ``menu_free`` (the planted-edge preset's
learner before 2026-12-07, :data:`MENU_BEFORE`, the base of every learner named so far) and ``default`` (the config
under test: ``--config``, default ``planted_edge``, which the certification certifies).

Usage::

    python -m experiments.benchmarks.certify --learners rule --ceiling-check            # is the test passable?
    python -m experiments.benchmarks.certify --out runs/bench/certify                   # the default config
    python -m experiments.benchmarks.certify --learners rule full_info_comp menu_feedback ppo_box_g0 ppo_box default
    python -m experiments.benchmarks.certify --quick --out runs/bench/certify-quick     # minutes, smaller

Writes ``OUT/summary.json``: ``{"config": ..., "markets": {market: {learner: {...}}}, "passed": bool}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import platform
import shlex
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from experiments.benchmarks import write_json

COMPONENT_NAMES = ("theme", "technical", "ai", "sentiment")


@dataclass(frozen=True)
class Regime:
    """One regime of a planted market: drift and vol a day, mean duration (bars), the component with the edge."""

    name: str
    drift: float
    vol: float
    duration: float
    component: str
    hit: float


@dataclass(frozen=True)
class Market:
    """A planted market: its regimes and the horizon its signals predict."""

    regimes: tuple[Regime, ...]
    horizon: int

    def synthetic(self) -> Any:
        from envs.synthetic import RegimeSpec, SyntheticMarket

        specs = []
        for r in self.regimes:
            hits = tuple(r.hit if c == r.component else 0.5 for c in COMPONENT_NAMES)
            specs.append(RegimeSpec(r.name, r.drift, r.vol, r.duration, hits))  # type: ignore[arg-type]
        return SyntheticMarket(regimes=tuple(specs), signal_horizon=self.horizon, start_date="1990-01-01")


MARKETS: dict[str, Market] = {
    "technical_h5": Market((Regime("planted", 0.0002, 0.010, 1e9, "technical", 0.65),), 5),
    "theme_h3": Market((Regime("planted", 0.0002, 0.015, 1e9, "theme", 0.60),), 3),
    "ai_h5": Market((Regime("planted", 0.0001, 0.012, 1e9, "ai", 0.58),), 5),
    "sentiment_h3": Market((Regime("planted", 0.0002, 0.010, 1e9, "sentiment", 0.62),), 3),
    "two_regime_tech_theme": Market(
        (
            Regime("calm", 0.0004, 0.008, 120.0, "technical", 0.65),
            Regime("choppy", 0.0, 0.015, 120.0, "theme", 0.65),
        ),
        5,
    ),
    "two_regime_ai_sentiment": Market(
        (
            Regime("calm", 0.0003, 0.008, 150.0, "ai", 0.63),
            Regime("choppy", 0.0, 0.014, 150.0, "sentiment", 0.63),
        ),
        3,
    ),
}
"""The planted family (issue 24: at least four one-regime variants and two-regime versions)."""

TRAIN_BARS = 8000
WINDOWS = {
    "train": ("1993-01-01", "2012-01-01"),
    "val": ("2012-01-01", "2015-01-01"),
    "test": ("2015-01-01", "2020-07-01"),
}
MENU_BEFORE = [
    "ppo.menu_head=free",
    "ppo.inputs=[portfolio, market, components, tier1, tier2, performance]",
    "ppo.learning_rate=0.0003",
]
"""The ``planted_edge`` preset's learner before 2026-12-07 (free menu head, every slot, learning rate 3e-4): the base of
the ladder's learners below, so that each means what it was measured as whatever the preset says now."""
LEARNERS: dict[str, list[str]] = {
    # the config under test: its own settings (nothing added)
    "default": [],
    # the config under test before 2026-12-07
    "menu_free": [*MENU_BEFORE],
    # PPO on the bracket menu, learning from its own trades only
    "menu_feedback": [*MENU_BEFORE, "stack.action=menu", "ppo.full_info=0"],
    # PPO on the Box, discount 0, log-return reward
    "ppo_box_g0": [*MENU_BEFORE, "stack.action=box", "ppo.full_info=0", "ppo.gamma=0", "stack.reward.kind=log_return"],
    # PPO on the Box with the planted-edge preset's settings before issue 24 (DSR reward, 4 copies)
    "ppo_box": [
        *MENU_BEFORE,
        "stack.action=box",
        "ppo.full_info=0",
        "ppo.gamma=0.99",
        "stack.reward.kind=dsr",
        "train.n_envs=4",
        "ppo.n_steps=256",
        "ppo.batch_size=128",
    ],
    # the factored menu head (whether to trade from the inputs, which item shared)
    "factored": [*MENU_BEFORE, "ppo.menu_head=factored"],
    # ... reading the component scores and the tiers' outputs only
    "factored_signals": [*MENU_BEFORE, "ppo.menu_head=factored", "ppo.inputs=[components, tier1, tier2]"],
    # ... reading the component scores only
    "factored_comp": [*MENU_BEFORE, "ppo.menu_head=factored", "ppo.inputs=[components]"],
    # ... with the item preference set from the pooled outcomes
    "pooled_comp": [*MENU_BEFORE, "ppo.menu_head=pooled", "ppo.inputs=[components]"],
    "pooled_signals": [*MENU_BEFORE, "ppo.menu_head=pooled", "ppo.inputs=[components, tier1, tier2]"],
    "pooled_market": [*MENU_BEFORE, "ppo.menu_head=pooled", "ppo.inputs=[components, market]"],
    "pooled": [*MENU_BEFORE, "ppo.menu_head=pooled"],
}
"""PPO learners: config overrides on top of ``--config``."""
OFFLINE = ("full_info_comp", "full_info_all", "full_info_regime", "full_info_factored_comp", "full_info_factored_all")
RULES = ("rule",)


def market_data(market: Market, n_bars: int, seed: int) -> Any:
    """The market's bars (with component columns) and its regime labels."""
    sample = market.synthetic().generate(n_bars, seed=seed)
    return sample.data, sample.labels


class PlantedRule:
    """The ceiling: 20% long for ``horizon`` bars (widest stop and target) when the component of the current
    regime is above 0, else flat. In a two-regime market it reads the true regime (``labels``), which no learner
    sees."""

    def __init__(self, action_map: Any, market: Market, labels: np.ndarray) -> None:
        from envs.layout import OBS_LAYOUT

        self.action_map, self.market, self.labels = action_map, market, labels
        self.slots = [OBS_LAYOUT.index(r.component) for r in market.regimes]
        (_, s_hi), (_, t_hi) = action_map.stop_range, action_map.target_range
        self.long = action_map.encode(_params(action_map.max_position, market.horizon, s_hi, t_hi))
        self.flat = np.array([-1.0, -1.0, -1.0, -1.0], np.float32)

    def signal(self, obs: np.ndarray, bar: int) -> bool:
        return bool(obs[self.slots[int(self.labels[bar])]] > 0.0)

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        return self.long if self.signal(obs, int(info["bar"])) else self.flat


def _params(size: float, hold: int, stop: float, target: float) -> Any:
    from envs.layout import TradeParams

    return TradeParams(size, hold, stop, target)


# --------------------------------------------------------------------------------------------- measurement
@dataclass
class Score:
    """What one policy did on the long test path."""

    growth: float  # total log growth over all episodes
    bars: int  # bars traded through (decision to end)
    on: float  # share of signal-on decisions that asked for a trade
    off: float  # share of signal-off decisions that asked for none
    returns: np.ndarray  # per-bar returns, episodes laid end to end
    trades: int

    @property
    def rate(self) -> float:
        return self.growth / max(self.bars, 1)

    def sharpe(self) -> float:
        r = self.returns
        sd = float(r.std(ddof=1)) if len(r) > 1 else 0.0
        return float(r.mean() / sd * math.sqrt(252.0)) if sd > 0 else 0.0


def measure(
    make_env: Callable[[int, int], Any], policy: Any, rule: PlantedRule, episodes: list[tuple[int, int]]
) -> Score:
    """Drive ``policy`` through every test episode (a fresh account each); the rule's signal scores accuracy.

    An episode the 15% drawdown halt ends early counts to its last bar all the same: the halt latches, so the account
    sits in cash (return 0) until then. Every policy's returns then cover the same bars, as the paired Sharpe
    difference needs.
    """
    growth, bars, on, n_on, off, n_off, trades = 0.0, 0, 0, 0, 0, 0, 0
    returns = []
    for start, stop in episodes:
        env = make_env(start, stop)
        base = env.unwrapped
        reset = getattr(policy, "reset", None)
        if callable(reset):
            reset(0)
        obs, info = env.reset(seed=0)
        done = False
        while not done:
            bar = int(base.bar)
            signal = rule.signal(obs, bar)
            obs_next, _, term, trunc, info2 = env.step(policy(obs, {**info, "bar": bar}))
            trades += "trade" in info2
            traded = info2["requested_size"] >= base.min_trade  # what it decided (the risk layer may refuse)
            if signal:
                n_on += 1
                on += traded
            else:
                n_off += 1
                off += not traded
            obs, info, done = obs_next, info2, term or trunc
        curve = np.asarray(base.equity_curve[start : int(base.bar) + 1], np.float64)
        growth += float(np.log(curve[-1] / curve[0]))
        ret = curve[1:] / curve[:-1] - 1.0
        cash = (int(base.window[1]) - 1 - start) - len(ret)  # bars after a halt, to the episode's last bar
        ret = np.concatenate([ret, np.zeros(max(cash, 0))])
        bars += len(ret)
        returns.append(ret)
    return Score(growth, bars, on / max(n_on, 1), off / max(n_off, 1), np.concatenate(returns), trades)


# --------------------------------------------------------------------------------------------- learners
def _config(base: str, data_file: Path, runs_dir: Path, overrides: list[str], seed: int, steps: int | None) -> Any:
    from experiments.config import load_config

    sets = [
        f"stack.data={data_file}",
        *(f"stack.{k}=[{a}, {b}]" for k, (a, b) in WINDOWS.items()),
        f"runs_dir={runs_dir}",
        f"seed={seed}",
        *overrides,
    ]
    if steps:
        sets.append(f"train.total_timesteps={steps}")
    return load_config(base, overrides=sets)


def train_ppo(cfg: Any) -> tuple[Any, dict[str, Any]]:
    """Train with ``tradebrain train``'s code; the policy of the best checkpoint (else the final model)."""
    from experiments.evaluation.policies import load_policy
    from experiments.training.train import train

    t0 = time.perf_counter()
    result = train(cfg, progress=False)
    model = result.best_model_path or result.model_path
    return load_policy(model), {"steps": cfg.train.total_timesteps, "seconds": time.perf_counter() - t0}


def fit_full_info(
    cfg: Any,
    slots: str,
    seed: int,
    rollout_steps: int = 400,
    epochs: int = 60,
    regimes: tuple[np.ndarray, np.ndarray] | None = None,
    factored: bool = False,
) -> tuple[Any, dict]:
    """A categorical policy over the bracket menu fitted offline on full-information outcomes.

    Observations come from a rollout of random menu items through the training stack (64 copies); every item's
    outcome at each observed decision comes from :class:`agents.tier3.full_info.Outcomes`. The policy (one hidden
    layer of 64) maximises the expected utility of :func:`agents.tier3.full_info.expected_utility`, with the rate
    ``rho`` of its own greedy decisions; it reads the component slots (``comp``) or all 27 (``all``), and with
    ``regimes`` (the true regime of every bar of the training data and of the test data) also the true regime.
    """
    import torch

    from agents.batch import StackVecEnv
    from agents.tier3.full_info import Outcomes, expected_utility
    from envs.data import load

    t0 = time.perf_counter()
    stack = dataclasses.replace(cfg.stack, action="menu")
    data = load(stack.data)
    outcomes = Outcomes.for_stack(stack, "train", data)
    venv = StackVecEnv(stack, 64, seed=seed, data=data)
    obs = venv.reset()
    rng = np.random.default_rng(seed)
    xs, bars = [], []
    for _ in range(rollout_steps):
        bars.append(np.asarray(venv.get_attr("bar")))
        xs.append(obs.copy())
        obs, *_ = venv.step(rng.integers(0, len(stack.menu), 64))
    cols = slice(11, 15) if slots == "comp" else slice(0, 27)
    x_np = np.concatenate(xs)[:, cols]
    if regimes is not None:
        x_np = np.column_stack([x_np, regimes[0][np.concatenate(bars)]]).astype(np.float32)
    x = torch.tensor(x_np)
    g, s = outcomes.rows(np.concatenate(bars))
    growth, spans = torch.tensor(g, dtype=torch.float32), torch.tensor(s, dtype=torch.float32)
    torch.manual_seed(seed)
    if factored:
        from agents.tier3.menu_head import FactoredMenuHead

        head: torch.nn.Module = FactoredMenuHead(64, len(stack.menu))
    else:
        head = torch.nn.Linear(64, len(stack.menu))
    net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 64), torch.nn.Tanh(), head)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    rho = 0.0
    for it in range(epochs):
        for idx in np.array_split(np.random.default_rng(it).permutation(len(x)), 25):
            loss = -expected_utility(net(x[idx]), growth[idx], spans[idx], rho)
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            a = net(x).argmax(dim=1)
            rate = float(growth[torch.arange(len(a)), a].sum() / spans[torch.arange(len(a)), a].sum())
        rho = max(0.0, 0.8 * rho + 0.2 * rate)

    def policy(obs: np.ndarray, info: Mapping[str, Any]) -> np.int64:
        row = obs[cols] if regimes is None else np.append(obs[cols], regimes[1][int(info["bar"])]).astype(np.float32)
        with torch.no_grad():
            return np.int64(net(torch.as_tensor(row)[None]).argmax())

    return policy, {"steps": rollout_steps * 64, "seconds": time.perf_counter() - t0, "rho": rho}


# --------------------------------------------------------------------------------------------- one unit
def run_unit(task: dict[str, Any]) -> dict[str, Any]:
    """One (market, seed): train every learner of ``task`` and measure each with the ceiling on the test path."""
    import torch

    from agents.stack import fit_detector, make_env
    from envs.data import MarketData

    torch.set_num_threads(1)
    market, seed = MARKETS[task["market"]], int(task["seed"])
    root = Path(task["root"]) / f"{task['market']}-s{seed}"
    root.mkdir(parents=True, exist_ok=True)
    train_data, train_labels = market_data(market, TRAIN_BARS, seed)
    data_file = root / "train.csv"
    train_data.to_frame().rename_axis("date").to_csv(data_file)
    test_data, labels = market_data(market, task["warmup"] + task["test_bars"], 10_000 + seed)
    test_data = MarketData.from_frame(test_data.to_frame(), name=f"certify-test-{task['market']}-{seed}")
    base_cfg = _config(task["config"], data_file, root / "runs", [], seed, task["steps"])
    w, eb = task["warmup"], task["episode_bars"]
    episodes = [(w + i * eb, w + (i + 1) * eb) for i in range(task["test_bars"] // eb)]
    idx = test_data.index

    def stack_for(start: int, stop: int, action: str) -> Any:
        stop_date = str(idx[stop].date()) if stop < len(idx) else str((idx[-1] + np.timedelta64(1, "D")).date())
        stack = dataclasses.replace(base_cfg.stack, data=test_data.name, action=action)
        fit_start = str(idx[max(start - stack.tiers.tier2_fit_bars - 1, 0)].date())
        return dataclasses.replace(
            stack, train=(fit_start, str(idx[start].date())), test=(str(idx[start].date()), stop_date)
        )

    detector_stack = stack_for(episodes[0][0], episodes[0][1], "box")
    detector = fit_detector(detector_stack, test_data, "test") if detector_stack.tiers.tier2 else None

    def env_factory(action: str) -> Callable[[int, int], Any]:
        return lambda start, stop: make_env(stack_for(start, stop, action), "test", data=test_data, detector=detector)

    box_env = env_factory("box")
    action_map = box_env(*episodes[0]).unwrapped.action_map
    rule = PlantedRule(action_map, market, labels)
    out: dict[str, Any] = {"market": task["market"], "seed": seed, "test_bars": sum(b - a for a, b in episodes)}
    scores: dict[str, Score] = {"rule": measure(box_env, rule, rule, episodes)}
    info: dict[str, dict[str, Any]] = {"rule": {"steps": 0, "seconds": 0.0}}
    for name in task["learners"]:
        if name in RULES:
            continue
        if name in OFFLINE:
            truth = (np.asarray(train_labels), np.asarray(labels)) if name == "full_info_regime" else None
            slots = "all" if name.endswith("_all") else "comp"
            policy, info[name] = fit_full_info(base_cfg, slots, seed, regimes=truth, factored="factored" in name)
            env = env_factory("menu")
        else:
            cfg = _config(task["config"], data_file, root / "runs" / name, task["variants"][name], seed, task["steps"])
            policy, info[name] = train_ppo(cfg)
            env = env_factory(cfg.stack.action)
        scores[name] = measure(env, policy, rule, episodes)
    ref = scores["rule"]
    from experiments.evaluation.stats import paired_sharpe_difference

    for name, sc in scores.items():
        diff = paired_sharpe_difference(sc.returns, ref.returns, n_boot=task["n_boot"], rng=seed)
        out[name] = {
            "share": sc.rate / ref.rate if ref.rate > 0 else float("nan"),
            "rate_per_bar": sc.rate,
            "on": sc.on,
            "off": sc.off,
            "sharpe": sc.sharpe(),
            "sharpe_diff_vs_rule": [diff.diff_sharpe_annual, diff.ci_low_annual, diff.ci_high_annual],
            "trades": sc.trades,
            **info.get(name, {}),
        }
    return out


# --------------------------------------------------------------------------------------------- the table
def summarize(units: list[dict[str, Any]], learners: list[str], goal: float) -> dict[str, Any]:
    """Per market and learner: medians over seeds, and whether the market passes for each learner."""
    markets: dict[str, Any] = {}
    for name in dict.fromkeys(u["market"] for u in units):
        rows = [u for u in units if u["market"] == name]
        markets[name] = {}
        for learner in ["rule", *[x for x in learners if x != "rule"]]:
            got = [u[learner] for u in rows if learner in u]
            if not got:
                continue
            med = {k: float(np.median([g[k] for g in got])) for k in ("share", "on", "off", "sharpe", "trades")}
            diffs = [g["sharpe_diff_vs_rule"] for g in got]
            med["sharpe_diff_vs_rule"] = [float(np.median([d[i] for d in diffs])) for i in range(3)]
            med["seeds"] = len(got)
            med["passed"] = bool(med["share"] >= goal and med["on"] >= 0.9 and med["off"] >= 0.9)
            med["steps"] = int(np.median([g.get("steps", 0) for g in got]))
            med["seconds"] = float(np.median([g.get("seconds", 0.0) for g in got]))
            markets[name][learner] = med
    return markets


def table(markets: Mapping[str, Any]) -> str:
    lines = [
        "| market | learner | share of the rule's growth | accuracy on / off | Sharpe | vs rule (95% CI) | "
        "trades | steps | seconds | passes |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for market, rows in markets.items():
        for learner, m in rows.items():
            d = m["sharpe_diff_vs_rule"]
            lines.append(
                f"| {market} | {learner} | {m['share']:.2f} | {m['on']:.2f} / {m['off']:.2f} | {m['sharpe']:.2f} | "
                f"{d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}] | {m['trades']:.0f} | {m['steps']:,} | {m['seconds']:.0f} | "
                f"{'yes' if m['passed'] else 'no'} |"
            )
    return "\n".join(lines)


def git_commit() -> str:
    """The checkout's short commit (``unknown`` outside a git checkout)."""
    import subprocess

    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False)
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def command_line(settings: dict[str, Any]) -> str:
    """The command that reproduces a run from its parsed arguments (flags as flags, no empty options)."""
    parts = ["python -m experiments.benchmarks.certify"]
    for key, value in settings.items():
        if key in ("out", "publish", "quick") or value is None or value is False or value == []:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            parts.append(flag)
        elif key == "variant":  # repeatable: one flag per variant
            parts.extend(f"{flag} {shlex.quote(str(v))}" for v in value)
        elif isinstance(value, list):
            parts.append(f"{flag} {' '.join(shlex.quote(str(v)) for v in value)}")
        else:
            parts.append(f"{flag} {value}")
    return " ".join(parts)


def publish(summary: Mapping[str, Any], learner: str) -> Path:
    """Write the compact certification run reports quote (:data:`experiments.reporting.learning.CERTIFICATION`)."""
    from experiments.config import config_tree, load_config
    from experiments.files import write_json_atomic
    from experiments.reporting.learning import CERTIFICATION, learner_settings

    commit = summary.get("commit") or git_commit()
    tree = config_tree(load_config(summary["config"], overrides=LEARNERS.get(learner, [])))
    compact = {
        "config": summary["config"] if learner == "default" else f"{summary['config']} + {LEARNERS[learner]}",
        "date": time.strftime("%Y-%m-%d"),
        "commit": commit or "unknown",
        "command": summary["command"],
        "goal": summary["settings"]["goal"],
        "passed": summary["passed"],
        "learner": learner_settings(tree),
        "markets": {
            m: {k: rows[learner][k] for k in ("share", "on", "off", "passed")}
            for m, rows in summary["markets"].items()
            if learner in rows
        },
    }
    write_json_atomic(CERTIFICATION, compact, indent=1)
    return CERTIFICATION


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="planted_edge", help="the config under test (learner 'default')")
    p.add_argument("--markets", nargs="+", default=list(MARKETS), choices=list(MARKETS))
    p.add_argument("--learners", nargs="+", default=["rule", "default"], choices=["rule", *OFFLINE, *LEARNERS])
    p.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME=KEY=VALUE,KEY=VALUE",
        help="another PPO learner: the config under test with these overrides (repeatable)",
    )
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=None, help="PPO steps (default: the config's)")
    p.add_argument("--test-bars", type=int, default=50_000)
    p.add_argument("--episode-bars", type=int, default=2_500, help="bars of each test episode (a fresh account)")
    p.add_argument("--goal", type=float, default=0.8, help="share of the rule's growth a market needs")
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="two markets, one seed, 10,000 test bars, 60,000 steps")
    p.add_argument("--ceiling-check", action="store_true", help="also fail when the rule is not a ceiling")
    p.add_argument("--out", default="runs/bench/certify")
    p.add_argument(
        "--publish",
        action="store_true",
        help="also write the result as the latest certification the run reports quote "
        "(experiments/reporting/certification.json)",
    )
    args = p.parse_args()
    for spec in args.variant:
        name, _, sets = spec.partition("=")
        LEARNERS[name] = [x for x in sets.split(",") if x]
        if name not in args.learners:
            args.learners.append(name)
    if args.quick:
        args.markets, args.seeds, args.test_bars, args.steps = (
            ["technical_h5", "two_regime_tech_theme"],
            [0],
            10_000,
            60_000,
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tasks = [
        {
            "market": m,
            "seed": s,
            "root": str(out / "units"),
            "config": args.config,
            "learners": args.learners,
            "variants": {k: LEARNERS[k] for k in args.learners if k in LEARNERS},
            "steps": args.steps,
            "test_bars": args.test_bars,
            "episode_bars": args.episode_bars,
            "warmup": 1000,
            "n_boot": args.n_boot,
        }
        for m in args.markets
        for s in args.seeds
    ]
    commit = git_commit()
    t0 = time.perf_counter()
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as pool:
            units = list(pool.map(run_unit, tasks))
    else:
        units = [run_unit(t) for t in tasks]
    markets = summarize(units, args.learners, args.goal)
    ceiling_ok = all(rows["rule"]["on"] == 1.0 and rows["rule"]["off"] == 1.0 for rows in markets.values())
    learner = "default" if "default" in args.learners else args.learners[-1]
    passed = all(rows.get(learner, {}).get("passed", False) for rows in markets.values())
    summary = {
        "benchmark": "certify",
        "command": command_line(vars(args)),
        "settings": vars(args),
        "commit": commit,
        "config": args.config,
        "certified_learner": learner,
        "passed": passed and (ceiling_ok or not args.ceiling_check),
        "ceiling_ok": ceiling_ok,
        "seconds": time.perf_counter() - t0,
        "python": platform.python_version(),
        "markets": markets,
        "units": units,
    }
    write_json(out / "summary.json", summary)
    if args.publish:
        publish(summary, learner)
    (out / "table.md").write_text(table(markets) + "\n")
    print(table(markets))
    print(
        f"\n{learner}: {'PASSED' if summary['passed'] else 'NOT PASSED'} (goal: share >= {args.goal}, accuracy >= 0.9 "
        f"on and off, every market); ceiling check {'ok' if ceiling_ok else 'FAILED'}; {summary['seconds']:.0f} s"
    )


if __name__ == "__main__":
    main()
