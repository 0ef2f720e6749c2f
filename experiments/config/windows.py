"""The date windows ``stack.train``, ``stack.val`` and ``stack.test``: their checks and their resolution.

Each is ``[start, stop)`` with dates ``YYYY-MM-DD`` and start < stop, and they come in the order train < val < test
without overlapping (one window's stop may equal the next one's start). ``auto`` and fractional windows become
dates of the data after the look-back (features, Tier 2 fit); :func:`check_data_fit` checks windows against data.
"""

from __future__ import annotations

import dataclasses
import itertools

import pandas as pd

from agents.config import TIER2_MIN_FIT_BARS, StackConfig, TierConfig
from envs.data import MarketData
from experiments.config.errors import ConfigError

SPLITS: tuple[str, ...] = ("train", "val", "test")
"""The date windows of :class:`~agents.stack.StackConfig`, in the order they must come."""


WINDOW_FORMS = (
    "dates 'YYYY-MM-DD' like ['2010-01-01', '2012-01-01'] (quoted or not), "
    "fractions of the data's usable span like [0.6, 0.8], or auto"
)
"""The accepted forms of ``stack.train``, ``stack.val`` and ``stack.test``, for messages."""


AUTO_FRACTIONS: dict[str, tuple[float, float]] = {"train": (0.0, 0.6), "val": (0.6, 0.8), "test": (0.8, 1.0)}
"""``auto`` windows: these fractions of the data's usable span (the bars after the look-back)."""


MIN_WINDOW_BARS: dict[str, int] = {"train": 250, "val": 60, "test": 60}
"""Fewest bars an ``auto`` or fractional window may hold."""


def _window_dates(stack: StackConfig, split: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start and stop of ``stack.<split>`` as timestamps; ConfigError naming the key, the value and the fix."""
    key, window = f"stack.{split}", tuple(getattr(stack, split))
    stamps = []
    for value in window:
        reason = "it does not start with a year"
        if str(value)[:1].isdigit():  # pd.Timestamp would also take "now" and "today"
            try:
                stamps.append(pd.Timestamp(str(value)))
                continue
            except ValueError as exc:
                reason = str(exc)
        raise ConfigError(f"{key}={list(window)!r}: {value!r} is not a date ({reason}); write {WINDOW_FORMS}")
    start, stop = stamps
    if start >= stop:
        fix = [window[1], window[0]] if start > stop else [window[0], str((start + pd.DateOffset(years=1)).date())]
        raise ConfigError(
            f"{key}={list(window)!r} is empty or reversed: start {window[0]!r} must be before stop {window[1]!r} "
            f"(windows are [start, stop)); e.g. {key}={fix!r}"
        )
    return start, stop


def check_windows(stack: StackConfig) -> None:
    """Check ``stack.train``, ``stack.val`` and ``stack.test``: dates, start < stop, train < val < test.

    Windows are half-open ``[start, stop)``: ``train`` may stop on the date ``val`` starts.

    Raises:
        ConfigError: A window that is not dates, is reversed, overlaps another or comes in the wrong order; the
            message names the keys, the values and the fix.
    """
    dates = {split: _window_dates(stack, split) for split in SPLITS}
    for early, late in itertools.pairwise(SPLITS):
        if dates[early][1] > dates[late][0]:
            a, b = list(getattr(stack, early)), list(getattr(stack, late))
            how = "overlaps" if dates[early][0] < dates[late][1] else "comes after"
            raise ConfigError(
                f"stack.{early}={a!r} {how} stack.{late}={b!r}: windows go {' < '.join(SPLITS)} and must not "
                f"overlap; end stack.{early} on or before {b[0]!r} (its stop may equal the start of stack.{late})"
            )


def look_back(data: MarketData, tiers: TierConfig) -> int:
    """Bars at the start of ``data`` no window may use: the features' warm-up, and the Tier 2 fit when it is on."""
    from envs.features import compute_features

    return max(compute_features(data).first_valid, tiers.tier2_fit_bars if tiers.tier2 else 0)


def window_from_fractions(
    data: MarketData, split: str, fractions: tuple[float, float], tiers: TierConfig
) -> tuple[str, str]:
    """The ``[start, stop)`` dates of the fractions ``[a, b]`` of the data's bars after :func:`look_back`.

    Raises:
        ConfigError: Reversed fractions or a window of fewer than :data:`MIN_WINDOW_BARS` bars; the message
            says how many bars the data has, how many the look-back takes, and the fixes.
    """
    a, b = fractions
    key = f"stack.{split}"
    if not a < b:
        raise ConfigError(f"{key}=[{a:g}, {b:g}]: fractions go [start, stop) with start < stop, e.g. [0.6, 0.8]")
    n, lead = len(data), look_back(data, tiers)
    lo, hi = lead + round(a * (n - lead)), lead + round(b * (n - lead))
    if hi - lo < MIN_WINDOW_BARS[split]:
        fit = (
            f"lower stack.tiers.tier2_fit_bars (now {tiers.tier2_fit_bars}, at least {TIER2_MIN_FIT_BARS}) or turn "
            "Tier 2 off (stack.tiers.tier2=false), "
            if tiers.tier2
            else ""
        )
        raise ConfigError(
            f"{key}=[{a:g}, {b:g}] of {data.name} holds {hi - lo} bars, fewer than the {MIN_WINDOW_BARS[split]} "
            f"a {split} window needs: the data has {n} bars and the first {lead} are look-back; use longer data, "
            f"{fit}or give {key} a larger share"
        )
    stop = str(data.index[hi].date()) if hi < n else str((data.index[-1] + pd.Timedelta(days=1)).date())
    return str(data.index[lo].date()), stop


def check_data_fit(stack: StackConfig, data: MarketData | None = None) -> None:
    """Check that the windows lie inside the data with the look-back they need (features, Tier 2 fit).

    Raises:
        ConfigError: One line naming every window that does not fit, what the data covers, and the fixes.
    """
    from envs.data import load
    from envs.features import compute_features

    data = load(stack.data) if data is None else data
    index, n = data.index, len(data)
    first = max(compute_features(data).first_valid, TIER2_MIN_FIT_BARS if stack.tiers.tier2 else 0)
    if first >= n:
        raise ConfigError(f"{data.name} has {n} bars, fewer than the {first} bars of look-back a window needs")
    earliest, latest = index[first], index[-1].normalize() + pd.offsets.BDay(1)
    problems = []
    for split in SPLITS:
        start, stop = _window_dates(stack, split)
        window = list(getattr(stack, split))
        if start < earliest:
            problems.append(f"stack.{split}={window!r} starts before {earliest.date()}")
        elif stop > latest:
            problems.append(f"stack.{split}={window!r} ends after the data")
        elif index.searchsorted(stop) - index.searchsorted(start) < 2:
            problems.append(f"stack.{split}={window!r} holds fewer than 2 bars")
    if not problems:
        _check_env_settings(stack, data)
    if problems:
        need = "the features" + (" and the Tier 2 fit" if stack.tiers.tier2 else "")
        raise ConfigError(
            f"{'; '.join(problems)}: {data.name} covers {index[0].date()} .. {index[-1].date()} ({n} bars) and "
            f"windows can start on {earliest.date()}, after {first} bars of look-back for {need}; give windows inside "
            "that span, "
            "fractions of it (--set 'stack.train=[0.0, 0.6]'), or auto windows (--windows auto, the default with "
            "--data FILE)"
        )


def _check_env_settings(stack: StackConfig, data: MarketData) -> None:
    """Build the bare training env once, so its own checks of ``stack`` (episode length, hold, minimum trade,
    equity, ...) stop a command before any work, with the key as a dotted ``stack.`` path."""
    from agents.config import base_env

    try:
        base_env(stack, data, "train")
    except (TypeError, ValueError) as exc:
        text = str(exc)
        key = text.split("=", 1)[0] if "=" in text.split(" ", 1)[0] else ""
        raise ConfigError(
            f"stack.{text}" if key in {f.name for f in dataclasses.fields(StackConfig)} else text
        ) from None
