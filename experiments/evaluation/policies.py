"""Policies the backtest drives: the :class:`Policy` protocol, :class:`SB3Policy` for any SB3 model, and
:func:`load_policy`, the one place a run's saved model becomes a policy (with its observation statistics).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import yaml

from agents.tier3.config import RECURRENT
from agents.tier3.obs_norm import ObsNormalizer


@runtime_checkable
class Policy(Protocol):
    """What a backtest drives: ``name`` and ``__call__(obs, info) -> action``; ``reset(seed)`` is optional.

    ``obs`` is the env's observation, shape ``(27,)`` laid out as :data:`~envs.layout.OBS_LAYOUT`; ``info`` the
    env's last info dict. The action has shape ``(4,)``, float32, in [-1, 1] (see :class:`~envs.layout.ActionMap`).
    A policy with a ``reset(seed: int | None)`` method is reset with the backtest's seed before the first step.
    """

    name: str

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray: ...


class SB3Policy:
    """Adapter of any Stable-Baselines3 model (PPO, A2C, SAC, TD3, RecurrentPPO) to the :class:`Policy` protocol.

    Args:
        model: An object with ``predict(obs, state=None, episode_start=None, deterministic=...) -> (action, state)``.
        deterministic: Use the mean action (evaluation) rather than a sample.
        name: Name of the policy in results and reports.
        normalizer: Frozen observation normalisation the model was trained behind
            (:class:`~agents.tier3.obs_norm.ObsNormalizer`), applied to every observation; None for none.
        recurrent: The model keeps a hidden state (RecurrentPPO): carried from step to step, reset by :meth:`reset`.

    Example:
        >>> policy = SB3Policy(PPO.load("runs/q/best/best_model.zip"))   # doctest: +SKIP
        >>> result = run_backtest(env, policy)                            # doctest: +SKIP
    """

    def __init__(
        self,
        model: Any,
        deterministic: bool = True,
        name: str = "ppo",
        *,
        normalizer: Callable[[np.ndarray], np.ndarray] | None = None,
        recurrent: bool = False,
    ) -> None:
        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"model must have a predict(obs, deterministic=...) method, got {type(model).__name__}")
        self.model, self.deterministic, self.name = model, bool(deterministic), str(name)
        self.normalizer, self.recurrent = normalizer, bool(recurrent)
        self._state: Any = None
        self._start = np.ones((1,), dtype=bool)
        self._discrete = type(getattr(model, "action_space", None)).__name__ == "Discrete"

    def reset(self, seed: int | None = None) -> None:
        """Forget the recurrent state (the model itself is not trained during a backtest)."""
        self._state, self._start = None, np.ones((1,), dtype=bool)

    def __call__(self, obs: np.ndarray, info: Mapping[str, Any]) -> np.ndarray:
        x = self.normalizer(obs) if self.normalizer is not None else obs
        if self.recurrent:
            action, self._state = self.model.predict(
                x, state=self._state, episode_start=self._start, deterministic=self.deterministic
            )
            self._start = np.zeros((1,), dtype=bool)
        else:
            action = self.model.predict(x, deterministic=self.deterministic)[0]
        if self._discrete:  # an item of the bracket menu (the env's MenuActionWrapper maps it)
            return np.asarray(action).reshape(()).astype(np.int64)  # type: ignore[no-any-return]
        return np.clip(np.asarray(action, dtype=np.float32).reshape(4), -1.0, 1.0)


def run_algo(model_path: Path) -> str:
    """The ``algo`` of the run a model file belongs to (its ``config.yaml`` one or two folders up), else ppo."""
    for folder in (Path(model_path).parent, Path(model_path).parent.parent):
        path = folder / "config.yaml"
        if path.exists():
            tree = yaml.safe_load(path.read_text()) or {}
            return str(tree.get("algo", "ppo")) if isinstance(tree, dict) else "ppo"
    return "ppo"


def load_model(path: Path, algo: str | None = None) -> Any:
    """Load a saved SB3 model on the CPU (``algo`` read from the run's config when not given); imports torch."""
    from agents.tier3.algos import load_model as load_algo

    return load_algo(algo or run_algo(path), path)


def load_policy(model_path: Path, name: str = "ppo", algo: str | None = None) -> SB3Policy:
    """The trained model at ``model_path`` as a deterministic backtest :class:`SB3Policy`.

    The one place a saved run's model becomes a policy: the backtest, walk-forward and export read models
    through it. It loads the model with its algorithm (``algo``, else the run's ``config.yaml``) and the frozen
    observation statistics saved beside it (``obs_norm.json``), if the run normalised observations.
    """
    model_path = Path(model_path)
    algo = algo or run_algo(model_path)
    return SB3Policy(
        load_model(model_path, algo),
        name=name,
        normalizer=ObsNormalizer.load_beside(model_path),
        recurrent=algo in RECURRENT,
    )
