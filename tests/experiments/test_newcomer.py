"""A researcher's first hour: own data on the first try, auto windows, one-line CLI errors, help and packaging."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from envs.data import load
from experiments.cli import build_parser, main
from experiments.config import ConfigError, check_data_fit, load_config, look_back, window_from_fractions
from experiments.config.windows import AUTO_FRACTIONS
from experiments.evaluation.runfiles import model_path
from experiments.files import sha256_file as file_sha256
from experiments.training.train import ProgressCallback

TINY = [
    "stack.episode_bars=60",
    "stack.tiers.tier2_restarts=1",
    "stack.tiers.tier2_fit_bars=250",
    "ppo.n_steps=64",
    "ppo.batch_size=64",
    "ppo.n_epochs=1",
    "train.total_timesteps=128",
    "train.n_envs=1",
    "train.eval_freq=0",
    "train.checkpoint_freq=0",
]


def _cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def _user_csv(path: Path, sp500, start: str = "2010-01-01") -> Path:
    """Bars as a user brings them: a Date column first, capitalised names, an Adj Close column."""
    frame = sp500.to_frame().loc[start:]
    frame = frame.rename(columns=str.title).rename_axis("Date")
    frame.assign(**{"Adj Close": frame["Close"]}).to_csv(path)
    return path


def test_own_csv_trains_tests_and_reports_with_auto_windows(tmp_path, sp500, capsys, monkeypatch):
    """`quickstart --data FILE` on a user's CSV: auto windows inside the data, the path stored resolved with its
    hash, so `backtest --run` works from another folder and refuses the file once it changed."""
    work = tmp_path / "work"
    work.mkdir()
    _user_csv(work / "bars.csv", sp500)
    monkeypatch.chdir(work)
    args = ["quickstart", "--data", "bars.csv"]
    for item in [*TINY, f"runs_dir={tmp_path / 'runs'}"]:
        args += ["--set", item]
    code, _, err = _cli(args, capsys)
    assert code == 0, err
    (run,) = (tmp_path / "runs").iterdir()
    stored = yaml.safe_load((run / "config.yaml").read_text())
    assert stored["stack"]["data"] == str((work / "bars.csv").resolve())
    assert stored["data_sha256"] == file_sha256(work / "bars.csv")
    data = load(work / "bars.csv")
    first_allowed = data.index[look_back(data, load_config(stored).stack.tiers)]
    train, val, test = (pd.Timestamp(stored["stack"][split][0]) for split in ("train", "val", "test"))
    assert first_allowed == train < val < test <= data.index[-1]
    assert pd.Timestamp(stored["stack"]["test"][1]) > data.index[-1]  # the test window runs to the data's end
    assert "ppo" in (run / "report.md").read_text()

    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    code, _, err = _cli(["backtest", "--run", str(run), "--model", "final"], capsys)
    assert code == 0, err
    with open(work / "bars.csv", "a") as fh:  # the file changes after training
        fh.write(f"2019-01-02,{','.join(['2500'] * 4)},1,2500\n")
    code, _, err = _cli(["backtest", "--run", str(run), "--model", "final"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "bars.csv' changed since this config was written" in err and "data_sha256" in err


def test_auto_windows_split_the_span_after_the_look_back(sp500):
    cfg = load_config("quickstart", windows="auto")
    lead = look_back(sp500, cfg.stack.tiers)
    assert lead == cfg.stack.tiers.tier2_fit_bars  # 750 bars of Tier 2 fit > the features' warm-up
    assert cfg.stack.train[0] == str(sp500.index[lead].date())
    assert cfg.stack.train[1] == cfg.stack.val[0] and cfg.stack.val[1] == cfg.stack.test[0]
    bars = [sp500.index.searchsorted(pd.Timestamp(getattr(cfg.stack, s)[1])) for s in ("train", "val")]
    usable = len(sp500) - lead
    assert [(b - lead) / usable for b in bars] == pytest.approx([0.6, 0.8], abs=1e-3)
    check_data_fit(cfg.stack, sp500)  # auto windows always fit their data
    fractions = load_config("quickstart", ["stack.train=[0.0, 0.5]", "stack.val=[0.5, 0.7]", "stack.test=[0.7, 1]"])
    assert fractions.stack.train[0] == cfg.stack.train[0] and fractions.stack.test[1] == cfg.stack.test[1]
    assert fractions.stack.train[1] < cfg.stack.train[1]
    assert AUTO_FRACTIONS["train"] == (0.0, 0.6)


def test_auto_windows_on_too_short_data_name_the_numbers_and_the_fixes(sp500):
    short = sp500.slice(0, 1000)
    tiers = load_config("quickstart").stack.tiers
    with pytest.raises(ConfigError, match=r"stack.train=\[0, 0.6\] of .* holds 150 bars, fewer than the 250") as info:
        window_from_fractions(short, "train", AUTO_FRACTIONS["train"], tiers)
    assert "the data has 1000 bars and the first 750 are look-back" in str(info.value)
    assert "lower stack.tiers.tier2_fit_bars (now 750, at least 100)" in str(info.value)


@pytest.mark.parametrize(
    ("override", "expect"),
    [
        ("stack.train=[1990-01-01,2003-01-01]", "stack.train=['1990-01-01', '2003-01-01'] starts before 1999-06-25"),
        ("stack.test=[2015-01-01,2021-01-01]", "stack.test=['2015-01-01', '2021-01-01'] ends after the data"),
        # the Tier 2 detector needs 100 bars before the window: no traceback from the fit
        ("stack.train=[1999-03-01,2003-01-01]", "starts before 1999-06-25"),
    ],
)
def test_windows_outside_the_data_are_one_line_with_coverage_and_fix(override, expect, tmp_path, capsys):
    code, _, err = _cli(["train", "--set", override, "--set", f"runs_dir={tmp_path}"], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert expect in err
    assert "sp500 covers 1999-01-04 .. 2018-12-31 (5031 bars)" in err
    assert "--windows auto" in err
    assert not any(tmp_path.iterdir())  # stopped before a run folder was made


def test_dates_and_numbers_in_overrides_take_every_usual_form():
    cfg = load_config(
        "quickstart",
        [
            "stack.test=[2016-01-01,2019-01-01]",  # YAML reads these as dates
            "stack.val=['2013-01-01', 2016-01-01]",
            "train.total_timesteps=1e4",  # YAML 1.1 reads this as a string
            "train.eval_freq=5_000",
            "ppo.learning_rate=3e-4",
        ],
    )
    assert cfg.stack.test == ("2016-01-01", "2019-01-01") and cfg.stack.val == ("2013-01-01", "2016-01-01")
    assert cfg.train.total_timesteps == 10_000 and isinstance(cfg.train.total_timesteps, int)
    assert cfg.train.eval_freq == 5000 and cfg.ppo.learning_rate == pytest.approx(3e-4)
    with pytest.raises(ConfigError, match=r"train.total_timesteps=2.5 must be an integer, written e.g. 10000"):
        load_config("quickstart", ["train.total_timesteps=2.5"])
    with pytest.raises(ConfigError, match=r"'tomorrow' is not a date .* fractions .* or auto"):
        load_config("quickstart", ["stack.test=[tomorrow, 2019-01-01]"])


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["train", "--config", "quickstar"], "did you mean 'quickstart'? valid config names: "),
        (["train", "--set", "total_timesteps=5"], "did you mean 'train.total_timesteps'? top-level keys:"),
        (["train", "--set", "stack.tier2_fit_bars=5"], "did you mean 'stack.tiers.tier2_fit_bars'?"),
        (["train", "--set", "train.n_envs=0"], "train.n_envs=0 must be >= 1"),
        (["train", "--data", "missing.csv"], "data file 'missing.csv' does not exist"),
        (["train", "--set", "train.vec_env=threads"], "train.vec_env='threads' is not one of ['batched', 'dummy'"),
        (["train", "--set", "stack.episode_bars=1"], "stack.episode_bars=1 must be >= 2"),  # the env's own check
        (["train", "--set", "stack.min_trade=2"], "stack.min_trade=2.0 must be in (0, max_position=0.2]"),
        (["train", "--set", "ppo.batch_size=1"], "ppo.batch_size=1 must be >= 2"),
    ],
)
def test_cli_user_errors_are_one_line_and_exit_2(args, expect, capsys):
    code, _, err = _cli(args, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert expect in err
    assert "valid keys" not in err


def test_data_errors_speak_of_the_file_not_of_pandas(tmp_path, sp500, capsys):
    path = _user_csv(tmp_path / "bars.csv", sp500, start="2018-01-01")
    lines = path.read_text().splitlines()
    lines[3] = lines[3].split(",")[0] + ",,1,1,1,1,1"
    path.write_text("\n".join(lines) + "\n")
    code, _, err = _cli(["data", str(path)], capsys)
    assert code == 2
    assert "column 'open' is empty on 2018-01-04 (line 4 of the file); fill or delete that row" in err
    assert "np.float64" not in err and "frame." not in err


def test_a_missing_best_model_is_an_error_with_the_reason_and_the_fix(tmp_path):
    (tmp_path / "model.zip").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"no evaluation on the validation window ran .* --model final"):
        model_path(tmp_path, "best")
    assert model_path(tmp_path, "final") == tmp_path / "model.zip"


def _every_parser(parser: argparse.ArgumentParser, name: str = "tradebrain"):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, p in action.choices.items():
                yield from _every_parser(p, f"{name} {sub}")


def test_help_has_no_markup_and_every_option_says_what_it_does():
    for name, parser in _every_parser(build_parser()):
        text = parser.format_help()
        for markup in ("``", "::", ":func:", ":class:", ":mod:"):
            assert markup not in text, f"{name} --help shows {markup!r}"
        for action in parser._actions:
            if not isinstance(action, argparse._SubParsersAction):
                assert action.help, f"{name}: {action.option_strings or action.dest} has no help"
    data_help = dict(_every_parser(build_parser()))["tradebrain data"].format_help()
    assert "vix" in data_help


def test_version_and_vix_dataset(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("tradebrain 0.")
    code, out, _ = _cli(["data", "sp500+vix"], capsys)
    assert code == 0 and "vix: yes" in out


class _Model:
    tensorboard_log = None


def test_progress_lines_without_a_terminal_stay_within_the_budget():
    """Lines every 10% of the budget; the last rollout's extra steps never show as more than 100%."""
    stream = io.StringIO()
    cb = ProgressCallback(1000, "lines", every=0.1, stream=stream)
    cb.model = _Model()  # type: ignore[assignment]
    cb._on_training_start()
    for steps in range(128, 1025, 128):  # PPO's rollouts overshoot the budget: 1024 > 1000
        cb.num_timesteps = steps
        cb._on_step()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 8  # one per step call that crossed a new 10% mark (128 crosses 10%, 256 crosses 20%, ...)
    assert lines[-1].startswith("train 100% 1,000/1,000 steps")
    assert all("steps/s" in line and "left" in line for line in lines)
    stream = io.StringIO()  # one line per mark, even where a float division would land just below it
    cb = ProgressCallback(400_000, "lines", every=0.05, stream=stream)
    cb.model = _Model()  # type: ignore[assignment]
    cb._on_training_start()
    for mark in range(20_000, 400_001, 20_000):  # exactly on each 5% mark (0.7 / 0.05 = 13.999... in floats)
        for steps in (mark, mark + 4):
            cb.num_timesteps = steps
            cb._on_step()
    percents = [line.split()[1] for line in stream.getvalue().splitlines()]
    assert percents == [f"{k * 5}%" for k in range(1, 21)]
    bar = ProgressCallback(1000, "bar")  # the terminal's bar: never past its total, so its percentage stays
    bar._on_training_start()
    for steps in range(128, 1025, 128):
        bar.num_timesteps = steps
        bar._on_step()
    assert bar.bar is not None and bar.bar.n == 1000 and "100%" in str(bar.bar) and "1000/1000" in str(bar.bar)
    bar._on_training_end()
    bar = ProgressCallback(1000, "off")
    bar._on_training_start()
    bar.num_timesteps = 1024
    bar._on_step()
    assert bar.shown == 1000


def test_the_package_declares_its_data_folders(tmp_path):
    """Building the wheel gives no setuptools warning and ships the configs and the dashboard files."""
    root = Path(__file__).resolve().parents[2]
    files = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"  # a copy: setuptools builds in-tree (build/, *.egg-info), the checkout stays clean
    for name in files:
        if (root / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, src / name)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", str(src), "-w", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "absent from the `packages` configuration" not in proc.stdout + proc.stderr
    import zipfile

    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "experiments/config/presets/quickstart.yaml" in names
    assert "experiments/live/service/static/index.html" in names
    assert not any(n.startswith("tests/") for n in names)


def test_the_tensorboard_line_names_a_command_that_runs_from_where_the_user_is(tmp_path, monkeypatch):
    """In the checkout it is ``.venv/bin/tensorboard``; from another folder (a user's data folder) the absolute path
    of this environment's tensorboard, which exists."""
    from experiments.cli.run import tensorboard_command

    exe = Path(sys.executable).with_name("tensorboard")
    monkeypatch.chdir(tmp_path)
    line = tensorboard_command(Path("runs/x/tb"))
    assert line == f"{exe} --logdir runs/x/tb"
    assert Path(line.split()[0]).is_file()
    monkeypatch.chdir(exe.parent.parent.parent)
    assert tensorboard_command(Path("tb")).startswith(f"{exe.parent.parent.name}/bin/tensorboard ")
