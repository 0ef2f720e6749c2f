"""Market data by name or file: the bundled datasets, CSV/Parquet files and synthetic markets, as :class:`MarketData`.

Bundled offline datasets (read from the data that ships with the ``arch`` package, NCSA licence):

* ``sp500``: S&P 500 index, daily OHLCV, 1999-01-04 .. 2018-12-31 (5031 bars).
* ``nasdaq``: NASDAQ Composite, daily OHLCV, 1999-01-04 .. 2018-12-31 (5031 bars).
* ``vix``: CBOE VIX close, daily, 2014-01-03 .. 2019-01-03 (1305 bars). Alone it has no OHLCV; use
  :func:`load_dataset` ``("sp500", with_vix=True)`` to get S&P 500 bars joined with VIX on common dates
  (2014-01-03 .. 2018-12-31).
* ``synthetic:<market>[:<seed>]``: a regime-switching market of :data:`envs.synthetic.PRESETS`.

Nothing here touches the network. The validation (:class:`MarketData`, :class:`DataError`) is in :mod:`envs.market`.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import pandas as pd

from envs.layout import COMPONENTS
from envs.market import OHLCV, DataError, MarketData, _is_numeric, _parse_dates, _show

logger = logging.getLogger(__name__)

__all__ = ["DATASETS", "OHLCV", "DataError", "MarketData", "is_file_source", "load", "load_dataset", "load_file"]

DATASETS: tuple[str, ...] = ("sp500", "nasdaq", "vix")


def _arch_frame(name: str) -> pd.DataFrame:
    """A bundled table of the ``arch`` package, read as ``arch.data.<name>.load()`` reads it, without importing
    ``arch`` (whose import takes over a second: it loads its models and statsmodels)."""
    spec = importlib.util.find_spec("arch")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"dataset {name!r} ships with the arch package, which is not installed; pip install arch")
    frame = pd.read_csv(Path(spec.submodule_search_locations[0]) / "data" / name / f"{name}.csv.gz")
    if "Date" in frame:
        frame["Date"] = pd.to_datetime(frame["Date"])
        frame = frame.set_index("Date")
    for col in frame:
        frame[col] = pd.to_numeric(frame[col], errors="coerce")
    if name == "vix":
        return frame
    # arch's copy is the raw Yahoo download; 'Adj Close' equals 'Close' for an index.
    return frame.drop(columns=[c for c in frame.columns if c.lower() == "adj close"])


def load_dataset(name: str, *, with_vix: bool = False, min_bars: int = 2) -> MarketData:
    """Load a bundled dataset by name (offline).

    Args:
        name: ``"sp500"`` or ``"nasdaq"`` (daily OHLCV 1999-2018). ``"vix"`` alone holds no OHLCV and is
            only available through ``with_vix=True`` or the names ``"sp500+vix"`` and ``"nasdaq+vix"``.
            ``"synthetic:<market>[:<seed>]"`` generates a named synthetic market of
            :data:`envs.synthetic.PRESETS` (e.g. ``synthetic:planted_edge``).
        with_vix: Join the VIX close (2014-2019) on common dates; the result starts on 2014-01-03.
        min_bars: Fewest bars accepted.

    Raises:
        DataError: Unknown name (the message lists the valid ones).
    """
    key = str(name).strip().lower()
    if key.endswith("+vix"):  # "sp500+vix": the name the joined data carries, usable as a dataset name
        key, with_vix = key.removesuffix("+vix"), True
    if key.startswith("synthetic:"):
        from envs.synthetic import preset_data  # numpy-heavy: only when a synthetic market is asked for

        return preset_data(key.removeprefix("synthetic:"))
    if key == "vix":
        raise DataError(
            "dataset 'vix' has no OHLCV bars; use 'sp500+vix' (or load_dataset('sp500', with_vix=True)) for S&P 500 "
            "bars joined with the VIX"
        )
    if key not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}; choose one of {list(DATASETS[:2])}, sp500+vix, nasdaq+vix, "
            "synthetic:planted_edge, or give a CSV/Parquet path"
        )
    frame = _arch_frame(key)
    if with_vix:
        frame = frame.join(_arch_frame("vix"), how="inner")
    return MarketData.from_frame(frame, name=key + ("+vix" if with_vix else ""), min_bars=min_bars)


_DATE_COLUMNS: tuple[str, ...] = ("date", "datetime", "timestamp")
_DATA_COLUMNS: frozenset[str] = frozenset({*OHLCV, *COMPONENTS, "vix", "adj_close"})


def _read_table(p: Path) -> pd.DataFrame:
    """Read a CSV or Parquet file; an empty file or one with no rows is a DataError naming the file."""
    suffix = p.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv", ".gz", ".txt"):
        raise DataError(f"data file {p.name!r}: unknown extension {suffix!r}; use .csv or .parquet")
    parquet = suffix in (".parquet", ".pq")
    layout = (
        "save a DataFrame with a DatetimeIndex (or a 'date' column) and columns open, high, low, close, volume"
        if parquet
        else "write a header line `date,open,high,low,close,volume` and one line per bar"
    )
    try:
        frame = pd.read_parquet(p) if parquet else pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {p.name!r} is empty (no header, no rows); {layout}") from None
    except (ValueError, OSError) as exc:
        raise DataError(f"data file {p.name!r} could not be read ({exc}); {layout}") from exc
    if frame.empty:
        raise DataError(f"data file {p.name!r} has no rows (columns {list(frame.columns)}); {layout}")
    return frame


def _date_column(frame: pd.DataFrame, name: str, date_column: str | None, csv: bool) -> str | None:
    """The column that holds the dates (see :func:`load_file`), or None to keep a Parquet file's index."""
    if date_column is not None:
        if date_column not in frame.columns:
            raise DataError(f"{name}: date column {date_column!r} not found; columns are {list(frame.columns)}")
        return date_column
    cols = {str(c).strip().lower(): c for c in frame.columns}
    col = next((cols[k] for k in _DATE_COLUMNS if k in cols), None)
    if col is not None or not csv:
        return col
    first = frame.columns[0]
    if str(first).strip().lower().replace(" ", "_") in _DATA_COLUMNS or _is_numeric(frame[first]):
        raise DataError(
            f"{name}: no date column: no column is called {'/'.join(_DATE_COLUMNS)} and the first column "
            f"{first!r} holds {_show(frame[first].iloc[0])}, not a date; add a 'date' column (e.g. 2010-01-04) "
            "as the first column or pass date_column="
        )
    return first


def load_file(path: str | Path, *, min_bars: int = 2, date_column: str | None = None) -> MarketData:
    """Load OHLCV bars from a CSV or Parquet file.

    The date comes from ``date_column`` when given, else from a column called ``date``/``datetime``/
    ``timestamp`` (case-insensitive), else from the first column (CSV; it must hold dates, not prices or
    numbers) or the index (Parquet).

    Raises:
        DataError: The file is missing, empty, has no rows or no date column, or a date does not parse (the
            message names the row, its line in a CSV and the value); then every check of
            :meth:`MarketData.from_frame`.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"data file {str(p)!r} does not exist; give a CSV/Parquet path or a dataset name")
    frame = _read_table(p)
    csv = p.suffix.lower() not in (".parquet", ".pq")
    if not isinstance(frame.index, pd.DatetimeIndex):
        col = _date_column(frame, p.name, date_column, csv)
        if col is not None:
            dates = _parse_dates(frame[col], f"{p.name}: date column {col!r}", line_offset=2 if csv else None)
            frame = frame.drop(columns=col).set_index(dates)
    return MarketData.from_frame(frame, name=p.name, min_bars=min_bars, line_offset=2 if csv else None)


def is_file_source(source: str | Path) -> bool:
    """Whether :func:`load` reads ``source`` as a file (a path with an extension) rather than a dataset name."""
    return isinstance(source, Path) or (not str(source).startswith("synthetic:") and bool(Path(str(source)).suffix))


def load(source: str | Path | pd.DataFrame | MarketData, *, min_bars: int = 2) -> MarketData:
    """Anything to :class:`MarketData`: a dataset name, a file path, a DataFrame or MarketData itself."""
    if isinstance(source, MarketData):
        if len(source) < min_bars:
            raise DataError(f"{source.name}: {len(source)} bars, need at least {min_bars}; use a longer range")
        return source
    if isinstance(source, pd.DataFrame):
        return MarketData.from_frame(source, min_bars=min_bars)
    if isinstance(source, Path) or (isinstance(source, str) and is_file_source(source)):
        return load_file(source, min_bars=min_bars)
    if isinstance(source, str):
        return load_dataset(source, min_bars=min_bars)
    raise TypeError(f"data source must be a dataset name, path, DataFrame or MarketData; got {type(source).__name__}")
