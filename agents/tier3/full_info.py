"""Full-information learning for a policy over the bracket menu (:class:`envs.menu.BracketMenu`).

There is no market impact: once the bars after a decision are known, the outcome of every item of the menu at that
decision is known too (:func:`envs.batch.bracket_outcomes`, the env's own trade code). A policy that sees only the
trade it took learns from one noisy sample per decision, and a Gaussian policy must find a one-bit edge through its
exploration noise; with full information every decision scores every item, and the expected utility of a
categorical policy, ``sum_k pi(k | obs) * u_k``, is an exact, differentiable function of its parameters. The utility
of an item prices the time it takes: ``u_k = growth_k - rho * bars_k``, its log growth less the bars it uses at the
policy's own rate ``rho`` of log growth per bar (the average-reward correction of semi-Markov decisions; a flat bar
earns ``-rho``): the rate its greedy items earn at the rollout's decisions (a running mean over rollouts), never
below 0.

:class:`FullInfoCallback` adds these updates to SB3's PPO (the package's Tier 3 learner): at the end of every rollout
it takes ``epochs`` passes of gradient ascent on the expected utility of the rollout's decisions, with the policy's
own optimiser, before PPO's update from the rewards of the trades it took. The decisions' outcomes are looked up
in a table of the training window (:class:`Outcomes`): every bar they use lies inside the window, so no outcome
after the window's end reaches training, and the live brain never uses one before its bars have arrived.

References:
    Das, Gosavi, Mahadevan, Marchalleck (1999), Solving semi-Markov decision problems using average reward
    reinforcement learning, Management Science 45(4). Schulman et al. (2017), https://arxiv.org/abs/1707.06347.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback

from agents.config import Split, StackConfig, base_env
from agents.tier2 import RegimeWrapper
from envs.batch import bracket_outcomes
from envs.data import MarketData, load
from envs.trading_env import TradingEnv

logger = logging.getLogger(__name__)

__all__ = ["FullInfoCallback", "Outcomes", "expected_utility"]

POOLED_TEMPERATURE = 0.01
"""Utility difference (x :data:`UTILITY_SCALE`) that is one logit in the pooled item preference."""

POOLED_SHARES = np.linspace(0.05, 1.0, 20)
"""Shares of the decisions (those the policy is most likely to trade) the pooled item choice tries."""

POOLED_MEMORY = 65536
"""Decisions (the latest rollouts') the pooled item choice scores: full-information outcomes do not go stale."""

UTILITY_SCALE = 100.0
"""Log growth is multiplied by this in the loss (1% growth: a utility of 1), as the log-return reward scales it."""


@dataclass(frozen=True)
class Outcomes:
    """Every menu item's outcome at every decision bar of an env's window.

    Attributes:
        start: The window's first bar (row 0 of the tables).
        growth: ``(bars, k)`` log growth of a fresh account through each item (0 for flat).
        spans: ``(bars, k)`` bars each item takes, decision to exit (1 for flat).
    """

    start: int
    growth: np.ndarray
    spans: np.ndarray

    @classmethod
    def of(cls, env: TradingEnv, menu: np.ndarray) -> Outcomes:
        """The outcomes of ``menu`` (``(k, 4)``: size, hold, stop, target) at every bar of ``env``'s window, every
        trade closed by the window's last bar."""
        growth, spans = bracket_outcomes(env, menu)
        return cls(int(env.window[0]), growth, spans)

    @classmethod
    def for_stack(cls, cfg: StackConfig, split: Split = "train", data: MarketData | None = None) -> Outcomes:
        """The outcomes of ``cfg.menu`` on the window of ``split``, with the stack's Tier 2 crisis rule when on."""
        from agents.stack import fit_detector

        market = load(cfg.data) if data is None else data
        env = base_env(cfg, market, split)
        if cfg.tiers.tier2:  # sets the env's regime path: no trade opens, and an open one exits, in a crisis
            RegimeWrapper(env, fit_detector(cfg, market, split, cache=True), fit_bars=cfg.tiers.tier2_fit_bars)
        return cls.of(env, cfg.menu.params(env.action_map))

    def rows(self, bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``growth`` and ``spans`` of decision ``bars`` (any shape; the last window bar gets the flat outcome)."""
        i = np.clip(np.asarray(bars, np.int64) - self.start, 0, len(self.growth) - 1)
        return self.growth[i], self.spans[i]


def expected_utility(logits: torch.Tensor, growth: torch.Tensor, spans: torch.Tensor, rho: float) -> torch.Tensor:
    """Mean over decisions of ``sum_k pi(k) * (growth_k - rho * spans_k)`` in utility units (:data:`UTILITY_SCALE`)."""
    utility = (growth - rho * spans) * UTILITY_SCALE
    return (torch.softmax(logits, dim=-1) * utility).sum(dim=-1).mean()


class FullInfoCallback(BaseCallback):
    """Full-information updates of PPO's categorical policy at the end of every rollout (module docstring).

    TensorBoard: ``full_info/utility`` (expected utility after the updates, per decision), ``full_info/rho`` (log
    growth per bar of the policy's greedy items at the rollout's decisions, x 100), ``full_info/greedy_share``
    (how often the policy's most likely item is the best item of the decision).

    Args:
        outcomes: The training window's outcome table.
        coef: Weight of the loss (its gradient is scaled by it).
        epochs: Passes over the rollout's decisions per rollout.
        batch_size: Decisions per gradient step.
        rho_decay: Memory of the running rate ``rho`` (per rollout).
    """

    def __init__(
        self, outcomes: Outcomes, coef: float = 1.0, epochs: int = 4, batch_size: int = 1024, rho_decay: float = 0.9
    ) -> None:
        super().__init__()
        if coef <= 0 or epochs < 1 or batch_size < 1 or not 0.0 <= rho_decay < 1.0:
            raise ValueError(
                f"coef={coef}, epochs={epochs}, batch_size={batch_size}, rho_decay={rho_decay}: need coef > 0, "
                "epochs >= 1, batch_size >= 1 and rho_decay in [0, 1)"
            )
        self.outcomes, self.coef, self.epochs, self.batch_size, self.rho_decay = (
            outcomes,
            coef,
            epochs,
            batch_size,
            rho_decay,
        )
        self.rho = 0.0
        self._rate: float | None = None
        self._bars: list[np.ndarray] = []
        self._memory: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def _bars_now(self) -> np.ndarray:
        return np.asarray(self.training_env.get_attr("bar"), np.int64)  # type: ignore[union-attr]

    def _on_rollout_start(self) -> None:
        self._bars = [self._bars_now()]

    def _on_step(self) -> bool:
        self._bars.append(self._bars_now())  # the bars of the next decisions (a finished copy: its reset bar)
        return True

    def _on_rollout_end(self) -> None:
        buffer = self.model.rollout_buffer  # type: ignore[attr-defined]
        n_steps = buffer.buffer_size
        bars = np.stack(self._bars[:n_steps])  # (n_steps, n_envs): the decision bar of each stored observation
        growth, spans = self.outcomes.rows(bars.reshape(-1))
        obs = torch.as_tensor(buffer.observations.reshape(n_steps * buffer.n_envs, -1), device=self.model.device)
        g = torch.as_tensor(growth, dtype=torch.float32)
        s = torch.as_tensor(spans, dtype=torch.float32)
        with torch.no_grad():  # the rate of the policy's greedy items at these decisions (no exploration noise)
            policy_now: Any = self.model.policy
            greedy = policy_now.get_distribution(obs).distribution.logits.argmax(dim=-1).numpy()
        rows = np.arange(len(greedy))
        rate = float(growth[rows, greedy].sum() / spans[rows, greedy].sum())
        self._rate = rate if self._rate is None else self.rho_decay * self._rate + (1 - self.rho_decay) * rate
        self.rho = max(0.0, self._rate)
        policy: Any = self.model.policy
        n = len(obs)
        self._pool_items(policy, obs, g, s)
        self._replace_advantages(buffer, policy, obs, g, s)
        rng = np.random.default_rng(self.num_timesteps)
        for _ in range(self.epochs):
            for idx in np.array_split(rng.permutation(n), max(1, n // self.batch_size)):
                logits = policy.get_distribution(obs[idx]).distribution.logits
                loss = -self.coef * expected_utility(logits, g[idx], s[idx], self.rho)
                policy.optimizer.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
                policy.optimizer.step()
        with torch.no_grad():
            logits = policy.get_distribution(obs).distribution.logits
            utility = float(expected_utility(logits, g, s, self.rho))
            best = (g - self.rho * s).argmax(dim=-1)
            greedy = float((logits.argmax(dim=-1) == best).float().mean())
        self.logger.record("full_info/utility", utility)
        self.logger.record("full_info/rho", self.rho * UTILITY_SCALE)
        self.logger.record("full_info/greedy_share", greedy)

    def _pool_items(self, policy: Any, obs: torch.Tensor, g: torch.Tensor, s: torch.Tensor) -> None:
        """With ``ppo.menu_head: pooled``: set the shared item preference from the outcomes, not by gradient steps.

        Each long item is scored by the best rate of log growth per bar a policy earns that takes it at the
        decisions the current policy is most likely to trade, flat at the rest, over every share of them
        (:data:`POOLED_SHARES`): the item is judged with the trade set that suits it along the policy's own
        ranking of decisions, not with the current trade set (a long hold chosen early, while the trade decision is
        still near a coin flip, would otherwise keep the trade set loose that made it look best). An outcome does
        not depend on the policy, so the score uses every decision of the last :data:`POOLED_MEMORY` (this
        rollout's and earlier ones'), ranked by the current policy. The preference is each item's rate less the
        best, in utility per decision at the best policy's bars per decision, over :data:`POOLED_TEMPERATURE`."""
        from agents.tier3.menu_head import FactoredMenuHead

        head = getattr(policy, "action_net", None)
        if not (isinstance(head, FactoredMenuHead) and not head.items.requires_grad):
            return
        entry = (obs.clone(), g, s)  # the rollout buffer is refilled in place by the next rollout
        self._memory = [entry] if self._memory is None else [*self._memory, entry]
        while sum(len(m[0]) for m in self._memory) - len(self._memory[0][0]) >= POOLED_MEMORY:
            self._memory.pop(0)
        obs_all = torch.cat([m[0] for m in self._memory])
        with torch.no_grad():
            trade = torch.cat(
                [
                    1.0 - torch.softmax(policy.get_distribution(part).distribution.logits, dim=-1)[:, 0]
                    for part in torch.split(obs_all, 16384)
                ]
            )
        order = np.argsort(-trade.numpy(), kind="stable")
        growth = torch.cat([m[1] for m in self._memory]).numpy()[order].astype(np.float64)
        spans = torch.cat([m[2] for m in self._memory]).numpy()[order].astype(np.float64)
        n = len(order)
        top = np.clip(np.round(POOLED_SHARES * n).astype(np.int64), 1, n)  # decisions traded, per share
        cg, cs = np.cumsum(growth, axis=0)[top - 1], np.cumsum(spans, axis=0)[top - 1]  # (shares, k)
        num = cg[:, 1:] + (growth[:, 0].sum() - cg[:, :1])  # item j at the top decisions, flat at the rest
        den = cs[:, 1:] + (spans[:, 0].sum() - cs[:, :1])
        rate = num / den  # (shares, k - 1)
        best = rate.max(axis=0)
        share, item = np.unravel_index(int(rate.argmax()), rate.shape)
        per_decision = float(den[share, item]) / n  # bars per decision of the best policy
        pref = (best - best.max()) * per_decision * UTILITY_SCALE / POOLED_TEMPERATURE
        head.items.copy_(torch.as_tensor(pref / head.scale, dtype=head.items.dtype))

    def _replace_advantages(
        self, buffer: Any, policy: Any, obs: torch.Tensor, g: torch.Tensor, s: torch.Tensor
    ) -> None:
        """PPO's advantages of the rollout's actions, exactly: ``u(taken) - sum_k pi(k) u(k)`` (full information
        needs no value estimate); the returns follow (advantage + value), so the critic learns the same utility."""
        with torch.no_grad():
            utility = (g - self.rho * s) * UTILITY_SCALE
            probs = torch.softmax(policy.get_distribution(obs).distribution.logits, dim=-1)
            taken = torch.as_tensor(np.asarray(buffer.actions, np.int64).reshape(-1))
            adv = utility[torch.arange(len(taken)), taken] - (probs * utility).sum(dim=-1)
        shape = buffer.advantages.shape
        buffer.advantages = adv.numpy().reshape(shape).astype(np.float32)
        buffer.returns = buffer.advantages + buffer.values

    def state(self) -> dict[str, Any]:
        return {"rho": self.rho}
