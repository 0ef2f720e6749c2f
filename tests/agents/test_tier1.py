"""Tests of the Tier 1 component bandit and its gymnasium wrapper."""

from __future__ import annotations

import json
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.tier1 import ComponentBandit, ComponentWeightWrapper, prob_best, project_capped_simplex
from envs.layout import COMPONENTS, OBS_LAYOUT, REGIMES

TIER1 = OBS_LAYOUT.group_slice("tier1")


def _random_scores(rng: np.random.Generator, ret: float, right: int | None = None) -> np.ndarray:
    """Scores in [-1, -0.05] U [0.05, 1]; component ``right`` (if any) has the sign of ``ret``."""
    s = rng.uniform(0.05, 1.0, 4) * rng.choice([-1.0, 1.0], 4)
    if right is not None:
        s[right] = abs(s[right]) * np.sign(ret)
    return s


def _feed(bandit: ComponentBandit, n: int, right: int, rng: np.random.Generator, regime: str | None = None) -> None:
    for _ in range(n):
        ret = float(rng.choice([-0.01, 0.01]))
        bandit.update(_random_scores(rng, ret, right), ret, regime)


# ---------------------------------------------------------------------------------------------- invariants
history = st.lists(
    st.tuples(
        st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4),
        st.floats(-0.2, 0.2),
        st.sampled_from([None, *REGIMES]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    trades=history,
    gamma=st.floats(0.5, 1.0),
    floor=st.floats(0.0, 0.25),
    cap=st.floats(0.25, 1.0),
    shrink=st.floats(0.0, 1.0),
    per_regime=st.booleans(),
)
def test_weights_sum_to_one_within_floor_and_cap(trades, gamma, floor, cap, shrink, per_regime):
    bandit = ComponentBandit(gamma=gamma, floor=floor, cap=cap, shrink=shrink, per_regime=per_regime)
    for scores, ret, regime in trades:
        bandit.update(scores, ret, regime)
    for regime in (None, *REGIMES):
        w = bandit.weights(regime)
        assert w.shape == (4,)
        assert abs(w.sum() - 1.0) < 1e-9
        assert w.min() >= floor - 1e-12
        assert w.max() <= cap + 1e-12


@settings(max_examples=200, deadline=None)
@given(
    v=st.lists(st.floats(-5.0, 5.0), min_size=4, max_size=4),
    floor=st.floats(0.0, 0.25),
    cap=st.floats(0.25, 1.0),
)
def test_projection_lands_in_the_capped_simplex_and_keeps_order(v, floor, cap):
    v = np.array(v)
    w = project_capped_simplex(v, floor, cap)
    assert abs(w.sum() - 1.0) < 1e-9
    assert w.min() >= floor and w.max() <= cap
    order = np.argsort(v, kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-12)


def test_projection_matches_hand_worked_values():
    np.testing.assert_allclose(
        project_capped_simplex(np.array([3.0, -1.0, 0.2, 0.1]), 0.05, 0.7), [0.7, 0.05, 0.175, 0.075]
    )
    np.testing.assert_allclose(
        project_capped_simplex(np.array([0.925, 0.025, 0.025, 0.025]), 0.05, 0.7), [0.7, 0.1, 0.1, 0.1]
    )


# ---------------------------------------------------------------------------------------------- learning
def test_uniform_before_data_and_under_equal_posteriors():
    bandit = ComponentBandit()
    assert bandit.weights().tolist() == [0.25] * 4
    for ret in (0.02, -0.01, 0.03):  # every component right every time: posteriors stay equal
        bandit.update(np.full(4, np.sign(ret) * 0.5), ret)
    assert bandit.n_trades_[-1] == 3
    assert bandit.alpha_[-1, 0] > 1.0
    assert bandit.weights().tolist() == [0.25] * 4


def test_weight_moves_toward_the_component_that_is_always_right():
    rng = np.random.default_rng(0)
    bandit = ComponentBandit()
    ai = COMPONENTS.index("ai")
    start = bandit.weights()[ai]
    path = []
    for _ in range(50):
        _feed(bandit, 1, ai, rng)
        path.append(bandit.weights()[ai])
    assert path[-1] > start
    assert np.mean(path[-10:]) > np.mean(path[:10])
    assert int(np.argmax(bandit.weights())) == ai
    assert bandit.weights()[ai] == pytest.approx(0.7)  # at the cap


def _trades_to_overtake(gamma: float, seed: int) -> int:
    rng = np.random.default_rng(seed)
    bandit = ComponentBandit(gamma=gamma)
    _feed(bandit, 100, 0, rng)
    for t in range(1, 400):
        _feed(bandit, 1, 3, rng)
        w = bandit.weights()
        if w[3] > w[0]:
            return t
    return 400


def test_discount_lets_the_new_best_overtake_sooner_after_a_switch():
    fast = [_trades_to_overtake(0.97, seed) for seed in range(3)]
    slow = [_trades_to_overtake(1.0, seed) for seed in range(3)]
    assert max(fast) < min(slow)
    assert max(fast) < 40


def test_gamma_one_is_plain_counting_and_decay_goes_toward_the_prior():
    counting = ComponentBandit(gamma=1.0, prior=(2.0, 3.0))
    for _ in range(7):
        counting.update([0.5, -0.5, 0.5, -0.5], 0.01)
    assert counting.alpha_[-1].tolist() == [9.0, 2.0, 9.0, 2.0]
    assert counting.beta_[-1].tolist() == [3.0, 10.0, 3.0, 10.0]
    half = ComponentBandit(gamma=0.5)
    half.update([0.5, 0.5, 0.5, 0.5], 0.01).update([0.5, 0.5, 0.5, 0.5], -0.01)
    assert half.alpha_[-1, 0] == pytest.approx(1.5)  # 1 + 0.5 * (2 - 1)
    assert half.beta_[-1, 0] == pytest.approx(2.0)  # 1 + 0.5 * 0 + 1


def test_discount_goes_toward_an_uneven_prior_parameter_by_parameter():
    """alpha decays toward prior[0] and beta toward prior[1] (swapping them changes every value below)."""
    bandit = ComponentBandit(gamma=0.5, prior=(2.0, 5.0))
    bandit.update([0.5, -0.5, 0.0, 0.5], 0.01)  # a success for theme and sentiment, a failure for technical
    assert bandit.alpha_[-1].tolist() == [3.0, 2.0, 2.0, 3.0]  # 2 + 0.5 * (2 - 2) + hit
    assert bandit.beta_[-1].tolist() == [5.0, 6.0, 5.0, 5.0]  # 5 + 0.5 * (5 - 5) + miss
    bandit.update([0.5, -0.5, 0.0, 0.5], -0.01)  # now the other way round
    assert bandit.alpha_[-1].tolist() == [2.5, 3.0, 2.0, 2.5]  # 2 + 0.5 * (3 - 2) + 0, 2 + 0.5 * (2 - 2) + 1
    assert bandit.beta_[-1].tolist() == [6.0, 5.5, 5.0, 6.0]  # 5 + 0.5 * (5 - 5) + 1, 5 + 0.5 * (6 - 5) + 0


def test_per_regime_posteriors_are_separate():
    rng = np.random.default_rng(5)
    bandit = ComponentBandit(per_regime=True)
    _feed(bandit, 60, 0, rng, regime="crisis")
    _feed(bandit, 40, 2, rng, regime="bull_momentum")
    assert int(np.argmax(bandit.weights("crisis"))) == 0
    assert int(np.argmax(bandit.weights("bull_momentum"))) == 2
    # a regime without data falls back to the pool, which has seen both
    np.testing.assert_array_equal(bandit.weights("choppy"), bandit.weights(None))
    stats = bandit.regime_stats()
    assert stats["choppy"]["theme"]["n_effective"] == 0.0
    assert stats["crisis"]["theme"]["mean"] > 0.9
    assert stats["bull_momentum"]["ai"]["mean"] > 0.9
    assert stats["bull_momentum"]["theme"]["mean"] < 0.8
    assert set(stats) == {*REGIMES, "pooled"}
    assert bandit.n_trades_.tolist() == [40, 0, 0, 60, 0, 100]
    # with per_regime off the regime rows are still kept but weights use the pool
    pooled = ComponentBandit(per_regime=False)
    _feed(pooled, 30, 0, np.random.default_rng(5), regime="crisis")
    assert pooled.regime_stats()["crisis"]["theme"]["n_effective"] > 0
    np.testing.assert_array_equal(pooled.weights("crisis"), pooled.weights("choppy"))


def test_near_zero_scores_and_flat_trades_are_skipped():
    bandit = ComponentBandit(min_abs_score=0.05, gamma=1.0)
    bandit.update({"theme": 0.01, "technical": -0.04, "ai": 0.9, "sentiment": -0.9}, 0.02)
    assert bandit.alpha_[-1].tolist() == [1.0, 1.0, 2.0, 1.0]
    assert bandit.beta_[-1].tolist() == [1.0, 1.0, 1.0, 2.0]
    bandit.update({"theme": 0.9}, 0.0)  # net return exactly 0
    bandit.update({"theme": 0.01, "ai": -0.02}, 0.05)  # every score near zero
    assert bandit.n_trades_[-1] == 1
    assert bandit.alpha_[-1].tolist() == [1.0, 1.0, 2.0, 1.0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": 0.0}, "gamma=0.0"),
        ({"gamma": 1.5}, "gamma=1.5"),
        ({"floor": 0.3}, "floor=0.3"),
        ({"floor": -0.1}, "floor=-0.1"),
        ({"cap": 0.2}, "cap=0.2"),
        ({"cap": 1.2}, "cap=1.2"),
        ({"prior": (0.0, 1.0)}, "prior="),
        ({"shrink": 2.0}, "shrink=2.0"),
    ],
)
def test_invalid_hyper_parameters_raise_naming_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ComponentBandit(**kwargs)


def test_bad_inputs_raise_helpful_errors():
    bandit = ComponentBandit()
    with pytest.raises(ValueError, match="did you mean 'theme'"):
        bandit.update({"theem": 0.5}, 0.01)
    with pytest.raises(ValueError, match="did you mean 'crisis'"):
        bandit.update([0.5] * 4, 0.01, regime="crisys")
    with pytest.raises(ValueError, match="shape"):
        bandit.update([0.5] * 3, 0.01)
    with pytest.raises(ValueError, match="net_return"):
        bandit.update([0.5] * 4, float("nan"))
    with pytest.raises(TypeError, match="list"):
        bandit.update_from_trade([1, 2])
    with pytest.raises(KeyError, match="net_return"):
        bandit.update_from_trade({"components": {"ai": 0.5}})


def test_update_from_trade_reads_the_trade_record():
    a, b = ComponentBandit(per_regime=True), ComponentBandit(per_regime=True)
    a.update_from_trade({"components": {"theme": 0.4, "ai": -0.3}, "net_return": 0.01, "regime": "choppy", "id": 1})
    a.update_from_trade({"components": {"theme": 0.4}, "net_return": -0.01})  # no regime: pool only
    b.update({"theme": 0.4, "ai": -0.3}, 0.01, "choppy").update({"theme": 0.4}, -0.01, None)
    np.testing.assert_array_equal(a.alpha_, b.alpha_)
    np.testing.assert_array_equal(a.beta_, b.beta_)
    assert a.n_trades_[REGIMES.index("choppy")] == 1 and a.n_trades_[-1] == 2


# ---------------------------------------------------------------------------------------------- P(best)
def _posterior_after(n: int, gamma: float, rates: tuple[float, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    bandit = ComponentBandit(gamma=gamma)
    for _ in range(n):
        ret = float(rng.choice([-0.01, 0.01]))
        agree = rng.random(4) < np.array(rates)
        bandit.update(np.where(agree, 1.0, -1.0) * np.sign(ret) * rng.uniform(0.05, 1.0, 4), ret)
    return bandit.alpha_[-1].copy(), bandit.beta_[-1].copy()


def test_prob_best_matches_exact_values():
    assert prob_best([1.0] * 4, [1.0] * 4).tolist() == [0.25] * 4
    assert prob_best([7.3] * 4, [2.1] * 4).tolist() == [0.25] * 4
    # Beta(2, 1), U, U, Beta(1, 2): P = int 2x * x * x * (2x - x^2) dx = 7/15, and so on
    np.testing.assert_allclose(prob_best([2, 1, 1, 1], [1, 1, 1, 2]), [7 / 15, 7 / 30, 7 / 30, 1 / 15], atol=1e-9)
    for a in (0.5, 3.0, 40.0):  # P(Beta(a, 1) > U) = E[Beta(a, 1)] = a / (a + 1)
        np.testing.assert_allclose(prob_best([a, 1.0], [1.0, 1.0]), [a / (a + 1), 1 / (a + 1)], atol=1e-9)
    p = prob_best([60, 60, 5, 1], [5, 5, 60, 1])  # two identical peaked posteriors share exactly
    assert p[0] == p[1]


@pytest.mark.parametrize(
    ("alpha", "beta"),
    [
        ([60.0, 40.0, 30.0, 20.0], [5.0, 20.0, 30.0, 40.0]),
        ([60.0, 55.0, 1.0, 1.0], [5.0, 6.0, 1.0, 1.0]),  # two peaked near 0.92 and two at the prior
        ([1.5, 1.0, 1.2, 1.0], [1.0, 1.3, 1.0, 1.0]),  # near the prior (1, 1)
        ([0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 1.5, 0.5]),  # Jeffreys prior: end singularities of the densities
        _posterior_after(100, 1.0, (0.62, 0.55, 0.60, 0.45), seed=1),  # gamma = 1 after 100 trades
        _posterior_after(400, 1.0, (0.70, 0.68, 0.50, 0.40), seed=2),  # gamma = 1 after 400 trades: peaked
        _posterior_after(300, 0.97, (0.60, 0.55, 0.50, 0.45), seed=3),  # the default discount
    ],
)
def test_prob_best_matches_a_large_monte_carlo(alpha, beta):
    p = prob_best(alpha, beta)
    rng = np.random.default_rng(0)
    n = 1_000_000  # standard error <= 0.5 / sqrt(n) = 5e-4
    draws = rng.beta(np.asarray(alpha), np.asarray(beta), size=(n, 4))
    mc = np.bincount(np.argmax(draws, axis=1), minlength=4) / n
    assert np.abs(p - mc).max() < 2e-3
    assert p.min() >= 0.0 and abs(p.sum() - 1.0) < 1e-12


def test_prob_best_is_deterministic_and_validates_its_input():
    alpha, beta = _posterior_after(150, 0.97, (0.6, 0.5, 0.55, 0.4), seed=4)
    np.testing.assert_array_equal(prob_best(alpha, beta), prob_best(alpha.tolist(), beta.tolist()))
    with pytest.raises(ValueError, match="alpha="):
        prob_best([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        prob_best([1.0, 2.0, 3.0], [1.0, 1.0])


# ---------------------------------------------------------------------------------------------- state
def _history_bandit(weights_every_trade: bool = True, **kwargs: Any) -> ComponentBandit:
    rng = np.random.default_rng(11)
    bandit = ComponentBandit(per_regime=True, **kwargs)
    for i in range(30):
        _feed(bandit, 1, i % 3, rng, regime=REGIMES[i % 5])
        if weights_every_trade:
            bandit.weights(REGIMES[i % 5])
    return bandit


def test_weights_are_a_function_of_the_history_alone():
    a, b = _history_bandit(), _history_bandit(weights_every_trade=False)  # asked for weights or not in between
    for regime in (None, *REGIMES):
        np.testing.assert_array_equal(a.weights(regime), b.weights(regime))
    np.testing.assert_array_equal(a.weights(None), a.weights(None))
    with pytest.warns(FutureWarning, match="seed=3"):
        seeded = ComponentBandit(seed=3)  # deprecated: there are no random draws to seed
    assert "seed" not in seeded.get_params()


def test_snapshot_and_restore_bring_back_the_state_and_its_weights():
    bandit = _history_bandit()
    snap = bandit.snapshot()
    before = {r: bandit.weights(r) for r in (None, *REGIMES)}
    _feed(bandit, 20, 3, np.random.default_rng(1), regime="crisis")
    assert not np.array_equal(bandit.weights("crisis"), before["crisis"])
    bandit.restore(snap)
    for regime, w in before.items():
        np.testing.assert_array_equal(bandit.weights(regime), w)
    np.testing.assert_array_equal(bandit.n_trades_, snap.n_trades)
    with pytest.raises(TypeError, match="BanditSnapshot"):
        bandit.restore({"alpha": 1})


def test_json_round_trip_is_exact(tmp_path):
    original = _history_bandit(gamma=0.9, prior=(2.0, 1.5))
    record = json.loads(json.dumps(original.to_json()))
    loaded = ComponentBandit.from_json(record)
    from_file = ComponentBandit.load(original.save(tmp_path / "sub" / "tier1.json"))
    assert record["version"] == 2 and loaded.get_params() == original.get_params()
    for other in (loaded, from_file):
        np.testing.assert_array_equal(other.alpha_, original.alpha_)
        for regime in (None, *REGIMES):
            np.testing.assert_array_equal(other.weights(regime), original.weights(regime))
    _feed(original, 5, 1, np.random.default_rng(9), regime="crisis")
    _feed(loaded, 5, 1, np.random.default_rng(9), regime="crisis")
    for regime in ("crisis", None):
        np.testing.assert_array_equal(loaded.weights(regime), original.weights(regime))
    with pytest.raises(ValueError, match="version"):
        ComponentBandit.from_json({**record, "version": 99})
    old = {**record, "version": 1, "rng_state": {}, "params": {**record["params"], "n_draws": 2000, "seed": 0}}
    with pytest.raises(ValueError, match=r"version 1 .*no longer read.*drop 'n_draws'"):
        ComponentBandit.from_json(old)


# ---------------------------------------------------------------------------------------------- wrapper
class FakeTradingEnv(gym.Env):
    """27-slot env that closes a trade every other step; ``theme`` always has the sign of the return."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, regime: str | None = None, horizon: int = 40) -> None:
        self.observation_space = gym.spaces.Box(OBS_LAYOUT.low, OBS_LAYOUT.high, dtype=np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (4,), dtype=np.float32)
        self.regime, self.horizon, self.t, self.n_trades = regime, horizon, 0, 0

    def _obs(self) -> np.ndarray:
        obs = np.zeros(OBS_LAYOUT.size, dtype=np.float32)
        obs[TIER1] = OBS_LAYOUT.default_tier1()
        return obs

    def _info(self) -> dict[str, Any]:
        if self.regime is None:
            return {}
        return {"regime": {"name": self.regime, "probs": {r: float(r == self.regime) for r in REGIMES}}}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), self._info()

    def step(self, action):
        self.t += 1
        info = self._info()
        if self.t % 2 == 0:
            ret = float(self.np_random.choice([-0.02, 0.03]))
            scores = dict(zip(COMPONENTS, _random_scores(self.np_random, ret, right=0).tolist(), strict=True))
            self.n_trades += 1
            info["trade"] = {
                "components": scores,
                "net_return": ret,
                "regime": self.regime,
                "trade_id": self.n_trades,
            }
        return self._obs(), 0.0, False, self.t >= self.horizon, info


def test_wrapper_learns_and_writes_weights_into_slots_and_info():
    env = ComponentWeightWrapper(FakeTradingEnv(), ComponentBandit())
    assert env.observation_space == FakeTradingEnv().observation_space
    obs, info = env.reset(seed=0)
    assert info["weights"] == dict.fromkeys(COMPONENTS, 0.25)
    assert obs[TIER1].tolist() == [0.25] * 4
    for _ in range(40):
        obs, _, _, truncated, info = env.step(env.action_space.sample())
    assert truncated and env.bandit.n_trades_[-1] == 20
    np.testing.assert_array_equal(obs[TIER1], np.array(list(info["weights"].values()), dtype=np.float32))
    assert max(info["weights"], key=info["weights"].get) == "theme"
    assert info["weights"]["theme"] > 0.5
    obs, info = env.reset(seed=1)  # every episode starts again from the prior
    assert env.bandit.n_trades_[-1] == 0
    assert info["weights"] == dict.fromkeys(COMPONENTS, 0.25) and obs[TIER1].tolist() == [0.25] * 4


def _weights_path(env: ComponentWeightWrapper, seed: int) -> list[list[float]]:
    obs, _ = env.reset(seed=seed)
    path = [obs[TIER1].tolist()]
    for _ in range(40):
        obs, *_ = env.step(env.action_space.sample())
        path.append(obs[TIER1].tolist())
    return path


def test_every_episode_starts_from_the_bandit_passed_in_which_is_never_modified():
    start = ComponentBandit(per_regime=True)
    _feed(start, 30, 2, np.random.default_rng(3))  # learned on earlier data: ai was right
    alpha = start.alpha_.copy()
    env = ComponentWeightWrapper(FakeTradingEnv(), start)
    first, second = _weights_path(env, seed=0), _weights_path(env, seed=0)
    assert first == second  # a second pass repeats the first exactly
    assert first[0] == start.weights().astype(np.float32).tolist() and first[0][2] > 0.5
    assert first[-1][0] > first[0][0]  # ... and learns within the episode (theme is right in FakeTradingEnv)
    np.testing.assert_array_equal(start.alpha_, alpha)
    assert env.bandit is not start


def test_opting_out_keeps_learning_across_episodes():
    env = ComponentWeightWrapper(FakeTradingEnv(), ComponentBandit(), reset_each_episode=False)
    first = _weights_path(env, seed=0)
    obs, info = env.reset(seed=1)
    assert env.bandit.n_trades_[-1] == 20
    assert obs[TIER1].tolist() == first[-1] and info["weights"]["theme"] > 0.5
    second = _weights_path(env, seed=0)
    assert second != first and env.bandit.n_trades_[-1] == 40


def test_wrapper_uses_the_regime_from_info():
    bandit = ComponentBandit(per_regime=True)
    rng = np.random.default_rng(2)
    _feed(bandit, 50, 3, rng, regime="theme_driven")  # sentiment right in theme_driven
    env = ComponentWeightWrapper(FakeTradingEnv(regime="theme_driven"), bandit)
    _, info = env.reset(seed=0)
    assert max(info["weights"], key=info["weights"].get) == "sentiment"
    blind = ComponentWeightWrapper(FakeTradingEnv(regime="crisis"), bandit, per_regime_from_info=False)
    _, info = blind.reset(seed=0)
    np.testing.assert_allclose(list(info["weights"].values()), bandit.weights(None))
    for _ in range(10):
        blind.step(blind.action_space.sample())
    assert blind.bandit.n_trades_[REGIMES.index("crisis")] == 5  # the trade's own regime still labels the update
    assert bandit.n_trades_[REGIMES.index("crisis")] == 0  # the wrapper learns on its own copy


def test_wrapper_validates_its_arguments():
    with pytest.raises(TypeError, match="dict"):
        ComponentWeightWrapper(FakeTradingEnv(), bandit={"gamma": 0.9})
    with pytest.raises(TypeError, match="str"):
        ComponentWeightWrapper("TradingEnv-v0")
    with pytest.raises(TypeError, match="int"):
        ComponentWeightWrapper(FakeTradingEnv(), per_regime_from_info=1)
    with pytest.raises(TypeError, match="reset_each_episode must be a bool"):
        ComponentWeightWrapper(FakeTradingEnv(), reset_each_episode="yes")
    small = FakeTradingEnv()
    small.observation_space = gym.spaces.Box(-1.0, 1.0, (5,), dtype=np.float32)
    with pytest.raises(ValueError, match="27"):
        ComponentWeightWrapper(small)


def _check_both(make_env: Any) -> None:
    """Both checkers on a learning wrapper (step-deterministic across resets: every episode starts from the same
    state); every warning is an error except gymnasium's note about wrappers."""
    from gymnasium.utils.env_checker import check_env as gym_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=".*different from the unwrapped version")
        gym_check_env(ComponentWeightWrapper(make_env(), ComponentBandit()), skip_render_check=True)
        sb3_check_env(ComponentWeightWrapper(make_env(), ComponentBandit()), warn=True)


def test_wrapper_passes_both_env_checkers_on_the_fake_env():
    _check_both(FakeTradingEnv)


def test_frozen_wrapper_writes_weights_but_does_not_learn():
    env = ComponentWeightWrapper(FakeTradingEnv(), ComponentBandit(), learn=False)
    env.reset(seed=0)
    for _ in range(10):
        _, _, _, _, info = env.step(env.action_space.sample())
    assert env.bandit.n_trades_[-1] == 0
    assert info["weights"] == dict.fromkeys(COMPONENTS, 0.25)


# ---------------------------------------------------------------------------------------------- real env
def _real_env() -> gym.Env:
    trading_env = pytest.importorskip("envs.trading_env")
    synthetic = pytest.importorskip("envs.synthetic")
    data = synthetic.SyntheticMarket.three_regime().generate(n_bars=400, seed=0).data
    return trading_env.TradingEnv(data=data)


def test_wrapper_on_the_real_trading_env():
    base = _real_env()
    env = ComponentWeightWrapper(base, ComponentBandit())
    assert env.observation_space == base.observation_space and env.observation_space.shape == (27,)
    obs, info = env.reset(seed=0)
    assert obs.shape == (27,) and obs[TIER1].tolist() == [0.25] * 4
    trades, written = [], info["weights"]
    for _ in range(60):
        obs, _, terminated, truncated, info = env.step(np.array([1.0, -0.5, 0.0, 0.0], dtype=np.float32))
        if "trade" in info:
            # the env records the weights the wrapper handed it before this decision
            assert info["trade"]["weights"] == pytest.approx(written, abs=1e-6)
            trades.append(info["trade"])
        written = info["weights"]
        np.testing.assert_array_equal(obs[TIER1], np.array(list(written.values()), dtype=np.float32))
        assert obs in env.observation_space
        if terminated or truncated:
            break
    assert len(trades) >= 20
    assert env.bandit.n_trades_[-1] == len(trades)  # every closed trade was learned ...
    assert env.bandit.n_trades_[:-1].sum() == 0  # ... in the pool only: Tier 2 is off (uniform regime_probs)
    assert written != dict.fromkeys(COMPONENTS, 0.25)


def test_wrapper_passes_both_env_checkers_on_the_real_env():
    _check_both(_real_env)
