from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from envs.data import DataError, MarketData, load, load_dataset, load_file


def _frame(n: int = 30) -> pd.DataFrame:
    close = 100 + np.arange(n, dtype=float)
    return pd.DataFrame(
        {"Open": close - 0.5, "High": close + 1, "Low": close - 1, "Close": close, "Volume": 1000.0},
        index=pd.bdate_range("2010-01-01", periods=n),
    )


def test_bundled_sp500_and_nasdaq_cover_1999_to_2018(sp500):
    assert len(sp500) == 5031
    assert str(sp500.index[0].date()) == "1999-01-04" and str(sp500.index[-1].date()) == "2018-12-31"
    nasdaq = load_dataset("NASDAQ")
    assert nasdaq.close[0] == pytest.approx(2208.050049)
    assert sp500.components is None and sp500.vix is None
    assert not sp500.close.flags.writeable


def test_vix_joins_on_common_dates():
    d = load_dataset("sp500", with_vix=True)
    assert str(d.index[0].date()) == "2014-01-03" and d.vix is not None
    assert d.vix[0] == pytest.approx(13.76)


def test_day_numbers_follow_calendar_dates(sp500):
    assert sp500.day[1] - sp500.day[0] == 1  # 1999-01-04 -> 01-05
    assert np.all(np.diff(sp500.day) >= 1)


@pytest.mark.parametrize(
    ("name", "match"),
    [("sp600", "unknown dataset 'sp600'.*sp500"), ("vix", "no OHLCV.*with_vix=True")],
)
def test_unknown_or_ohlcv_less_dataset_names_the_fix(name, match):
    with pytest.raises(DataError, match=match):
        load_dataset(name)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (
            lambda f: f.__setitem__("Close", f["Close"].where(f.index != f.index[5], np.nan)),
            r"'close' is empty on 2010-01-08; drop or fill",
        ),
        (
            lambda f: f.__setitem__("Open", f["Open"].where(f.index != f.index[3], np.inf)),
            r"'open' holds inf, not a finite number on 2010-01-06",
        ),
        (
            lambda f: f.__setitem__("Low", f["Low"].where(f.index != f.index[2], -1.0)),
            r"'low'.*non-positive.*2010-01-05.*> 0",
        ),
        (
            lambda f: f.__setitem__("High", f["High"].where(f.index != f.index[4], 1.0)),
            r"'high' is below 'low' on 2010-01-07",
        ),
    ],
)
def test_bad_values_name_column_date_and_fix(mutate, match):
    f = _frame()
    mutate(f)
    with pytest.raises(DataError, match=match):
        MarketData.from_frame(f)


def test_unsorted_dates():
    f = _frame()
    f = f.iloc[[0, 1, 3, 2, *range(4, len(f))]]
    with pytest.raises(DataError, match=r"not sorted: 2010-01-05.*sort_index"):
        MarketData.from_frame(f)


def test_duplicate_dates():
    f = _frame()
    f = pd.concat([f.iloc[:5], f.iloc[4:5], f.iloc[5:]])
    with pytest.raises(DataError, match=r"date 2010-01-07 appears twice; keep one row"):
        MarketData.from_frame(f)


def test_csv_errors_name_the_line_and_a_fix_in_file_terms(tmp_path):
    """A CSV's bad cell, repeated date or unsorted row is named by its line in the file, the fix in file terms."""
    f = _frame().rename_axis("date")
    path = tmp_path / "bars.csv"
    f.to_csv(path)
    lines = path.read_text().splitlines()
    lines[6] = lines[6].split(",")[0] + ",,1,1,1,0"  # the 6th bar (line 7 of the file): empty open
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError, match=r"'open' is empty on 2010-01-08 \(line 7 of the file\); fill or delete that row"
    ):
        load_file(path)
    lines = path.read_text().splitlines()
    lines[6] = lines[6].split(",")[0] + ",abc,1,1,1,0"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"'open' holds 'abc', not a finite number on 2010-01-08 \(line 7"):
        load_file(path)
    f.iloc[[0, 1, 3, 2, *range(4, len(f))]].to_csv(path)
    with pytest.raises(DataError, match=r"not sorted: 2010-01-05 \(line 5 of the file\).*sort the file's rows"):
        load_file(path)
    pd.concat([f.iloc[:5], f.iloc[4:5], f.iloc[5:]]).to_csv(path)
    with pytest.raises(DataError, match=r"2010-01-07 \(line 7 of the file\) appears twice.*delete the repeated line"):
        load_file(path)
    for bad in ("np.float64", "sort_index", "frame."):
        try:
            load_file(path)
        except DataError as exc:
            assert bad not in str(exc)


def test_too_few_bars_and_missing_columns():
    with pytest.raises(DataError, match=r"3 bars, need at least 10.*longer date range"):
        MarketData.from_frame(_frame(3), min_bars=10)
    with pytest.raises(DataError, match=r"missing column\(s\) \['close'\]"):
        MarketData.from_frame(_frame().drop(columns="Close"))
    with pytest.raises(TypeError, match="DataFrame"):
        MarketData.from_frame([1, 2, 3])  # type: ignore[arg-type]


def test_component_columns_all_or_none_and_in_range():
    f = _frame()
    f["theme"] = 0.1
    with pytest.raises(DataError, match=r"\['technical', 'ai', 'sentiment'\] missing"):
        MarketData.from_frame(f)
    for c in ("technical", "ai", "sentiment"):
        f[c] = 0.0
    f.loc[f.index[7], "ai"] = 1.5
    with pytest.raises(DataError, match=r"'ai' = 1.5 on 2010-01-12 is outside \[-1, 1\]"):
        MarketData.from_frame(f)


def test_csv_and_parquet_round_trip(tmp_path):
    f = _frame()
    f.index.name = "Date"
    f.to_csv(tmp_path / "bars.csv")
    f.to_parquet(tmp_path / "bars.parquet")
    a, b = load_file(tmp_path / "bars.csv"), load(str(tmp_path / "bars.parquet"))
    np.testing.assert_array_equal(a.close, f["Close"].to_numpy())
    np.testing.assert_array_equal(b.high, f["High"].to_numpy())
    assert a.index.equals(b.index)
    with pytest.raises(DataError, match="does not exist"):
        load_file(tmp_path / "missing.csv")


def test_empty_file_error_names_the_file(tmp_path):
    (tmp_path / "bars.json").write_text("{}")
    with pytest.raises(DataError, match=r"bars.json.*unknown extension '.json'.*csv"):
        load_file(tmp_path / "bars.json")


def _write_csv(tmp_path, frame: pd.DataFrame, name: str = "bars.csv", **kwargs) -> str:
    path = tmp_path / name
    frame.to_csv(path, **kwargs)
    return str(path)


def test_empty_csv_names_the_file_and_the_layout(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"'empty.csv' is empty.*header line `date,open,high,low,close,volume`"):
        load_file(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("date,open,high,low,close,volume\n")
    with pytest.raises(DataError, match=r"'header.csv' has no rows.*one line per bar"):
        load_file(tmp_path / "header.csv")


@pytest.mark.parametrize(("bad", "shown"), [("2010-13-01", "'2010-13-01'"), ("soon", "'soon'"), ("", "nan")])
def test_unparseable_date_names_the_row_line_and_value(tmp_path, bad, shown):
    f = _frame().rename_axis("date").reset_index()
    f["date"] = f["date"].dt.strftime("%Y-%m-%d")
    f.loc[4, "date"] = bad
    path = _write_csv(tmp_path, f, index=False)
    verb = "has no date" if bad == "" else "is"
    with pytest.raises(
        DataError, match=rf"bars.csv: date column 'date' row 5 \(line 6 of the file\) {verb} \(?{shown}"
    ):
        load_file(path)


@pytest.mark.parametrize("keep_index", [False, True])
def test_csv_without_a_date_column_is_refused_not_read_as_dates(tmp_path, keep_index):
    f = _frame().reset_index(drop=True)  # no dates at all: prices only (+ a row number column)
    path = _write_csv(tmp_path, f, index=keep_index)
    first = "Unnamed: 0" if keep_index else "Open"
    with pytest.raises(
        DataError, match=rf"bars.csv: no date column.*first column '{first}' holds .*not a date.*'date'"
    ):
        load_file(path)


def test_parquet_or_frame_without_dates_is_refused(tmp_path):
    f = _frame().reset_index(drop=True)
    f.to_parquet(tmp_path / "bars.parquet")
    with pytest.raises(DataError, match=r"bars.parquet: index \(RangeIndex\) holds numbers \(0 in row 1\), not dates"):
        load_file(tmp_path / "bars.parquet")
    with pytest.raises(DataError, match=r"frame: index \(RangeIndex\) holds numbers"):
        MarketData.from_frame(f)


@pytest.mark.parametrize(
    ("layout", "kwargs"),
    [
        ("first column, unnamed", {}),
        ("Date", {}),
        ("timestamp", {}),
        ("datetime, not first", {}),
        ("Day", {"date_column": "Day"}),
    ],
)
def test_real_world_csv_layouts_still_load(tmp_path, layout, kwargs):
    f = _frame()
    name = layout.split(",")[0]
    if name == "first column":
        path = _write_csv(tmp_path, f)
    elif name in ("Date", "timestamp"):
        path = _write_csv(tmp_path, f.rename_axis(name))
    else:
        g = f.rename_axis(name).reset_index()
        path = _write_csv(tmp_path, g[["Open", "High", name, "Low", "Close", "Volume"]], index=False)
    d = load_file(path, **kwargs)
    assert d.index.equals(pd.DatetimeIndex(f.index))
    np.testing.assert_array_equal(d.close, f["Close"].to_numpy())


def test_string_dates_in_a_frame_index_still_parse():
    f = _frame()
    f.index = f.index.strftime("%Y-%m-%d")
    assert str(MarketData.from_frame(f).index[3].date()) == "2010-01-06"
