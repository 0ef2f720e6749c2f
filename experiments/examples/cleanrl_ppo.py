"""PPO on ``tradebrain/TradingBrainStack-v2`` in plain PyTorch, CleanRL style: no Stable-Baselines3.

What a researcher with CleanRL, RLlib, TorchRL or Tianshou starts from: the Tier 1 + Tier 2 stack comes out of
``gym.make_vec`` like any Gymnasium env, and the rest is one file read top to bottom (after CleanRL's
``ppo_continuous_action.py``): a Gaussian policy with a state-independent log standard deviation, a value
network, GAE, and the clipped surrogate objective of PPO (Schulman et al. 2017, https://arxiv.org/abs/1707.06347).

Usage::

    python -m experiments.examples.cleanrl_ppo                                  # 20k steps, 4 async envs
    python -m experiments.examples.cleanrl_ppo --total-steps 512 --num-envs 2 --num-steps 64 --mode sync

One step is one trade decision; the episode return is the sum of the differential Sharpe rewards. Episodes end
by truncation (end of a random-start training episode) far more often than by termination (a risk halt); a
truncated step is bootstrapped with the value of its final observation, a terminated one is not.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Normal

import envs  # noqa: F401  (registers tradebrain/TradingBrainStack-v2)


@dataclass
class Args:
    """Settings; every field is a command-line flag (``total_steps`` is ``--total-steps``)."""

    seed: int = 0
    total_steps: int = 20_000
    """Env steps over all envs."""
    num_envs: int = 4
    num_steps: int = 128
    """Steps per env per rollout."""
    mode: str = "async"
    """``gym.make_vec`` vectorization mode: ``async`` (one process per env) or ``sync``."""
    lr: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    epochs: int = 4
    minibatches: int = 4
    clip: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    train: tuple[str, str] = ("2002-01-01", "2013-01-01")
    """Training window of the stack."""
    tier2_restarts: int = 3


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in vars(Args()).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, tuple):
            parser.add_argument(flag, nargs=2, default=default, metavar=("START", "STOP"))
        else:
            parser.add_argument(flag, type=type(default), default=default)
    ns = parser.parse_args(argv)
    return Args(**{**vars(ns), "train": tuple(ns.train)})


def layer(n_in: int, n_out: int, std: float = np.sqrt(2)) -> nn.Linear:
    linear = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(linear.weight, std)
    nn.init.zeros_(linear.bias)
    return linear


class Agent(nn.Module):
    """Actor ``N(mu(s), exp(log_std))`` and critic ``V(s)``, each a 64x64 tanh MLP."""

    def __init__(self, n_obs: int, n_act: int) -> None:
        super().__init__()
        self.critic = nn.Sequential(layer(n_obs, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, 1, 1.0))
        self.actor = nn.Sequential(layer(n_obs, 64), nn.Tanh(), layer(64, 64), nn.Tanh(), layer(64, n_act, 0.01))
        self.log_std = nn.Parameter(torch.full((n_act,), -0.5))

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)

    def act(self, obs: torch.Tensor, action: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        """``(action, log_prob(action), entropy, value)``; samples an action when none is given."""
        dist = Normal(self.actor(obs), self.log_std.exp())
        action = dist.sample() if action is None else action
        return action, dist.log_prob(action).sum(-1), dist.entropy().sum(-1), self.value(obs)


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    """Train; returns the log: per update the global step, mean finished-episode return, and the losses."""
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(1)

    # 1. The env: the same stack as `tradebrain train`, from keywords.
    vec = gym.make_vec(
        "tradebrain/TradingBrainStack-v2",
        num_envs=args.num_envs,
        vectorization_mode=args.mode,
        vector_kwargs={"autoreset_mode": gym.vector.AutoresetMode.SAME_STEP},
        split="train",
        train=args.train,
        tier2_restarts=args.tier2_restarts,
    )
    n_obs, n_act = vec.single_observation_space.shape[0], vec.single_action_space.shape[0]
    agent = Agent(n_obs, n_act)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.lr, eps=1e-5)

    # 2. Rollout storage, (num_steps, num_envs, ...).
    shape = (args.num_steps, args.num_envs)
    obs_buf = torch.zeros((*shape, n_obs))
    act_buf = torch.zeros((*shape, n_act))
    logp_buf, rew_buf, done_buf, val_buf = (torch.zeros(shape) for _ in range(4))

    log: dict[str, list[float]] = {"step": [], "episode_return": [], "policy_loss": [], "value_loss": []}
    obs_np, _ = vec.reset(seed=args.seed)
    obs = torch.as_tensor(obs_np)
    returns_now, finished = np.zeros(args.num_envs), []
    global_step, t0 = 0, time.perf_counter()
    updates = max(1, args.total_steps // (args.num_steps * args.num_envs))
    for _ in range(updates):
        # 3. Collect a rollout.
        for t in range(args.num_steps):
            with torch.no_grad():
                action, logp, _, value = agent.act(obs)
            obs_np, reward, terminated, truncated, info = vec.step(action.clamp(-1.0, 1.0).numpy())
            reward = reward.astype(np.float32)
            for i in np.flatnonzero(truncated & ~terminated):  # bootstrap a cut episode with V(final obs)
                with torch.no_grad():
                    final = torch.as_tensor(info["final_obs"][i], dtype=torch.float32)
                    reward[i] += args.gamma * agent.value(final).item()
            obs_buf[t], act_buf[t], logp_buf[t], val_buf[t] = obs, action, logp, value
            rew_buf[t], done_buf[t] = torch.as_tensor(reward), torch.as_tensor(terminated | truncated)
            returns_now += reward
            for i in np.flatnonzero(terminated | truncated):
                finished.append(returns_now[i])
                returns_now[i] = 0.0
            obs = torch.as_tensor(obs_np)
            global_step += args.num_envs

        # 4. Generalised advantage estimation (done_buf[t] = the episode ended at step t).
        with torch.no_grad():
            next_value = agent.value(obs)
        adv = torch.zeros(shape)
        gae = torch.zeros(args.num_envs)
        for t in reversed(range(args.num_steps)):
            nxt = next_value if t == args.num_steps - 1 else val_buf[t + 1]
            live = 1.0 - done_buf[t]
            delta = rew_buf[t] + args.gamma * nxt * live - val_buf[t]
            gae = delta + args.gamma * args.gae_lambda * live * gae
            adv[t] = gae
        ret = adv + val_buf

        # 5. PPO epochs over shuffled minibatches.
        b_obs, b_act = obs_buf.reshape(-1, n_obs), act_buf.reshape(-1, n_act)
        b_logp, b_adv, b_ret = logp_buf.reshape(-1), adv.reshape(-1), ret.reshape(-1)
        batch = b_obs.shape[0]
        size = max(1, batch // args.minibatches)
        for _ in range(args.epochs):
            for idx in torch.randperm(batch).split(size):
                _, logp, entropy, value = agent.act(b_obs[idx], b_act[idx])
                ratio = (logp - b_logp[idx]).exp()
                a = (b_adv[idx] - b_adv[idx].mean()) / (b_adv[idx].std() + 1e-8)
                policy_loss = torch.max(-a * ratio, -a * ratio.clamp(1 - args.clip, 1 + args.clip)).mean()
                value_loss = 0.5 * (value - b_ret[idx]).pow(2).mean()
                loss = policy_loss - args.ent_coef * entropy.mean() + args.vf_coef * value_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        log["step"].append(global_step)
        log["episode_return"].append(float(np.mean(finished[-20:])) if finished else float("nan"))
        log["policy_loss"].append(policy_loss.item())
        log["value_loss"].append(value_loss.item())
        print(
            f"step {global_step:>7}  return(last 20 episodes) {log['episode_return'][-1]:8.3f}  "
            f"value loss {value_loss.item():.4f}  {global_step / (time.perf_counter() - t0):.0f} steps/s"
        )
    vec.close()
    return log


if __name__ == "__main__":
    main()
