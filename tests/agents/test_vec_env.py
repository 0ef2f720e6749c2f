"""``make_vec_env(vec_env="dummy" | "subproc")`` and ``train.vec_env``; the CleanRL-style example."""

from __future__ import annotations

import copy
import threading

import numpy as np
import pytest
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

from agents.vec import make_vec_env, subproc_start_method
from tests.agents.small import SMALL


def _run(venv, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    obs = [venv.reset()]
    rewards, dones = [], []
    for _ in range(n):
        o, r, d, _ = venv.step(rng.uniform(-1, 1, (venv.num_envs, 4)).astype(np.float32))
        obs.append(o)
        rewards.append(r)
        dones.append(d)
    venv.close()
    return np.array(obs), np.array(rewards), np.array(dones)


@pytest.mark.parametrize("start_method", [None, "forkserver"])
def test_subproc_gives_the_dummy_steps_for_the_same_seed_and_actions(start_method):
    dummy = make_vec_env(SMALL, n_envs=2, seed=4, vec_env="dummy")
    sub = make_vec_env(SMALL, n_envs=2, seed=4, vec_env="subproc", start_method=start_method)
    assert isinstance(dummy.venv, DummyVecEnv) and isinstance(sub.venv, SubprocVecEnv)
    n = 300 if start_method is None else 40
    (od, rd, dd), (os_, rs, ds) = _run(dummy, n), _run(sub, n)
    assert od.shape == (n + 1, 2, 27) and rd.shape == dd.shape == (n, 2)
    assert dd.sum() >= 2  # episodes ended (and auto-reset) along the way
    np.testing.assert_array_equal(od, os_)
    np.testing.assert_array_equal(dd, ds)
    # SB3's DummyVecEnv keeps rewards in a float32 buffer, SubprocVecEnv stacks the envs' float64 rewards: the
    # same numbers, rounded alike by PPO's float32 rollout buffer.
    assert (rd.dtype, rs.dtype) == (np.float32, np.float64)
    np.testing.assert_array_equal(rd, rs.astype(np.float32))


def test_batched_gives_the_dummy_steps_for_the_same_seed_and_actions():
    dummy = make_vec_env(SMALL, n_envs=3, seed=4, vec_env="dummy")
    batched = make_vec_env(SMALL, n_envs=3, seed=4)
    assert type(batched.venv).__name__ == "StackVecEnv"
    (od, rd, dd), (ob, rb, db) = _run(dummy, 300), _run(batched, 300)
    assert dd.sum() >= 2
    np.testing.assert_array_equal(od, ob)
    np.testing.assert_array_equal(dd, db)
    assert rd.dtype == rb.dtype == np.float32
    np.testing.assert_array_equal(rd, rb)


def test_unknown_vec_env_is_a_value_error():
    with pytest.raises(ValueError, match=r"vec_env='thread' is not one of \['batched', 'dummy', 'subproc'\]"):
        make_vec_env(SMALL, n_envs=2, seed=0, vec_env="thread")


def test_fork_only_while_a_single_python_thread_runs():
    # earlier tests of the session may have left a thread running (SB3's TensorBoard writer)
    assert subproc_start_method() == ("fork" if threading.active_count() == 1 else "forkserver")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert subproc_start_method() == "forkserver"
    finally:
        stop.set()
        other.join()


TINY = {
    "name": "tiny",
    "seed": 0,
    "stack": {
        "data": "synthetic:planted_edge",
        "train": ["1993-01-01", "1996-01-01"],
        "val": ["1996-01-01", "1996-07-01"],
        "test": ["1996-07-01", "1997-01-01"],
        "tiers": {"tier1": True, "tier2": True, "tier2_restarts": 1},
    },
    "ppo": {"n_steps": 64, "batch_size": 64, "n_epochs": 1},
    "train": {"total_timesteps": 256, "n_envs": 2, "eval_freq": 0, "checkpoint_freq": 0},
}


def test_training_with_subproc_envs_gives_the_dummy_model(tmp_path):
    import torch

    from experiments.config import load_config
    from experiments.evaluation.policies import load_model
    from experiments.training.train import train, train_env

    def run(kind: str):
        cfg = load_config({**copy.deepcopy(TINY), "runs_dir": str(tmp_path / kind)}, [f"train.vec_env={kind}"])
        venv = train_env(cfg)
        assert isinstance(venv.venv, SubprocVecEnv if kind == "subproc" else DummyVecEnv)
        venv.close()
        return train(cfg, progress=False)

    sub = run("subproc")  # first: a finished training leaves SB3's TensorBoard writer thread, so forkserver next
    dummy = run("dummy")
    a, b = load_model(dummy.model_path, "ppo"), load_model(sub.model_path, "ppo")
    assert a.num_timesteps == b.num_timesteps == 256
    for (name, pa), pb in zip(a.policy.state_dict().items(), b.policy.state_dict().values(), strict=True):
        assert torch.equal(pa, pb), name


def test_cleanrl_example_trains_on_the_registered_stack():
    from experiments.examples import cleanrl_ppo

    argv = ["--total-steps", "256", "--num-envs", "2", "--num-steps", "64", "--epochs", "2"]
    argv += ["--train", "2004-01-01", "2008-01-01", "--tier2-restarts", "1"]
    log = cleanrl_ppo.main([*argv, "--mode", "async"])
    assert log["step"] == [128, 256]
    assert all(np.isfinite(log["policy_loss"])) and all(np.isfinite(log["value_loss"]))
    assert log == cleanrl_ppo.main([*argv, "--mode", "sync"])  # same seed: async workers give the same run
