"""The batched core: N copies of one :class:`~envs.trading_env.TradingEnv` configuration advanced by one compiled call.

:class:`BatchCore` holds the state of ``n`` copies of an env (account, risk layer, reward moments, win rate, equity
curve) as arrays, and :meth:`BatchCore.step` advances every copy by one decision in one call of a kernel compiled
with Numba: the action map, the risk layer's approval, the bracket trade bar by bar to its exit (stops, targets,
gaps, time exits, the daily-loss and drawdown levels, crisis exits), the breaker, the differential Sharpe ratio
or log-return reward with its penalties, and the observation. The copies may stand at different bars and hold
trades of different lengths; each one follows exactly the steps of its own ``TradingEnv``.

The single :class:`~envs.trading_env.TradingEnv` stays the reference implementation of every rule (scalar Python,
the fastest form for one copy). The kernel re-expresses its step operation for operation, in the same order, so
the results are bit-identical: ``tests/envs/test_batch.py`` drives random actions through ``n`` copies and ``n``
single envs and compares every observation, reward, info and trade. A change of a rule in ``TradingEnv``,
:mod:`envs.risk` or :mod:`envs.reward` fails that test until the kernel follows.

The tiers ride on top (:mod:`agents.batch`): a Tier 2 regime path is handed over with :meth:`set_regime_path`
as to the single env, and Tier 1's weights with :meth:`set_weights` before each step.

Example:
    >>> core = BatchCore(TradingEnv("sp500", window=(1000, 3000), random_start=True, episode_bars=252), n=64)
    >>> obs = core.reset_all(seeds=range(64))                        # (64, 27) float32
    >>> obs, reward, terminated, truncated = core.step(actions)      # actions: (64, 4)
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from numba import njit

from envs.layout import COMPONENTS, GROWTH_BARS, OBS_LAYOUT, REGIMES
from envs.records import Info, Record
from envs.risk import Breaker, approval_reasons, breaker_event_reason
from envs.trading_env import TradingEnv

# ---------------------------------------------------------------------------------------------------- layout
# float state columns
EQ, EQ0, HWM, REQ, DSE, RSUM, RSUMSQ, DA, DB, NWINS = range(10)
_NF = 10
# int state columns
BAR, START, END, NTRADES, RDAY, BLOCKED, STATE, RPOS, RCOUNT, DN, WLEN, WPOS = range(12)
_NI = 12
# float params
(
    P_SLIP,
    P_COMM,
    P_EXIT_COST,
    P_MIN_TRADE,
    P_EXPOSURE,
    P_MAX_POS,
    P_MAX_GROSS,
    P_DAILY_LOSS,
    P_MAX_DD,
    P_REDUCE_DD,
    P_REDUCE_SHARPE,
    P_RECOVER_DD,
    P_RECOVER_SHARPE,
    P_REDUCE_SCALE,
    P_CRISIS_THR,
    P_DAILY_FLOOR,
    P_PPY,
    P_SCALE,
    P_ETA,
    P_VAR_FLOOR,
    P_DD_PEN,
    P_CLIP_PEN,
    P_BAR_COST,
    P_AM_MAX_POS,
    P_S_LO,
    P_S_HI,
    P_T_LO,
    P_T_HI,
) = range(28)
_NP = 28
# int params
Q_KIND_LOG, Q_WARMUP, Q_MAX_HOLD, Q_SHARPE_WINDOW, Q_WIN_WINDOW = range(5)
_NQ = 5
# per-step info columns (floats)
I_REQ, I_APPROVED, I_DRAWDOWN, I_BASE, I_DD_PEN, I_CLIP_PEN, I_BAR_PEN = range(7)
_NIF = 7
# per-step int info columns
J_REASONS, J_TRADED, J_NEVENTS = range(3)
_NIJ = 3
# trade float columns
T_ENTRY, T_EXIT_REF, T_SIZE, T_SHARES, T_STOP, T_TARGET, T_EQ0, T_EQ1 = range(8)
_NTF = 8
# trade int columns
U_DECISION, U_EXIT_BAR, U_HOLD, U_REASON, U_NTH = range(5)
_NTU = 5
# breaker events: (bar, old, new, code) ints and (value 1, value 2) floats
E_BAR, E_OLD, E_NEW, E_CODE = range(4)

EXIT_REASONS: tuple[str, ...] = (
    "stop",
    "gap_stop",
    "target",
    "gap_target",
    "time",
    "daily_loss",
    "drawdown",
    "crisis",
    "end_of_data",
)
"""Exit reasons by code (the strings of ``TradingEnv``'s trade records)."""
_STOP, _GAP_STOP, _TARGET, _GAP_TARGET, _TIME, _DAILY, _DRAWDOWN, _CRISIS_X, _END = range(9)
_ACTIVE, _REDUCING, _HALTED = int(Breaker.ACTIVE), int(Breaker.REDUCING), int(Breaker.HALTED)
_NONE_DAY = np.iinfo(np.int64).min
"""``blocked_day`` None."""
_BREAKER_NAMES: tuple[str, ...] = tuple(state.name for state in Breaker)
_SQRT_252 = math.sqrt(252.0)
_CRISIS = REGIMES.index("crisis")


# ---------------------------------------------------------------------------------------------- the kernel
@njit(cache=True)
def _rolling_sharpe(fs, is_, i, window, ppy):  # type: ignore[no-untyped-def]
    n = is_[i, RCOUNT]
    if n < window:
        return 0.0
    mean = fs[i, RSUM] / n
    var = (fs[i, RSUMSQ] - n * mean * mean) / (n - 1)
    if var < 1e-16:
        return 0.0
    return mean / math.sqrt(var) * math.sqrt(ppy)


@njit(cache=True)
def _set_state(is_, i, new, bar, code, v1, v2, ev_i, ev_f, info_i):  # type: ignore[no-untyped-def]
    old = is_[i, STATE]
    if new == old:
        return
    k = info_i[i, J_NEVENTS]
    ev_i[i, k, E_BAR] = bar
    ev_i[i, k, E_OLD] = old
    ev_i[i, k, E_NEW] = new
    ev_i[i, k, E_CODE] = code
    ev_f[i, k, 0] = v1
    ev_f[i, k, 1] = v2
    info_i[i, J_NEVENTS] = k + 1
    is_[i, STATE] = new


@njit(cache=True)
def _mark(fs, is_, rets, i, equity, bar, daily_exit, p, q, ev_i, ev_f, info_i):  # type: ignore[no-untyped-def]
    """``RiskManager.mark``."""
    prev = fs[i, REQ]
    ret = equity / prev - 1.0 if prev > 0 else 0.0
    window = q[Q_SHARPE_WINDOW]
    pos = is_[i, RPOS]
    old = rets[i, pos]
    rets[i, pos] = ret
    pos += 1
    is_[i, RPOS] = pos if pos < window else 0
    if is_[i, RCOUNT] < window:
        is_[i, RCOUNT] += 1
    fs[i, RSUM] += ret - old
    fs[i, RSUMSQ] += ret * ret - old * old
    fs[i, REQ] = equity
    if equity > fs[i, HWM]:
        fs[i, HWM] = equity
    if daily_exit or equity <= fs[i, DSE] * p[P_DAILY_FLOOR]:
        is_[i, BLOCKED] = is_[i, RDAY]
    state = is_[i, STATE]
    if state == _HALTED:
        return
    dd = 1.0 - equity / fs[i, HWM]
    if dd >= p[P_MAX_DD] - 1e-12:
        _set_state(is_, i, _HALTED, bar, 0, dd, 0.0, ev_i, ev_f, info_i)
        return
    if state == _ACTIVE:
        if dd >= p[P_REDUCE_DD] - 1e-12:
            _set_state(is_, i, _REDUCING, bar, 1, dd, 0.0, ev_i, ev_f, info_i)
        elif (fs[i, RSUM] < 0.0 or p[P_REDUCE_SHARPE] > 0.0) and is_[i, RCOUNT] == window:
            sharpe = _rolling_sharpe(fs, is_, i, window, p[P_PPY])
            if sharpe < p[P_REDUCE_SHARPE]:
                _set_state(is_, i, _REDUCING, bar, 2, sharpe, 0.0, ev_i, ev_f, info_i)
    elif dd < p[P_RECOVER_DD]:
        sharpe = _rolling_sharpe(fs, is_, i, window, p[P_PPY])
        if sharpe >= p[P_RECOVER_SHARPE]:
            _set_state(is_, i, _ACTIVE, bar, 3, dd, sharpe, ev_i, ev_f, info_i)


@njit(cache=True)
def _dsr_update(fs, is_, i, ret, p, q):  # type: ignore[no-untyped-def]
    """``DifferentialSharpe.update``."""
    a = fs[i, DA]
    b = fs[i, DB]
    d_a = ret - a
    d_b = ret * ret - b
    var = b - a * a
    d = 0.0
    if is_[i, DN] >= q[Q_WARMUP]:
        floor = p[P_VAR_FLOOR]
        d = (b * d_a - 0.5 * a * d_b) / (var if var > floor else floor) ** 1.5
    fs[i, DA] = a + p[P_ETA] * d_a
    fs[i, DB] = b + p[P_ETA] * d_b
    is_[i, DN] += 1
    return d


@njit(cache=True)
def _new_day(fs, is_, i, day):  # type: ignore[no-untyped-def]
    """``RiskManager.new_bar``."""
    if day != is_[i, RDAY]:
        is_[i, RDAY] = day
        fs[i, DSE] = fs[i, REQ]


@njit(cache=True)
def _drawdown(fs, i):  # type: ignore[no-untyped-def]
    hwm = fs[i, HWM]
    if hwm <= 0:
        return 0.0
    dd = 1.0 - fs[i, REQ] / hwm
    return dd if dd > 0.0 else 0.0


@njit(cache=True)
def _trade(fs, is_, rets, wins, curve, i, size, hold, stop, target, d_o, d_h, d_l, d_c, d_day, d_crisis, p, q,
           ev_i, ev_f, info_i, tr_f, tr_u):  # type: ignore[no-untyped-def]  # fmt: skip
    """``TradingEnv._trade``: open at the next open, simulate to the exit; returns the summed reward."""
    slip = p[P_SLIP]
    exit_cost = p[P_EXIT_COST]
    decision = is_[i, BAR]
    entry_bar = decision + 1
    end = is_[i, END]
    equity0 = fs[i, EQ]
    entry_price = d_o[entry_bar] * (1.0 + slip)
    notional = size * equity0
    shares = notional / entry_price
    cash = equity0 - notional - notional * p[P_COMM]
    stop_px = entry_price * (1.0 - stop)
    target_px = entry_price * (1.0 + target)
    last = min(decision + hold, end)
    last_reason = _TIME if decision + hold <= end else _END
    prev = equity0
    reward = 0.0
    j = entry_bar
    crisis_exit = False
    k = shares * (1.0 - exit_cost)
    daily_loss = p[P_DAILY_LOSS]
    max_dd = p[P_MAX_DD]
    equity = equity0
    ex_px = 0.0
    ex_why = -1
    while True:
        _new_day(fs, is_, i, d_day[j])
        daily = (fs[i, DSE] * (1.0 - daily_loss) - cash) / k
        ddl = (fs[i, HWM] * (1.0 - max_dd) - cash) / k
        if daily >= ddl:
            level = daily
            why = _DAILY
        else:
            level = ddl
            why = _DRAWDOWN
        ex_why = -1
        if crisis_exit:
            ex_px = d_o[j]
            ex_why = _CRISIS_X
        else:
            if stop_px >= level:
                level = stop_px
                why = _STOP
            o = d_o[j]
            if o <= level:
                ex_px = o
                ex_why = _GAP_STOP if (why == _STOP and j != entry_bar) else why
            elif o >= target_px:
                ex_px = o
                ex_why = _TARGET if j == entry_bar else _GAP_TARGET
            elif d_l[j] <= level:
                ex_px = level
                ex_why = why
            elif d_h[j] >= target_px:
                ex_px = target_px
                ex_why = _TARGET
            elif j >= last:
                ex_px = d_c[j]
                ex_why = last_reason
        if ex_why < 0:
            equity = cash + shares * d_c[j]
            reward += _dsr_update(fs, is_, i, equity / prev - 1.0, p, q)
            prev = equity
            curve[i, j] = equity
            _mark(fs, is_, rets, i, equity, j, False, p, q, ev_i, ev_f, info_i)
        else:
            equity = cash + shares * ex_px * (1.0 - exit_cost)
            reward += _dsr_update(fs, is_, i, equity / prev - 1.0, p, q)
            prev = equity
            curve[i, j] = equity
            _mark(fs, is_, rets, i, equity, j, ex_why == _DAILY, p, q, ev_i, ev_f, info_i)
            break
        crisis_exit = d_crisis[j]
        j += 1
    is_[i, BAR] = j
    fs[i, EQ] = equity
    is_[i, NTRADES] += 1
    ww = q[Q_WIN_WINDOW]
    n = is_[i, WLEN]
    wpos = is_[i, WPOS]
    if n == ww:
        fs[i, NWINS] -= wins[i, wpos]  # the oldest trade leaves the window
    win = 1.0 if equity > equity0 else 0.0
    wins[i, wpos] = win
    is_[i, WPOS] = wpos + 1 if wpos + 1 < ww else 0
    if n < ww:
        is_[i, WLEN] = n + 1
    fs[i, NWINS] += win
    tr_f[i, T_ENTRY] = entry_price
    tr_f[i, T_EXIT_REF] = ex_px
    tr_f[i, T_SIZE] = size
    tr_f[i, T_SHARES] = shares
    tr_f[i, T_STOP] = stop
    tr_f[i, T_TARGET] = target
    tr_f[i, T_EQ0] = equity0
    tr_f[i, T_EQ1] = equity
    tr_u[i, U_DECISION] = decision
    tr_u[i, U_EXIT_BAR] = j
    tr_u[i, U_HOLD] = hold
    tr_u[i, U_REASON] = ex_why
    tr_u[i, U_NTH] = is_[i, NTRADES]
    return reward


@njit(cache=True)
def _clip1(x):  # type: ignore[no-untyped-def]
    return -1.0 if x < -1.0 else (1.0 if x > 1.0 else x)


@njit(cache=True)
def _observe(fs, is_, obs, i, drawdown, feat, weights, regime, p, curve):  # type: ignore[no-untyped-def]
    """``TradingEnv._observation`` into row ``i`` of ``obs``."""
    back = is_[i, BAR] - GROWTH_BARS
    growth = math.log(fs[i, EQ] / curve[i, back if back > is_[i, START] else is_[i, START]])
    growth = -10.0 if -10.0 > growth else growth
    mean = fs[i, DA] * 252.0
    mean = -50.0 if -50.0 > mean else mean
    var = fs[i, DB] - fs[i, DA] * fs[i, DA]
    dev = math.sqrt(0.0 if 0.0 > var else var) * _SQRT_252  # max(var, 0.0) as Python evaluates it
    loss = 1.0 - fs[i, REQ] / fs[i, DSE]
    used = (loss if loss > 0.0 else 0.0) / p[P_DAILY_LOSS]
    bar = is_[i, BAR]
    obs[i, 0] = 10.0 if 10.0 < growth else growth
    obs[i, 1] = drawdown
    obs[i, 2] = p[P_EXPOSURE]
    obs[i, 3] = 5.0 if 5.0 < used else used
    obs[i, 4] = is_[i, STATE] / 2.0
    for k in range(feat.shape[1]):
        obs[i, 5 + k] = feat[bar, k]
    base = 5 + feat.shape[1]
    for k in range(weights.shape[1]):
        obs[i, base + k] = weights[i, k]
    base += weights.shape[1]
    for k in range(regime.shape[1]):
        obs[i, base + k] = regime[i, k]
    base += regime.shape[1]
    obs[i, base] = 50.0 if 50.0 < mean else mean
    obs[i, base + 1] = 50.0 if 50.0 < dev else dev
    n = is_[i, WLEN]
    obs[i, base + 2] = fs[i, NWINS] / n if n > 0 else 0.5


@njit(cache=True)
def _step_kernel(actions, active, fs, is_, rets, wins, curve, weights, regime, path, path_crisis, has_path, feat,
                 d_o, d_h, d_l, d_c, d_day, p, q, obs, reward, terminated, truncated, info_f, info_i,
                 ev_i, ev_f, tr_f, tr_u):  # type: ignore[no-untyped-def]  # fmt: skip
    """One ``TradingEnv.step`` of every copy (see the module docstring)."""
    n = actions.shape[0]
    max_pos = p[P_AM_MAX_POS]
    max_hold = q[Q_MAX_HOLD]
    for i in range(n):
        if not active[i]:
            continue
        info_i[i, J_NEVENTS] = 0
        info_i[i, J_TRADED] = 0
        # ActionMap.decode
        a0 = _clip1(np.float64(actions[i, 0]))
        a1 = _clip1(np.float64(actions[i, 1]))
        a2 = _clip1(np.float64(actions[i, 2]))
        a3 = _clip1(np.float64(actions[i, 3]))
        size_req = (a0 + 1.0) * 0.5 * max_pos
        hold = np.int64(np.rint(1.0 + (a1 + 1.0) * 0.5 * (max_hold - 1.0)))
        stop = p[P_S_LO] + (a2 + 1.0) * 0.5 * (p[P_S_HI] - p[P_S_LO])
        target = p[P_T_LO] + (a3 + 1.0) * 0.5 * (p[P_T_HI] - p[P_T_LO])
        # RiskManager.is_crisis on the regime of the decision bar
        pc = regime[i, _CRISIS]
        top = regime[i, 0]
        for k in range(1, regime.shape[1]):
            if regime[i, k] > top:
                top = regime[i, k]
        crisis = pc >= p[P_CRISIS_THR] and pc >= top
        # RiskManager.approve
        req = size_req if size_req > 0.0 else 0.0
        size = req
        codes = 0
        state = is_[i, STATE]
        if state == _HALTED:
            size = 0.0
            codes = 1
        elif crisis:
            size = 0.0
            codes = 2
        elif is_[i, BLOCKED] != _NONE_DAY and is_[i, BLOCKED] == is_[i, RDAY]:
            size = 0.0
            codes = 4
        else:
            if size > p[P_MAX_POS]:
                size = p[P_MAX_POS]
                codes |= 8
            ex = p[P_EXPOSURE]
            room = p[P_MAX_GROSS] - (ex if ex > 0.0 else 0.0)
            room = room if room > 0.0 else 0.0
            if size > room:
                size = room
                codes |= 16
            if state == _REDUCING:
                size *= p[P_REDUCE_SCALE]
                codes |= 32
        clipped = req - size
        clipped = clipped if clipped > 0.0 else 0.0
        dd_start = _drawdown(fs, i)
        equity0 = fs[i, EQ]
        bar0 = is_[i, BAR]
        if size < p[P_MIN_TRADE]:
            bar = bar0 + 1
            is_[i, BAR] = bar
            _new_day(fs, is_, i, d_day[bar])
            equity = fs[i, EQ]
            _mark(fs, is_, rets, i, equity, bar, False, p, q, ev_i, ev_f, info_i)
            curve[i, bar] = equity
            base = _dsr_update(fs, is_, i, 0.0, p, q)
        else:
            base = _trade(fs, is_, rets, wins, curve, i, size, hold, stop, target, d_o, d_h, d_l, d_c, d_day,
                          path_crisis, p, q, ev_i, ev_f, info_i, tr_f, tr_u)  # fmt: skip
            info_i[i, J_TRADED] = 1
        if q[Q_KIND_LOG] == 1:
            base = p[P_SCALE] * math.log(fs[i, EQ] / equity0)
        drawdown = _drawdown(fs, i)
        bar = is_[i, BAR]
        rise = drawdown - dd_start
        dd_pen = p[P_DD_PEN] * (rise if rise > 0.0 else 0.0)
        clip_pen = p[P_CLIP_PEN] * clipped / p[P_MAX_POS]
        bar_pen = p[P_BAR_COST] * (bar - bar0)
        reward[i] = base - (dd_pen + clip_pen + bar_pen)
        term = is_[i, STATE] == _HALTED
        terminated[i] = term
        truncated[i] = (not term) and bar >= is_[i, END]
        info_f[i, I_REQ] = size_req
        info_f[i, I_APPROVED] = size
        info_f[i, I_DRAWDOWN] = drawdown
        info_f[i, I_BASE] = base
        info_f[i, I_DD_PEN] = dd_pen
        info_f[i, I_CLIP_PEN] = clip_pen
        info_f[i, I_BAR_PEN] = bar_pen
        info_i[i, J_REASONS] = codes
        if has_path:
            for k in range(regime.shape[1]):
                regime[i, k] = path[bar, k]
        _observe(fs, is_, obs, i, drawdown, feat, weights, regime, p, curve)


@njit(cache=True)
def _outcomes_kernel(bars, end, menu, equity0, path_crisis, d_o, d_h, d_l, d_c, d_day, p, q, growth, spans):  # type: ignore[no-untyped-def]
    """Every menu item's trade at every decision bar, each from a fresh account (see :func:`bracket_outcomes`)."""
    n_bars = d_c.shape[0]
    fs = np.zeros((1, _NF))
    is_ = np.zeros((1, _NI), np.int64)
    rets = np.zeros((1, q[Q_SHARPE_WINDOW]))
    wins = np.zeros((1, q[Q_WIN_WINDOW]))
    curve = np.zeros((1, n_bars))
    ev_i = np.zeros((1, q[Q_MAX_HOLD] + 2, 4), np.int64)
    ev_f = np.zeros((1, q[Q_MAX_HOLD] + 2, 2))
    info_i = np.zeros((1, _NIJ), np.int64)
    tr_f = np.zeros((1, _NTF))
    tr_u = np.zeros((1, _NTU), np.int64)
    ex = p[P_EXPOSURE]
    room = p[P_MAX_GROSS] - (ex if ex > 0.0 else 0.0)
    room = room if room > 0.0 else 0.0
    for a in range(bars.shape[0]):
        t = bars[a]
        for k in range(menu.shape[0]):
            size = menu[k, 0]
            size = p[P_MAX_POS] if size > p[P_MAX_POS] else size
            size = room if size > room else size
            if size < p[P_MIN_TRADE] or path_crisis[t] or t >= end:
                growth[a, k] = 0.0  # flat for one bar (or no trade may open: the crisis rule, the window's end)
                spans[a, k] = 1
                continue
            fs[0, :] = 0.0
            fs[0, EQ] = equity0
            fs[0, EQ0] = equity0
            fs[0, HWM] = equity0
            fs[0, REQ] = equity0
            fs[0, DSE] = equity0
            is_[0, :] = 0
            is_[0, BAR] = t
            is_[0, START] = t
            is_[0, END] = end
            is_[0, RDAY] = d_day[t]
            is_[0, BLOCKED] = _NONE_DAY
            is_[0, STATE] = _ACTIVE
            rets[0, :] = 0.0
            info_i[0, J_NEVENTS] = 0
            hold = np.int64(menu[k, 1])
            _trade(fs, is_, rets, wins, curve, 0, size, hold, menu[k, 2], menu[k, 3], d_o, d_h, d_l, d_c, d_day,
                   path_crisis, p, q, ev_i, ev_f, info_i, tr_f, tr_u)  # fmt: skip
            growth[a, k] = math.log(fs[0, EQ] / equity0)
            spans[a, k] = is_[0, BAR] - t


def bracket_outcomes(
    env: TradingEnv, menu: np.ndarray, bars: np.ndarray | None = None, end: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Full information: the outcome of every menu item at every decision bar, from the bars after it.

    There is no market impact, so once the bars after decision ``t`` are known, the trade each item would have
    opened at ``t`` is a deterministic function of them. Each item is simulated by the env's own trade code (the
    compiled kernel of :class:`BatchCore`: fills, costs, stops, targets, gaps, the daily-loss and drawdown levels,
    crisis exits) from a fresh account at ``t`` (equity, high-water mark and the day's start all at ``t``'s equity):
    what the item earns, not what a particular account history would have let it earn.

    Causality: the outcome of ``(t, k)`` uses bars ``t + 1 .. t + spans[t, k]`` only; use it once bar
    ``t + spans[t, k]`` has closed (in training: for decisions inside the training window; ``end`` keeps every
    exit inside it).

    Args:
        env: The env whose data, costs, limits, action map and regime path (crisis rule) apply.
        menu: ``(k, 4)`` items as ``(size, hold, stop, target)`` (:meth:`envs.menu.BracketMenu.params`); a size
            below the env's ``min_trade`` is flat.
        bars: Decision bars (default: every bar of the env's window but the last).
        end: Last bar a trade may reach (default: the window's last bar); a trade still open there closes at its
            close.

    Returns:
        ``growth`` ``(len(bars), k)``: log of the account's equity after / before the item (costs included; 0 for
        flat), and ``spans`` ``(len(bars), k)``: bars from the decision to the exit (1 for flat).
    """
    core = BatchCore(env, 1)
    lo, hi = env.window
    bars = np.arange(lo, hi - 1, dtype=np.int64) if bars is None else np.asarray(bars, np.int64)
    end = hi - 1 if end is None else int(end)
    if len(bars) and (bars.min() < lo or bars.max() >= hi):
        raise ValueError(f"decision bars must lie in the window [{lo}, {hi}); got {bars.min()} .. {bars.max()}")
    menu = np.ascontiguousarray(menu, np.float64)
    if menu.ndim != 2 or menu.shape[1] != 4:
        raise ValueError(f"menu has shape {menu.shape}; expected (k, 4): size, hold, stop, target per item")
    growth = np.zeros((len(bars), len(menu)))
    spans = np.zeros((len(bars), len(menu)), np.int64)
    _outcomes_kernel(
        bars, end, menu, float(env.initial_equity), core.path_crisis, core.o, core.h, core.l, core.c, core.day,
        core.params, core.iparams, growth, spans,
    )  # fmt: skip
    return growth, spans


# ---------------------------------------------------------------------------------------------- the class
class BatchCore:
    """``n`` copies of the configuration of ``env`` (a :class:`~envs.trading_env.TradingEnv`), stepped together.

    The template env gives the data, window, costs, limits, reward, action map and every other setting (its
    own checks already ran when it was built); the copies share them and keep their own state. Each copy has
    its own random generator, seeded as ``TradingEnv.reset(seed=...)`` seeds the env's, so copy ``i`` reset with
    seed ``s`` starts where a single env reset with seed ``s`` starts.

    Args:
        env: The template env (unwrapped); a regime path already set on it is used by every copy.
        n: Number of copies, >= 1.
    """

    def __init__(self, env: TradingEnv, n: int) -> None:
        if not isinstance(env, TradingEnv):
            raise TypeError(f"env must be a TradingEnv (unwrapped), got {type(env).__name__}")
        if int(n) != n or n < 1:
            raise ValueError(f"n={n!r} must be an integer >= 1 (env copies)")
        self.env, self.n = env, int(n)
        d, lim, rc, am = env.data, env.limits, env.reward_config, env.action_map
        self.o, self.h, self.l, self.c = (np.ascontiguousarray(x, np.float64) for x in (d.open, d.high, d.low, d.close))
        self.day = np.ascontiguousarray(d.day, np.int64)
        self.feat = np.asarray(env._feat_rows, dtype=np.float32)
        self.components = env.features.components
        self.params = np.zeros(_NP)
        values = {
            P_SLIP: env.costs.slippage,
            P_COMM: env.costs.commission,
            P_EXIT_COST: env._exit_cost,
            P_MIN_TRADE: env.min_trade,
            P_EXPOSURE: env.exposure_elsewhere,
            P_MAX_POS: lim.max_position,
            P_MAX_GROSS: lim.max_gross,
            P_DAILY_LOSS: lim.daily_loss,
            P_MAX_DD: lim.max_drawdown,
            P_REDUCE_DD: lim.reduce_drawdown,
            P_REDUCE_SHARPE: lim.reduce_sharpe,
            P_RECOVER_DD: lim.recover_drawdown,
            P_RECOVER_SHARPE: lim.recover_sharpe,
            P_REDUCE_SCALE: lim.reduce_scale,
            P_CRISIS_THR: lim.crisis_threshold,
            P_DAILY_FLOOR: env.risk._daily_floor,
            P_PPY: env.risk.periods_per_year,
            P_SCALE: rc.scale,
            P_ETA: rc.eta,
            P_VAR_FLOOR: rc.var_floor,
            P_DD_PEN: rc.drawdown_penalty,
            P_CLIP_PEN: rc.clip_penalty,
            P_BAR_COST: rc.bar_cost,
            P_AM_MAX_POS: am.max_position,
            P_S_LO: am.stop_range[0],
            P_S_HI: am.stop_range[1],
            P_T_LO: am.target_range[0],
            P_T_HI: am.target_range[1],
        }
        for k, v in values.items():
            self.params[k] = float(v)
        self.iparams = np.zeros(_NQ, np.int64)
        self.iparams[Q_KIND_LOG] = int(rc.kind == "log_return")
        self.iparams[Q_WARMUP] = rc.warmup_bars
        self.iparams[Q_MAX_HOLD] = am.max_hold
        self.iparams[Q_SHARPE_WINDOW] = lim.sharpe_window
        self.iparams[Q_WIN_WINDOW] = env.win_rate_window
        self.reasons = approval_reasons(lim, env.exposure_elsewhere)
        """Approval reason code bit -> text, as :meth:`envs.risk.RiskManager.approve` writes it."""
        self._reason_tuples: dict[int, tuple[str, ...]] = {}
        n_bars = len(d)
        self.fs = np.zeros((n, _NF))
        self.is_ = np.zeros((n, _NI), np.int64)
        self.rets = np.zeros((n, lim.sharpe_window))
        self.wins = np.zeros((n, env.win_rate_window))
        self.curve = np.full((n, n_bars), np.nan)
        self.weights = np.tile(np.asarray(OBS_LAYOUT.default_tier1(), np.float64), (n, 1))
        self.regime = np.full((n, len(REGIMES)), 1.0 / len(REGIMES))
        self.obs = np.zeros((n, OBS_LAYOUT.size), np.float32)
        self.reward = np.zeros(n)
        self.terminated = np.zeros(n, bool)
        self.truncated = np.zeros(n, bool)
        self.info_f = np.zeros((n, _NIF))
        self.info_i = np.zeros((n, _NIJ), np.int64)
        max_events = am.max_hold + 2
        self.ev_i = np.zeros((n, max_events, 4), np.int64)
        self.ev_f = np.zeros((n, max_events, 2))
        self.tr_f = np.zeros((n, _NTF))
        self.tr_u = np.zeros((n, _NTU), np.int64)
        self.rngs: list[np.random.Generator | None] = [None] * n
        self._all = np.ones(n, np.bool_)
        self._dates = env._dates
        self.set_regime_path(None if env._regime_rows is None else np.asarray(env._regime_rows, np.float64))

    # ------------------------------------------------------------------ tier hooks
    def set_regime_path(self, probs: np.ndarray | None) -> None:
        """Regime probabilities of every bar for every copy (``TradingEnv.set_regime_path``; checked there)."""
        env = self.env
        if probs is not None:
            env.set_regime_path(probs)  # the single env's checks and its crisis rule, once
            self.path = np.asarray(env._regime_rows, np.float64)
            self.path_crisis = np.asarray(env._crisis, np.bool_)
            self.path_names = env._regime_names
        else:
            self.path = np.zeros((0, len(REGIMES)))
            self.path_crisis = np.zeros(len(env.data), np.bool_)
            self.path_names = []
        self.has_path = probs is not None

    def set_weights(self, weights: np.ndarray) -> None:
        """Tier 1's weights of every copy, ``(n, 4)``, for the next observation's trade records (slots written by
        the caller)."""
        self.weights[...] = weights

    # ------------------------------------------------------------------ reset
    def reset(self, i: int, *, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """``TradingEnv.reset`` of copy ``i`` (its observation lands in ``obs[i]``)."""
        env = self.env
        if seed is not None or self.rngs[i] is None:
            self.rngs[i], _ = seeding.np_random(seed)
        lo, hi = env.window[0], env.window[1] - 1
        span = env.episode_bars if env.episode_bars is not None else env.action_map.max_hold + 1
        if options and "start" in options:
            start = int(options["start"])
            if not lo <= start < hi:
                raise ValueError(f"options['start']={start} must be a bar in [{lo}, {hi}) of the window")
        elif env.random_start:
            rng = self.rngs[i]
            assert rng is not None
            start = int(rng.integers(lo, max(lo + 1, hi - span + 1)))
        else:
            start = lo
        fs, is_ = self.fs[i], self.is_[i]
        fs[:] = 0.0
        fs[EQ] = fs[EQ0] = fs[HWM] = fs[REQ] = fs[DSE] = env.initial_equity
        is_[:] = 0
        is_[BAR] = is_[START] = start
        is_[END] = hi if env.episode_bars is None else min(hi, start + env.episode_bars)
        is_[RDAY] = self.day[start]
        is_[BLOCKED] = _NONE_DAY
        is_[STATE] = _ACTIVE
        self.rets[i] = 0.0
        self.wins[i] = 0.0
        self.curve[i].fill(np.nan)
        self.curve[i, start] = env.initial_equity
        self.weights[i] = OBS_LAYOUT.default_tier1()
        self.regime[i] = self.path[start] if self.has_path else 1.0 / len(REGIMES)
        _observe(self.fs, self.is_, self.obs, i, 0.0, self.feat, self.weights, self.regime, self.params, self.curve)

    def reset_all(self, seeds: Any = None) -> np.ndarray:
        """Reset every copy (``seeds``: one per copy, or None); returns ``obs`` ``(n, 27)``."""
        seeds = [None] * self.n if seeds is None else list(seeds)
        for i in range(self.n):
            self.reset(i, seed=seeds[i])
        return self.obs

    # ------------------------------------------------------------------ step
    def step(
        self, actions: np.ndarray, active: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Advance every copy (or the ``active`` ones) by one decision; returns ``(obs, reward, terminated,
        truncated)`` (arrays this core reuses: copy what you keep; an inactive copy's rows are left as they were).
        Per-step details are in :meth:`info`, :meth:`trade` and :meth:`events`.

        Raises:
            ValueError: ``actions`` is not ``(n, 4)``, holds NaN or inf, or a copy's episode is over.
        """
        actions = np.asarray(actions)
        if actions.shape != (self.n, 4):
            raise ValueError(f"actions has shape {actions.shape}; expected ({self.n}, 4): one action per copy")
        if not np.isfinite(actions).all():
            i = int(np.argmax(~np.isfinite(actions).all(axis=1)))
            raise ValueError(
                f"action {i}={actions[i].tolist()!r} has a non-finite value (NaN or inf); actions must be finite "
                "numbers (values outside [-1, 1] are clipped): check the policy's output"
            )
        active = self._all if active is None else np.asarray(active, np.bool_)
        over = (self.is_[:, BAR] >= self.is_[:, END]) & active
        if over.any():
            raise RuntimeError(f"copy {int(np.argmax(over))}: episode is over: reset it before step()")
        _step_kernel(
            actions, active, self.fs, self.is_, self.rets, self.wins, self.curve, self.weights, self.regime, self.path,
            self.path_crisis, self.has_path, self.feat, self.o, self.h, self.l, self.c, self.day, self.params,
            self.iparams, self.obs, self.reward, self.terminated, self.truncated, self.info_f, self.info_i,
            self.ev_i, self.ev_f, self.tr_f, self.tr_u,
        )  # fmt: skip
        return self.obs, self.reward, self.terminated, self.truncated

    # ------------------------------------------------------------------ what a step did, as the single env says it
    def reason_tuple(self, codes: int) -> tuple[str, ...]:
        out = self._reason_tuples.get(codes)
        if out is None:
            out = tuple(text for bit, text in self.reasons.items() if codes & bit)
            self._reason_tuples[codes] = out
        return out

    def base_info(self, i: int) -> Info:
        """The info of copy ``i`` after a reset (``TradingEnv._info``)."""
        bar, hwm = int(self.is_[i, BAR]), float(self.fs[i, HWM])
        dd = 1.0 - float(self.fs[i, REQ]) / hwm if hwm > 0 else 0.0
        return Info(
            bar=bar,
            time=self._dates[bar],
            equity=float(self.fs[i, EQ]),
            drawdown=dd if dd > 0.0 else 0.0,
            breaker=_BREAKER_NAMES[self.is_[i, STATE]],
        )

    def info(self, i: int, trade: Record | None = None) -> Info:
        """The info of copy ``i``'s last step, key for key as ``TradingEnv.step`` returns it (``trade``: its closed
        trade when already built with :meth:`trade`)."""
        f, j = self.info_f[i], self.info_i[i]
        bar = int(self.is_[i, BAR])
        info = Info(
            bar=bar,
            time=self._dates[bar],
            equity=float(self.fs[i, EQ]),
            drawdown=float(f[I_DRAWDOWN]),
            breaker=_BREAKER_NAMES[self.is_[i, STATE]],
            requested_size=float(f[I_REQ]),
            approved_size=float(f[I_APPROVED]),
            risk_reasons=self.reason_tuple(int(j[J_REASONS])),
            reward_terms=Record(
                base=float(f[I_BASE]),
                drawdown_penalty=float(f[I_DD_PEN]),
                clip_penalty=float(f[I_CLIP_PEN]),
                bar_cost=float(f[I_BAR_PEN]),
                flat=not j[J_TRADED],
            ),
        )
        if j[J_TRADED]:
            info["trade"] = self.trade(i) if trade is None else trade
        if j[J_NEVENTS]:
            info["breaker_events"] = self.events(i)
        if self.terminated[i] or self.truncated[i]:
            start = int(self.is_[i, START])
            equity = self.curve[i, start : bar + 1].copy()
            equity.flags.writeable = False
            info["episode_equity"] = equity
            info["episode_start"] = start
        return info

    def trade(self, i: int) -> Record:
        """The trade copy ``i`` closed in its last step (``TradingEnv._trade_record``); ask before the weights of
        the next observation are set (the record holds the weights in force at the decision)."""
        f, u = self.tr_f[i], self.tr_u[i]
        decision, exit_bar = int(u[U_DECISION]), int(u[U_EXIT_BAR])
        eq0, eq1 = float(f[T_EQ0]), float(f[T_EQ1])
        regime = tuple(self.path[decision].tolist()) if self.has_path else (1.0 / len(REGIMES),) * len(REGIMES)
        return Record(
            {
                "trade_id": f"{self.env.data.name}-{decision}-{int(u[U_NTH])}",
                "decision_bar": decision,
                "entry_bar": decision + 1,
                "exit_bar": exit_bar,
                "entry_time": self._dates[decision + 1],
                "exit_time": self._dates[exit_bar],
                "entry_price": float(f[T_ENTRY]),
                "exit_price": float(f[T_EXIT_REF]) * (1.0 - self.env.costs.slippage),
                "size": float(f[T_SIZE]),
                "shares": float(f[T_SHARES]),
                "hold": int(u[U_HOLD]),
                "stop": float(f[T_STOP]),
                "target": float(f[T_TARGET]),
                "pnl": eq1 - eq0,
                "net_return": eq1 / eq0 - 1.0,
                "exit_reason": EXIT_REASONS[u[U_REASON]],
                "components": Record(zip(COMPONENTS, self.components[decision].tolist(), strict=False)),
                "weights": Record(zip(COMPONENTS, self.weights[i].tolist(), strict=False)),
                "regime": self.path_names[decision] if self.has_path else None,
                "regime_probs": Record(zip(REGIMES, regime, strict=False)),
            }
        )

    def events(self, i: int) -> tuple[Record, ...]:
        """The breaker's state changes of copy ``i``'s last step (``info["breaker_events"]``)."""
        out = []
        for k in range(int(self.info_i[i, J_NEVENTS])):
            bar, old, new, code = (int(x) for x in self.ev_i[i, k])
            v1, v2 = (float(x) for x in self.ev_f[i, k])
            out.append(
                Record(
                    bar=bar,
                    old=_BREAKER_NAMES[old],
                    new=_BREAKER_NAMES[new],
                    reason=breaker_event_reason(code, v1, v2, self.env.limits),
                )
            )
        return tuple(out)


class TradingVectorEnv(gym.vector.VectorEnv):
    """Gymnasium ``VectorEnv`` of ``num_envs`` copies of :class:`~envs.trading_env.TradingEnv` on one
    :class:`BatchCore`, with Gymnasium's next-step autoreset.

    ``gym.make_vec("tradebrain/TradingBrain-v2", n, vectorization_mode="vector_entry_point", **kw)`` builds it;
    ``kw`` are ``TradingEnv``'s keywords. Infos are dicts of arrays: ``bar``, ``equity``, ``drawdown``,
    ``approved_size`` and ``traded``.
    """

    metadata: dict[str, Any] = {"autoreset_mode": gym.vector.AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(self, num_envs: int = 1, **keywords: Any) -> None:
        self.core = BatchCore(TradingEnv(**keywords), num_envs)
        self.num_envs = num_envs
        self.single_observation_space = self.core.env.observation_space
        self.single_action_space = self.core.env.action_space
        self.observation_space = gym.vector.utils.batch_space(self.single_observation_space, num_envs)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._autoreset = np.zeros(num_envs, bool)

    def _infos(self) -> dict[str, Any]:
        core = self.core
        return {
            "bar": core.is_[:, BAR].copy(),
            "equity": core.fs[:, EQ].copy(),
            "drawdown": core.info_f[:, I_DRAWDOWN].copy(),
            "approved_size": core.info_f[:, I_APPROVED].copy(),
            "traded": core.info_i[:, J_TRADED] != 0,
        }

    def reset(
        self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = (
            [None if seed is None else seed + i for i in range(self.num_envs)] if not isinstance(seed, list) else seed
        )
        for i in range(self.num_envs):
            self.core.reset(i, seed=seeds[i], options=options)
        self._autoreset[:] = False
        return self.core.obs.copy(), self._infos()

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        for i in np.flatnonzero(self._autoreset).tolist():  # next-step autoreset: a new episode, the action ignored
            self.core.reset(i)
        live = ~self._autoreset
        actions = np.asarray(actions, dtype=np.float32).reshape(self.num_envs, 4)
        _, reward, terminated, truncated = self.core.step(actions, live)
        reward = np.where(live, reward, 0.0)
        terminated, truncated = terminated & live, truncated & live
        self._autoreset = terminated | truncated
        return self.core.obs.copy(), reward, terminated, truncated, self._infos()
