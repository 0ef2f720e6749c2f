"""Vectorised stacks for SB3: :func:`make_vec_env` builds ``n`` copies of the Tier 1 + Tier 2 stack as the batched
core (:class:`agents.batch.StackVecEnv`, the default), SB3's ``DummyVecEnv`` or its ``SubprocVecEnv``.

The three kinds give the same observations, rewards and episode ends for the same seed and actions
(``tests/agents/test_vec_env.py``); the batched one steps every copy in one compiled call.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import gymnasium as gym

from agents.batch import StackVecEnv
from agents.config import VEC_ENVS, Split, StackConfig
from agents.stack import fit_detector, make_env
from envs.data import load

if TYPE_CHECKING:
    from stable_baselines3.common.vec_env import VecEnv

__all__ = ["make_vec_env", "subproc_start_method"]


def subproc_start_method() -> str:
    """``"fork"`` when this process runs a single Python thread and ``fork`` exists, else ``"forkserver"``.

    A forked worker inherits every lock of this process in the state it was in. With one Python thread no
    other thread can hold the import lock or a lock of a logging handler, a TensorBoard writer or a progress bar;
    the native thread pools already running after ``import numpy``/``torch`` (OpenBLAS, jemalloc, OpenMP)
    register fork handlers, and the workers only step envs (numpy; no torch op, no OpenMP). Forking then costs
    under a second for 4 workers, while ``forkserver`` and ``spawn`` workers import SB3 and torch afresh (SB3's
    worker loop lives there): about 19 s for 4 workers on a shared 2-core machine. ``forkserver`` (SB3's own
    default) is the fallback once another thread runs (a progress bar, a TensorBoard writer, a server).
    """
    import multiprocessing

    if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "forkserver"


def make_vec_env(
    cfg: StackConfig,
    n_envs: int,
    seed: int,
    split: Split = "train",
    vec_env: str = "batched",
    start_method: str | None = None,
) -> VecEnv:
    """``n_envs`` copies of the stack in an SB3 VecEnv with a VecMonitor, seeded ``seed, seed + 1, ...``.

    The data is loaded and the detector fitted (or taken from the cache) once, in this process, and shared by all
    copies: with ``vec_env="subproc"`` each worker receives them pickled with its env function (about 0.3 MB for
    the S&P 500 data, 1 kB for the detector) and builds its env from them, so no worker refits. The same seed
    and actions give the same observations, rewards and episode ends with either kind (SB3 hands the rewards
    over as float32 from ``DummyVecEnv`` and as float64 from ``SubprocVecEnv``; PPO stores them as float32).

    Args:
        cfg: The stack's config.
        n_envs: Env copies.
        seed: Seed of the first copy; copy ``i`` gets ``seed + i``.
        split: Window of the copies.
        vec_env: ``"batched"`` (:class:`agents.batch.StackVecEnv`: every copy in one compiled call, in this process),
            ``"dummy"`` (SB3's ``DummyVecEnv``: the copies step in turn in this process) or ``"subproc"``
            (``SubprocVecEnv``: one worker process per copy, stepping in parallel; the policy still runs here).
        start_method: Start method of the ``subproc`` workers; default :func:`subproc_start_method`: ``fork``
            when this process runs no other Python thread, else ``forkserver``.

    Raises:
        ValueError: ``n_envs`` below 1 or an unknown ``vec_env``.
    """
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    if n_envs < 1:
        raise ValueError(f"n_envs={n_envs!r} must be >= 1")
    if vec_env not in VEC_ENVS:
        raise ValueError(f"vec_env={vec_env!r} is not one of {list(VEC_ENVS)}; e.g. 'dummy'")
    data = load(cfg.data)
    detector = fit_detector(cfg, data, split, cache=True) if cfg.tiers.tier2 else None
    if vec_env == "batched":
        return VecMonitor(StackVecEnv(cfg, n_envs, seed, split, data=data, detector=detector))
    env_fns: list[Callable[[], gym.Env]] = [
        functools.partial(make_env, cfg, split, data=data, detector=detector) for _ in range(n_envs)
    ]
    if vec_env == "subproc":
        venv: VecEnv = SubprocVecEnv(env_fns, start_method=start_method or subproc_start_method())
    else:
        venv = DummyVecEnv(env_fns)
    venv.seed(seed)
    return VecMonitor(venv)
