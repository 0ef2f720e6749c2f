"""Validated market data: :class:`MarketData`, an OHLCV table (+ optional component signals and VIX) checked once and
turned into numpy arrays, and :class:`DataError`, the error that names the column, the date and the fix.

The loaders (bundled datasets, files, synthetic markets by name) are in :mod:`envs.data`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from envs.layout import COMPONENTS

logger = logging.getLogger(__name__)

OHLCV: tuple[str, ...] = ("open", "high", "low", "close", "volume")


class DataError(ValueError):
    """Bad market data. The message names the column, the date and the fix."""


def _first_bad(index: pd.Index, mask: np.ndarray, line_offset: int | None = None) -> str:
    """The date of the first ``True`` in ``mask``, with its line in the source file when ``line_offset`` is known."""
    i = int(np.flatnonzero(mask)[0])
    stamp = index[i]
    date = str(stamp.date()) if hasattr(stamp, "date") else str(stamp)
    return date if line_offset is None else f"{date} (line {i + line_offset} of the file)"


def _normalise_columns(frame: pd.DataFrame) -> pd.DataFrame:
    lower = {c: str(c).strip().lower().replace(" ", "_") for c in frame.columns}
    out = frame.rename(columns=lower)
    dup = out.columns[out.columns.duplicated()].tolist()
    if dup:
        raise DataError(f"columns {dup} appear twice after lower-casing; keep one of each")
    return out


def _is_numeric(values: pd.Series | pd.Index) -> bool:
    return pd.api.types.is_bool_dtype(values.dtype) or pd.api.types.is_numeric_dtype(values.dtype)


def _show(value: object) -> str:
    """``repr`` of a cell, numpy scalars as plain Python ones (``99.5``, not ``np.float64(99.5)``)."""
    item = getattr(value, "item", None)
    return repr(item() if callable(item) else value)


def _parse_dates(values: pd.Series | pd.Index, where: str, line_offset: int | None = None) -> pd.DatetimeIndex:
    """Parse ``values`` as dates, or raise a DataError naming ``where``, the first bad row and its value.

    Numbers are refused (``pd.to_datetime`` would read them as nanoseconds since 1970). ``line_offset`` turns a
    0-based row position into a line number of the source file (2 for a CSV with one header line).
    """
    values = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(values.dtype) or values.empty:
        return pd.DatetimeIndex(values)

    def row(i: int) -> str:
        line = f" (line {i + line_offset} of the file)" if line_offset is not None else ""
        return f"row {i + 1}{line}"

    if _is_numeric(values):
        raise DataError(
            f"{where} holds numbers ({_show(values.iloc[0])} in {row(0)}), not dates; give dates like "
            "'2010-01-04' in a 'date' column or as a DatetimeIndex"
        )
    try:
        parsed = pd.to_datetime(values)
    except (ValueError, TypeError, OverflowError) as exc:
        coerced = pd.to_datetime(values, errors="coerce")
        bad = np.flatnonzero((coerced.isna() & values.notna()).to_numpy())
        if not bad.size:
            raise DataError(f"{where} does not parse as dates ({exc}); write dates like '2010-01-04'") from exc
        i = int(bad[0])
        raise DataError(
            f"{where} {row(i)} is {_show(values.iloc[i])}, not a date; fix or drop that row (dates like '2010-01-04')"
        ) from None
    missing = np.flatnonzero(parsed.isna().to_numpy())
    if missing.size:
        i = int(missing[0])
        raise DataError(f"{where} {row(i)} has no date ({_show(values.iloc[i])}); drop or fill that row")
    return pd.DatetimeIndex(parsed)


def _check_index(frame: pd.DataFrame, name: str, lines: int | None = None) -> pd.DatetimeIndex:
    """The frame's dates, checked: no gaps (NaT), no duplicates, sorted. ``lines``: see :func:`_first_bad`."""
    idx = frame.index
    if not isinstance(idx, pd.DatetimeIndex):
        idx = _parse_dates(idx, f"{name}: index ({type(idx).__name__})")
    if idx.hasnans:
        i = int(np.flatnonzero(idx.isna())[0])
        raise DataError(f"index has a missing date (NaT) in row {i + 1}; drop those rows")
    dups = idx.duplicated()
    if dups.any():
        fix = (
            "delete the repeated line from the file"
            if lines is not None
            else "e.g. frame[~frame.index.duplicated(keep='last')]"
        )
        raise DataError(f"{name}: date {_first_bad(idx, dups, lines)} appears twice; keep one row per date ({fix})")
    if len(idx) > 1:
        back = np.asarray(idx[1:] < idx[:-1])
        if back.any():
            where = _first_bad(idx[1:], back, None if lines is None else lines + 1)
            fix = (
                "sort the file's rows by date, oldest first" if lines is not None else "sort it with frame.sort_index()"
            )
            raise DataError(f"{name}: dates are not sorted: {where} comes after a later date; {fix}")
    return idx


def _check_finite(frame: pd.DataFrame, cols: Sequence[str], idx: pd.DatetimeIndex, lines: int | None = None) -> None:
    for col in cols:
        values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            raw = frame[col].iloc[int(np.flatnonzero(bad)[0])]
            what = "is empty" if pd.isna(raw) else f"holds {_show(raw)}, not a finite number"
            fix = (
                "fill or delete that row"
                if lines is not None
                else "drop or fill those rows (frame.ffill() or frame.dropna())"
            )
            raise DataError(f"column {col!r} {what} on {_first_bad(idx, bad, lines)}; {fix}")


def _check_prices(arrays: dict[str, np.ndarray], idx: pd.DatetimeIndex, lines: int | None = None) -> None:
    for col in ("open", "high", "low", "close"):
        bad = arrays[col] <= 0
        if bad.any():
            raise DataError(
                f"column {col!r} has a non-positive price ({_show(arrays[col][bad][0])}) on "
                f"{_first_bad(idx, bad, lines)}; prices must be > 0: drop the row or fix the source"
            )
    bad = arrays["volume"] < 0
    if bad.any():
        raise DataError(f"column 'volume' is negative on {_first_bad(idx, bad, lines)}; volume must be >= 0")
    hl = arrays["high"] < arrays["low"]
    if hl.any():
        raise DataError(
            f"column 'high' is below 'low' on {_first_bad(idx, hl, lines)}; fix the bar or swap the two columns"
        )
    for col in ("open", "close"):
        out = (arrays[col] > arrays["high"] * (1 + 1e-9)) | (arrays[col] < arrays["low"] * (1 - 1e-9))
        if out.any():
            raise DataError(
                f"column {col!r} lies outside [low, high] on {_first_bad(idx, out, lines)}; fix the bar's high/low"
            )


@dataclass(frozen=True, eq=False)
class MarketData:
    """Validated bars as read-only float64 numpy arrays; build with :meth:`from_frame` or :func:`load_dataset`.

    Attributes:
        index: Bar timestamps, shape ``(n,)``, sorted and unique.
        open, high, low, close, volume: Arrays of shape ``(n,)``.
        components: Shape ``(n, 4)`` user-supplied component scores in [-1, 1] (theme, technical, ai,
            sentiment), or ``None`` when the data has none (the env then computes defaults from OHLCV).
        vix: Shape ``(n,)`` VIX level, or ``None``.
        day: Shape ``(n,)`` integer day number of each bar (days since epoch), for daily limits.
        name: Where the data came from.
    """

    index: pd.DatetimeIndex
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    components: np.ndarray | None
    vix: np.ndarray | None
    day: np.ndarray
    name: str = "frame"

    def __len__(self) -> int:
        return len(self.close)

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, *, name: str = "frame", min_bars: int = 2, line_offset: int | None = None
    ) -> MarketData:
        """Validate a DataFrame and convert it once to numpy.

        Args:
            frame: DatetimeIndex (or an index of date strings; numbers are refused, they are not dates) and
                columns ``open high low close volume``
                (case-insensitive; ``volume`` optional, 0 if absent), optional ``theme technical ai
                sentiment`` (all four or none) in [-1, 1], optional ``vix``.
            name: Label of the source, used in messages.
            min_bars: Fewest bars accepted.
            line_offset: Line of the source file that holds row 0 (2 for a CSV with one header line), so that
                messages name the line to fix; None for a frame built in Python.

        Raises:
            TypeError: ``frame`` is not a DataFrame.
            DataError: An index that is not dates (the message names the row and the value), a missing column,
                NaN/inf, a non-positive price, high < low, unsorted or duplicate dates,
                component scores outside [-1, 1], or fewer than ``min_bars`` bars. The message names the column,
                the date and the fix.
        """
        if not isinstance(frame, pd.DataFrame):
            raise TypeError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
        frame = _normalise_columns(frame)
        if "volume" not in frame.columns:
            frame = frame.assign(volume=0.0)
        missing = [c for c in OHLCV if c not in frame.columns]
        if missing:
            raise DataError(
                f"{name}: missing column(s) {missing}; expected {list(OHLCV)} (case-insensitive), "
                f"have {list(frame.columns)}"
            )
        comp_present = [c for c in COMPONENTS if c in frame.columns]
        if comp_present and len(comp_present) != len(COMPONENTS):
            absent = [c for c in COMPONENTS if c not in frame.columns]
            raise DataError(f"{name}: component columns {absent} missing; give all of {list(COMPONENTS)} or none")
        if len(frame) < min_bars:
            raise DataError(
                f"{name}: {len(frame)} bars, need at least {min_bars} (feature look-back plus one episode); "
                "use a longer date range"
            )
        idx = _check_index(frame, name, line_offset)
        extra = [*comp_present, *(["vix"] if "vix" in frame.columns else [])]
        _check_finite(frame, [*OHLCV, *extra], idx, line_offset)
        arrays = {c: pd.to_numeric(frame[c]).to_numpy(dtype=np.float64, copy=True) for c in (*OHLCV, *extra)}
        _check_prices(arrays, idx, line_offset)
        comps = None
        if comp_present:
            comps = np.column_stack([arrays[c] for c in COMPONENTS])
            bad = np.abs(comps) > 1.0
            if bad.any():
                row, col = np.argwhere(bad)[0]
                raise DataError(
                    f"{name}: column {COMPONENTS[col]!r} = {_show(comps[row, col])} on "
                    f"{_first_bad(idx, np.arange(len(idx)) == row, line_offset)} is outside "
                    "[-1, 1]; rescale the signal (e.g. np.tanh or clip)"
                )
        vix = arrays.get("vix")
        if vix is not None and (vix <= 0).any():
            raise DataError(
                f"{name}: column 'vix' is non-positive on {_first_bad(idx, vix <= 0, line_offset)}; VIX must be > 0"
            )
        day = (
            idx.tz_localize(None).to_numpy().astype("datetime64[D]").astype(np.int64)
            if idx.tz
            else idx.to_numpy().astype("datetime64[D]").astype(np.int64)
        )
        fields = {c: arrays[c] for c in OHLCV}
        for arr in [*fields.values(), comps, vix, day]:
            if arr is not None:
                arr.setflags(write=False)
        return cls(index=idx, components=comps, vix=vix, day=day, name=name, **fields)

    def slice(self, start: int, stop: int) -> MarketData:
        """Bars ``[start, stop)`` as a new :class:`MarketData` (views, no copy)."""
        if not 0 <= start < stop <= len(self):
            raise IndexError(f"slice [{start}, {stop}) outside the {len(self)} bars of {self.name}")
        s = slice(start, stop)
        return MarketData(
            index=self.index[s],
            open=self.open[s],
            high=self.high[s],
            low=self.low[s],
            close=self.close[s],
            volume=self.volume[s],
            components=None if self.components is None else self.components[s],
            vix=None if self.vix is None else self.vix[s],
            day=self.day[s],
            name=self.name,
        )

    def bar_at(self, date: str | pd.Timestamp) -> int:
        """Index of the first bar at or after ``date``."""
        i = int(self.index.searchsorted(pd.Timestamp(date)))
        if i >= len(self):
            raise DataError(f"date {date} is after the last bar of {self.name} ({self.index[-1].date()})")
        return i

    def to_frame(self) -> pd.DataFrame:
        """Back to a DataFrame (for reports and files)."""
        cols: dict[str, np.ndarray] = {c: getattr(self, c) for c in OHLCV}
        if self.components is not None:
            cols.update({c: self.components[:, i] for i, c in enumerate(COMPONENTS)})
        if self.vix is not None:
            cols["vix"] = self.vix
        return pd.DataFrame(cols, index=self.index)
