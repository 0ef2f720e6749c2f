"""Reward: the differential Sharpe ratio (or the log return) of net bar returns, minus a drawdown and a clip penalty.

Differential Sharpe ratio (Moody and Saffell 2001, "Learning to trade via direct reinforcement", IEEE TNN 12(4);
also Moody, Wu, Liao, Saffell 1998). With exponential moving moments of the net bar return ``R_t``::

    A_t = A_{t-1} + eta * (R_t - A_{t-1})
    B_t = B_{t-1} + eta * (R_t^2 - B_{t-1})
    D_t = (B_{t-1} * dA_t - 0.5 * A_{t-1} * dB_t) / (B_{t-1} - A_{t-1}^2)^(3/2)
    with dA_t = R_t - A_{t-1},  dB_t = R_t^2 - B_{t-1}

``D_t`` is the first-order effect of ``R_t`` on the exponentially weighted Sharpe ratio. Here the variance in the
denominator is floored at ``var_floor`` (a flat book has zero variance) and ``D_t`` is 0 during the first
``warmup_bars`` bars of an episode, while the moments settle.

The env's step reward has a base term, by ``RewardConfig.kind``:

* ``"dsr"``: the sum of ``D_t`` over the bars the step spans (net returns: commission and slippage included);
* ``"log_return"``: ``scale * log(equity_end / equity_start)`` of the step, the growth of the account net of
  costs. An edge earns a positive expected reward, a flat book exactly 0, and trading without edge a small
  negative one (the costs), whatever the recent history of the episode; summed over a fixed-length episode it is
  the episode's log growth.

and subtracts

* ``drawdown_penalty * max(0, dd_end - dd_start)``: new drawdown from the high-water mark made during the step;
* ``clip_penalty * (requested - approved) / max_position``: how much the risk layer had to cut the action;
* ``bar_cost * bars``: an opportunity cost per bar the step spans (a flat step spans 1 bar, a trade its
  decision bar to its exit). One env step is one *decision*, and PPO discounts per decision, not per bar: without
  this term a trade held 10 bars is paid for 10 bars of return at the price of one decision, so a long hold looks
  free, and the agent holds past the horizon of its edge. Subtracting ``rho`` per bar is the average-reward
  correction of semi-Markov decision processes (Das, Gosavi, Mahadevan and Marchalleck 1999, "Solving
  semi-Markov decision problems using average reward reinforcement learning", Management Science 45(4)): a
  decision is paid for the reward it earns above ``rho`` per bar of the time it uses, so with ``rho`` near the
  reward rate of a good policy, holding longer pays only while the position earns more than that rate. Over a
  fixed number of bars the term sums to a constant, so it does not change which episode is better. 0 (the
  default) turns it off.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from envs.risk import check_number_fields

REWARD_KINDS: tuple[str, ...] = ("dsr", "log_return")
"""The base terms a reward can have (:attr:`RewardConfig.kind`)."""


@dataclass(frozen=True)
class RewardConfig:
    """Reward hyper-parameters.

    Attributes:
        kind: Base term: ``"dsr"`` (differential Sharpe ratio) or ``"log_return"`` (scaled log equity growth).
        scale: Multiplier of the log return (``kind="log_return"``): 100 makes a 1% step a reward of 1.
        eta: Adaptation rate of the moving moments (memory of about 1 / eta bars). The moments also feed the
            observation's ``dsr_mean`` and ``dsr_dev`` slots, whatever the kind.
        warmup_bars: Bars at the start of an episode whose differential Sharpe is 0 (moments still update).
        var_floor: Floor of ``B - A^2`` (per-bar variance) in the denominator.
        drawdown_penalty: Weight of the new drawdown made during a step.
        clip_penalty: Weight of the share of the requested size that the risk layer cut.
        bar_cost: Opportunity cost per bar a step spans, in reward units (``rho`` of the module docstring; with
            ``kind="log_return"`` and ``scale=100``, 0.01 is a log growth of 1e-4 a bar, 2.5% a year); 0 is off.
    """

    kind: str = "dsr"
    scale: float = 100.0
    eta: float = 0.01
    warmup_bars: int = 20
    var_floor: float = 1e-6
    drawdown_penalty: float = 10.0
    clip_penalty: float = 0.1
    bar_cost: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in REWARD_KINDS:
            raise ValueError(f"RewardConfig.kind={self.kind!r} is not one of {list(REWARD_KINDS)}; e.g. 'dsr'")
        check_number_fields(self)
        if not self.scale > 0:
            raise ValueError(f"RewardConfig.scale={self.scale!r} must be > 0, e.g. 100")
        if not 0.0 < self.eta < 1.0:
            raise ValueError(f"RewardConfig.eta={self.eta!r} must be in (0, 1), e.g. 0.01")
        if self.var_floor <= 0:
            raise ValueError(f"RewardConfig.var_floor={self.var_floor!r} must be > 0, e.g. 1e-6")
        for name in ("warmup_bars", "drawdown_penalty", "clip_penalty", "bar_cost"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"RewardConfig.{name}={getattr(self, name)!r} must be >= 0, e.g. {getattr(RewardConfig, name)!r}"
                )

    def to_json(self) -> dict[str, float | int]:
        return asdict(self)


class DifferentialSharpe:
    """Running moments ``A``, ``B`` and the differential Sharpe ratio of each new return.

    Example:
        >>> dsr = DifferentialSharpe(RewardConfig(warmup_bars=0))
        >>> round(dsr.update(0.01), 3)  # first bar: A=B=0, variance at the floor
        0.0
    """

    __slots__ = ("A", "B", "_eta", "_floor", "_warmup", "n")

    def __init__(self, config: RewardConfig | None = None) -> None:
        cfg = config or RewardConfig()
        self._eta, self._floor, self._warmup = cfg.eta, cfg.var_floor, cfg.warmup_bars
        self.reset()

    def reset(self) -> None:
        self.A = 0.0
        self.B = 0.0
        self.n = 0

    def update(self, ret: float) -> float:
        """Add the net bar return ``ret`` and return its differential Sharpe ratio ``D_t``."""
        a, b = self.A, self.B
        d_a = ret - a
        d_b = ret * ret - b
        var = b - a * a
        d = 0.0
        if self.n >= self._warmup:
            d = (b * d_a - 0.5 * a * d_b) / (var if var > self._floor else self._floor) ** 1.5
        self.A = a + self._eta * d_a
        self.B = b + self._eta * d_b
        self.n += 1
        return d

    @property
    def deviation(self) -> float:
        """Running deviation ``sqrt(max(B - A^2, 0))`` of bar returns."""
        return math.sqrt(max(self.B - self.A * self.A, 0.0))


def step_penalties(
    config: RewardConfig, dd_start: float, dd_end: float, clipped: float, max_position: float, bars: int = 0
) -> tuple[float, float, float]:
    """The drawdown penalty, clip penalty and bar cost subtracted from a step's base reward (module docstring);
    ``bars`` is the number of bars the step spans."""
    return (
        config.drawdown_penalty * max(0.0, dd_end - dd_start),
        config.clip_penalty * clipped / max_position,
        config.bar_cost * bars,
    )


def step_penalty(
    config: RewardConfig, dd_start: float, dd_end: float, clipped: float, max_position: float, bars: int = 0
) -> float:
    """Sum of :func:`step_penalties`."""
    return sum(step_penalties(config, dd_start, dd_end, clipped, max_position, bars))
