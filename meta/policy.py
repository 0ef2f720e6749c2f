"""The Tier 4 policy: SB3's PPO ``MlpPolicy`` as a dict of tensors, evaluated with ``torch.func.functional_call``.

MAML (Finn, Abbeel, Levine 2017, https://arxiv.org/abs/1703.03400) differentiates through gradient steps on the
policy's parameters, so the parameters here are a plain ``dict[str, Tensor]`` (:data:`Params`), never the weights
of a module updated in place. The network is exactly the actor-critic that :func:`agents.tier3.ppo.make_ppo` builds
(SB3 ``ActorCriticPolicy``, ``MlpPolicy``, ``net_arch={"pi": [64, 64], "vf": [64, 64]}``, tanh activations,
``FlattenExtractor`` without parameters, a state-independent ``log_std`` initialised at
``PPOConfig.log_std_init = -0.5``), and its keys are the keys of that policy's ``state_dict``::

    mlp_extractor.policy_net.0.weight  (64, 27)     mlp_extractor.value_net.0.weight  (64, 27)
    mlp_extractor.policy_net.0.bias    (64,)        mlp_extractor.value_net.0.bias    (64,)
    mlp_extractor.policy_net.2.weight  (64, 64)     mlp_extractor.value_net.2.weight  (64, 64)
    mlp_extractor.policy_net.2.bias    (64,)        mlp_extractor.value_net.2.bias    (64,)
    action_net.weight                  (4, 64)      value_net.weight                  (1, 64)
    action_net.bias                    (4,)         value_net.bias                    (1,)
    log_std                            (4,)

so a meta-learned initialisation loads into an SB3 PPO policy with :func:`load_into_sb3` and fine-tunes there,
and a (pre)trained PPO policy becomes an initialisation with :func:`params_from_sb3`.

The policy is SB3's diagonal Gaussian: ``a ~ N(mu(s), diag(exp(log_std))^2)`` with ``mu`` the actor's output
(unsquashed; the env clips actions to ``[-1, 1]``) and ``log p(a|s)`` summed over the 4 action dimensions. The
architecture is read from the shapes of the dict, so the same functions evaluate the small float64 networks of
the gradient checks in the tests.

Example:
    >>> params = init_params(0)
    >>> dist = action_distribution(params, torch.zeros(2, 27))
    >>> dist.mean.shape, value(params, torch.zeros(2, 27)).shape
    (torch.Size([2, 4]), torch.Size([2]))
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn
from torch.distributions import Independent, Normal
from torch.func import functional_call

from envs.layout import OBS_LAYOUT

Params = dict[str, torch.Tensor]
"""Policy parameters by SB3 ``state_dict`` key (see the module docstring)."""

OBS_DIM = OBS_LAYOUT.size
"""Observation size (27, :data:`envs.layout.OBS_LAYOUT`)."""
ACT_DIM = 4
"""Action size: size, hold, stop, target in ``Box(-1, 1)``."""
NET_ARCH: tuple[int, ...] = (64, 64)
"""Hidden layers of the actor and of the critic (``agents.tier3.ppo.PPOConfig.net_arch``)."""
LOG_STD_INIT = -0.5
"""Initial log standard deviation (``agents.tier3.ppo.PPOConfig.log_std_init``)."""

_GAINS = {"mlp_extractor": math.sqrt(2.0), "action_net": 0.01, "value_net": 1.0}
"""SB3's orthogonal-initialisation gains (``ActorCriticPolicy._build`` with ``ortho_init=True``)."""


class ActorCritic(nn.Module):
    """The module twin of SB3's ``ActorCriticPolicy`` with an ``MlpPolicy``: same submodule names, same forward.

    Built on the ``meta`` device by :func:`twin` (it only provides the structure: every call goes through
    :func:`torch.func.functional_call` with a :data:`Params` dict).

    Args:
        obs_dim: Observation size.
        act_dim: Action size.
        pi_arch: Hidden sizes of the actor.
        vf_arch: Hidden sizes of the critic.
        device: Device of the placeholder parameters.
    """

    def __init__(
        self,
        obs_dim: int = OBS_DIM,
        act_dim: int = ACT_DIM,
        pi_arch: Sequence[int] = NET_ARCH,
        vf_arch: Sequence[int] = NET_ARCH,
        device: str | torch.device = "cpu",
    ) -> None:
        super().__init__()
        self.mlp_extractor = MlpExtractor(obs_dim, pi_arch, vf_arch, device)
        self.action_net = nn.Linear(pi_arch[-1] if pi_arch else obs_dim, act_dim, device=device)
        self.value_net = nn.Linear(vf_arch[-1] if vf_arch else obs_dim, 1, device=device)
        self.log_std = nn.Parameter(torch.zeros(act_dim, device=device))

    def forward(self, obs: torch.Tensor, part: str = "actor") -> torch.Tensor:
        """The actor's mean action ``(B, act_dim)`` (``part="actor"``) or the critic's value ``(B,)``
        (``part="critic"``) of observations ``(B, obs_dim)``."""
        if part == "actor":
            return self.action_net(self.mlp_extractor.policy_net(obs))  # type: ignore[no-any-return]
        if part == "critic":
            return self.value_net(self.mlp_extractor.value_net(obs)).squeeze(-1)
        raise ValueError(f"part={part!r}; choose 'actor' or 'critic'")


class MlpExtractor(nn.Module):
    """SB3's ``MlpExtractor`` without a shared trunk: ``policy_net`` and ``value_net``, Linear-Tanh pairs."""

    def __init__(
        self, obs_dim: int, pi_arch: Sequence[int], vf_arch: Sequence[int], device: str | torch.device
    ) -> None:
        super().__init__()
        self.policy_net = _mlp(obs_dim, pi_arch, device)
        self.value_net = _mlp(obs_dim, vf_arch, device)


def _mlp(obs_dim: int, arch: Sequence[int], device: str | torch.device) -> nn.Sequential:
    layers: list[nn.Module] = []
    last = obs_dim
    for width in arch:
        layers += [nn.Linear(last, width, device=device), nn.Tanh()]
        last = width
    return nn.Sequential(*layers)


def architecture(params: Mapping[str, torch.Tensor]) -> tuple[int, int, tuple[int, ...], tuple[int, ...]]:
    """``(obs_dim, act_dim, pi_arch, vf_arch)`` read from the shapes of ``params``.

    Raises:
        KeyError: A key of the SB3 policy is missing (the message names it).
    """
    for key in ("action_net.weight", "value_net.weight", "log_std"):
        if key not in params:
            raise KeyError(f"params has no {key!r}; expected the keys of an SB3 MlpPolicy state_dict: {sorted(params)}")

    def hidden(net: str) -> tuple[int, ...]:
        widths, i = [], 0
        while f"mlp_extractor.{net}.{i}.weight" in params:
            widths.append(int(params[f"mlp_extractor.{net}.{i}.weight"].shape[0]))
            i += 2  # Linear, Tanh, Linear, Tanh, ...
        return tuple(widths)

    pi, vf = hidden("policy_net"), hidden("value_net")
    first = params["mlp_extractor.policy_net.0.weight"] if pi else params["action_net.weight"]
    return int(first.shape[1]), int(params["action_net.weight"].shape[0]), pi, vf


@functools.lru_cache(maxsize=32)
def _cached_twin(obs_dim: int, act_dim: int, pi: tuple[int, ...], vf: tuple[int, ...], thread: int) -> ActorCritic:
    del thread  # part of the key only: functional_call swaps a module's tensors during a call
    return ActorCritic(obs_dim, act_dim, pi, vf, device="meta")


def twin(params: Mapping[str, torch.Tensor]) -> ActorCritic:
    """The (cached, per-thread) placeholder module of the architecture of ``params``, on the ``meta`` device."""
    obs_dim, act_dim, pi, vf = architecture(params)
    return _cached_twin(obs_dim, act_dim, pi, vf, threading.get_ident())


def init_params(
    seed: int,
    *,
    obs_dim: int = OBS_DIM,
    act_dim: int = ACT_DIM,
    net_arch: Sequence[int] = NET_ARCH,
    log_std_init: float = LOG_STD_INIT,
    dtype: torch.dtype = torch.float32,
) -> Params:
    """Fresh parameters initialised as SB3 initialises a PPO policy, from a seed (the global RNG is untouched).

    Orthogonal weights with SB3's gains (sqrt 2 for the hidden layers, 0.01 for ``action_net``, 1 for
    ``value_net``), zero biases, ``log_std = log_std_init``. The distribution matches SB3's; the draws are this
    function's own (SB3 consumes its RNG differently).

    Args:
        seed: Seed of the draws.
        obs_dim: Observation size (27 for the env).
        act_dim: Action size (4 for the env).
        net_arch: Hidden sizes of the actor and of the critic.
        log_std_init: Initial log standard deviation.
        dtype: Floating dtype of the tensors (float64 for gradient checks).

    Returns:
        A :data:`Params` dict of leaf tensors that do not require grad.
    """
    gen = torch.Generator().manual_seed(int(seed))
    module = ActorCritic(obs_dim, act_dim, tuple(net_arch), tuple(net_arch))
    params: Params = {}
    for key, tensor in module.state_dict().items():
        out = torch.zeros(tensor.shape, dtype=dtype)
        if key == "log_std":
            out.fill_(float(log_std_init))
        elif key.endswith("weight"):
            nn.init.orthogonal_(out, gain=_GAINS[key.split(".")[0]], generator=gen)
        params[key] = out
    return params


def _sb3_policy(model: Any) -> Any:
    """The ``ActorCriticPolicy`` of an SB3 algorithm (or the policy itself), checked to be the architecture here."""
    policy: Any = getattr(model, "policy", model)
    if not (hasattr(policy, "mlp_extractor") and hasattr(policy, "action_dist") and hasattr(policy, "state_dict")):
        raise TypeError(f"expected an SB3 PPO model or its ActorCriticPolicy, got {type(model).__name__}")
    problems = []
    if getattr(policy, "activation_fn", nn.Tanh) is not nn.Tanh:
        problems.append(f"activation_fn={policy.activation_fn.__name__} (Tanh expected)")
    if getattr(policy, "use_sde", False):
        problems.append("use_sde=True (a state-independent log_std expected)")
    if type(policy.action_dist).__name__ != "DiagGaussianDistribution":
        problems.append(f"action distribution {type(policy.action_dist).__name__} (DiagGaussianDistribution expected)")
    if any(p.numel() for p in policy.features_extractor.parameters()):
        problems.append("a features extractor with parameters (FlattenExtractor expected)")
    if problems:
        raise ValueError(f"the SB3 policy is not an MlpPolicy of agents.tier3.ppo: {'; '.join(problems)}")
    return policy


def params_from_sb3(model: Any) -> Params:
    """The parameters of an SB3 PPO model (or policy) as a detached :data:`Params` copy.

    Raises:
        TypeError: ``model`` is neither an SB3 model nor an ``ActorCriticPolicy``.
        ValueError: Another architecture (activation, gSDE, distribution, features extractor).
    """
    policy = _sb3_policy(model)
    return {key: tensor.detach().clone() for key, tensor in policy.state_dict().items()}


def load_into_sb3(params: Mapping[str, torch.Tensor], model: Any) -> Any:
    """Copy ``params`` into the policy of an SB3 PPO model in place (its ``Parameter`` objects, so its optimiser
    keeps working); returns ``model``.

    Raises:
        ValueError: Keys or shapes differ from the model's policy (the message names them): build the model with
            :func:`agents.tier3.ppo.make_ppo` and the same ``net_arch``.
    """
    policy = _sb3_policy(model)
    target = policy.state_dict()
    missing, extra = sorted(set(target) - set(params)), sorted(set(params) - set(target))
    wrong = [k for k in target if k in params and tuple(params[k].shape) != tuple(target[k].shape)]
    if missing or extra or wrong:
        shapes = {k: (tuple(params[k].shape), tuple(target[k].shape)) for k in wrong}
        raise ValueError(
            f"params do not fit this SB3 policy: missing {missing}, unexpected {extra}, shapes (given, policy) "
            f"{shapes}; build the model with agents.tier3.ppo.make_ppo and the same net_arch"
        )
    with torch.no_grad():
        for key, tensor in target.items():
            tensor.copy_(params[key].detach().to(dtype=tensor.dtype, device=tensor.device))
    return model


def _obs(params: Mapping[str, torch.Tensor], obs: Any) -> torch.Tensor:
    """``obs`` as a 2-D tensor of the parameters' dtype."""
    dtype = params["log_std"].dtype
    x = torch.as_tensor(obs, dtype=dtype)
    return x.unsqueeze(0) if x.dim() == 1 else x


def action_distribution(params: Mapping[str, torch.Tensor], obs: Any) -> Independent:
    """The Gaussian policy at ``obs``: ``N(mu(s), diag(exp(log_std))^2)``, batch ``(B,)``, event ``(act_dim,)``.

    Args:
        params: Policy parameters.
        obs: Observations, shape ``(B, obs_dim)`` or ``(obs_dim,)`` (a batch of one).

    Returns:
        ``torch.distributions.Independent`` over a ``Normal``: ``.mean`` is SB3's deterministic action (before
        the env's clipping), ``.log_prob(a)`` is SB3's log-probability (summed over action dimensions).
    """
    x = _obs(params, obs)
    mean: torch.Tensor = functional_call(twin(params), dict(params), (x,), {"part": "actor"})
    std = torch.ones_like(mean) * params["log_std"].exp()
    return Independent(Normal(mean, std), 1)


def log_prob(params: Mapping[str, torch.Tensor], obs: Any, actions: Any) -> torch.Tensor:
    """``log pi(a|s)``, shape ``(B,)``, for actions ``(B, act_dim)`` as sampled (unclipped)."""
    dist = action_distribution(params, obs)
    return dist.log_prob(torch.as_tensor(actions, dtype=dist.mean.dtype))


def value(params: Mapping[str, torch.Tensor], obs: Any) -> torch.Tensor:
    """The critic ``V(s)``, shape ``(B,)``."""
    v: torch.Tensor = functional_call(twin(params), dict(params), (_obs(params, obs),), {"part": "critic"})
    return v


def detach(params: Mapping[str, torch.Tensor]) -> Params:
    """A copy of ``params`` cut from any autograd graph."""
    return {key: tensor.detach().clone() for key, tensor in params.items()}
