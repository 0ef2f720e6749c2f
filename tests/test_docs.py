"""The README and ``docs/`` stay true: links resolve, Python blocks run, commands parse, module paths exist.

What is checked (``docs/index.md``, "How the docs are checked"):

* every relative link of ``README.md`` and ``docs/**/*.md`` points to an existing file or folder, and an anchor into
  a markdown page to one of its headings;
* every fenced ``python`` block runs in a subprocess (cwd a temporary folder, the checkout on ``PYTHONPATH``), unless
  its first line is ``# docs: not run (<reason>)``; at most :data:`MAX_NOT_RUN` such blocks;
* every command line of a ``bash``/``sh``/``console`` block (a ``console`` block's ``$ `` lines): ``tradebrain ...``
  is parsed by :func:`experiments.cli.build_parser`, its ``--set`` keys exist, its ``--config`` is a preset (or a
  path) and the config loads with the line's overrides; ``python -m X`` names an importable module, and the project's
  own scripts parse the line's arguments with their own parser; ``make T`` names a Makefile target. ``[...]`` marks an
  optional part and ``a|b`` alternatives (each alternative is parsed); lines with ``<placeholders>`` are parsed, not
  loaded or run;
* module paths in inline code (``experiments.live.brain.LiveBrain``, ``agents/tier1/bandit.py``) exist, except in
  ``docs/CHANGELOG.md``, which keeps old paths as history;
* the README has at most :data:`README_MAX_LINES` lines, and ``setup.cfg``'s long description is the README.

The checkers are plain functions of strings, so :func:`test_the_checkers_reject_known_bad_lines` shows each can fail.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib
import importlib.util
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS: tuple[Path, ...] = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))
HISTORY = ROOT / "docs" / "CHANGELOG.md"
"""The one page that may name old module paths (it is the history of the moves)."""
README_MAX_LINES = 250
MAX_NOT_RUN = 3
"""Python blocks that may be marked ``# docs: not run (<reason>)``: keep them few."""

FENCE = re.compile(r"^```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^```[ \t]*$", re.M | re.S)
NOT_RUN = re.compile(r"#\s*docs:\s*not run\s*\((?P<reason>[^)]*\w[^)]*)\)")
PYTHON_LANGS = frozenset({"python", "py"})
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
LINK = re.compile(r"\[[^\]]*\]\(\s*<?(?P<target>[^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"^(?:envs|agents|meta|experiments|tests|docs)/[\w./-]*$")
DOTTED = re.compile(r"^(?:envs|agents|meta|experiments)(?:\.[A-Za-z_]\w*)+$")
FILE_NAME = re.compile(r"\.(?:py|md|ya?ml|json|csv|png|zip|onnx|sqlite|npz|txt)$")
PYTHON_EXE = re.compile(r"^python(?:3(?:\.\d+)?)?$")
WRAPPERS = frozenset({"time", "nohup", "env", "exec"})
SEPARATORS = frozenset({";", "&&", "||", "|", "&"})
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a markdown file."""

    path: Path
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    text = path.read_text(encoding="utf-8")
    return [
        Block(path, text.count("\n", 0, m.start()) + 1, m.group("lang").lower(), m.group("body"))
        for m in FENCE.finditer(text)
    ]


BLOCKS: list[Block] = [b for path in DOCS for b in fenced_blocks(path)]
PYTHON_BLOCKS = [b for b in BLOCKS if b.lang in PYTHON_LANGS]
NOT_RUN_BLOCKS = [b for b in PYTHON_BLOCKS if NOT_RUN.match(b.text.lstrip().splitlines()[0] if b.text.strip() else "")]
RUN_BLOCKS = [b for b in PYTHON_BLOCKS if b not in NOT_RUN_BLOCKS]
SHELL_BLOCKS = [b for b in BLOCKS if b.lang in SHELL_LANGS]


def prose(text: str) -> str:
    """``text`` with fenced blocks and inline code blanked out (line numbers kept)."""
    text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return INLINE_CODE.sub(lambda m: " " * len(m.group(0)), text)


def anchors(text: str) -> set[str]:
    """The heading anchors GitHub makes for a markdown text: lower case, punctuation dropped, spaces to hyphens,
    ``-1``, ``-2``, ... for repeats."""
    seen: dict[str, int] = {}
    out = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(path: Path, text: str) -> list[str]:
    """Relative links of a markdown file (its text) that point to nothing, or to a heading a markdown page does not
    have, as ``file:line: target``."""
    out = []
    for m in LINK.finditer(prose(text)):
        target = m.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # http(s):, mailto:
        file_part, _, anchor = target.partition("#")
        if not file_part:  # an anchor on the same page
            ok = anchor in anchors(text)
        else:
            resolved = (path.parent / file_part.split("?", 1)[0]).resolve()
            ok = resolved.exists() and ROOT in (resolved, *resolved.parents)
            if ok and anchor and resolved.suffix == ".md":
                ok = anchor in anchors(resolved.read_text(encoding="utf-8"))
        if not ok:
            line = text.count("\n", 0, m.start()) + 1
            out.append(f"{path.relative_to(ROOT)}:{line}: {target}")
    return out


# ------------------------------------------------------------------ module paths in inline code


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _meta_keys() -> set[str]:
    from experiments.config import config_keys
    from experiments.training.meta import MetaTrainConfig

    return set(config_keys(MetaTrainConfig, "meta.", sections=True))


def stale_module_path(code: str) -> str | None:
    """Why the inline code ``code`` names a path or module that does not exist (None when it exists or is no path)."""
    if REPO_PATH.match(code):
        return None if (ROOT / code).exists() else f"no file or folder {code}"
    if not DOTTED.match(code) or FILE_NAME.search(code):
        return None  # not a dotted path, or a file name such as `meta.py`
    parts = code.split(".")
    k = next(k for k in range(len(parts), 0, -1) if _is_module(".".join(parts[:k])))
    if k == len(parts):
        return None
    module = importlib.import_module(".".join(parts[:k]))
    if hasattr(module, parts[k]):
        return None
    if parts[0] == "meta" and code in _meta_keys():
        return None  # a config key of `tradebrain meta-train` (meta.tasks, meta.maml.iterations), not a module path
    return f"{'.'.join(parts[:k])} has no {parts[k]!r}"


def inline_paths(path: Path) -> Iterator[tuple[int, str]]:
    text = path.read_text(encoding="utf-8")
    blanked = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in INLINE_CODE.finditer(blanked):
        yield blanked.count("\n", 0, m.start()) + 1, m.group(1).strip()


# ------------------------------------------------------------------ shell command lines


def command_lines(block: Block) -> list[str]:
    """The logical command lines of a shell block (continuations and multi-line quotes joined); for ``console``, the
    ``$ `` lines only."""
    raw = block.text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(raw):
        line = raw[i].rstrip()
        i += 1
        if block.lang == "console":
            if not line.startswith("$ "):
                continue
            line = line[2:]
        while i < len(raw) and (line.endswith("\\") or not _quotes_closed(line)):
            line = (line[:-1] + " " if line.endswith("\\") else line + "\n") + raw[i].strip()
            i += 1
        if line.strip() and not line.lstrip().startswith("#"):
            out.append(line)
    return out


def _quotes_closed(line: str) -> bool:
    try:
        shlex.split(line, comments=True)
    except ValueError:  # a quoted string that goes on over the next line
        return False
    return True


def split_commands(line: str) -> list[list[str]]:
    """The simple commands of a line (split at ``;``, ``&&``, ``||``, ``|``), each as tokens, comments dropped."""
    lex = shlex.shlex(line, posix=True, punctuation_chars=";&")
    lex.whitespace_split = True
    tokens = list(lex)
    commands: list[list[str]] = [[]]
    for tok in tokens:
        if tok in SEPARATORS:
            commands.append([])
        else:
            commands[-1].append(tok)
    return [c for c in commands if c]


def variants(tokens: list[str]) -> list[list[str]]:
    """``tokens`` with optional ``[...]`` groups included (brackets removed), ``...`` dropped, and one token list per
    alternative of ``a|b`` tokens (the k-th list takes the k-th alternative of every such token)."""
    plain: list[str] = []
    depth = 0
    for tok in tokens:
        if tok.startswith("[") and (len(tok) == 1 or tok[1] == "-"):
            tok, depth = tok[1:], depth + 1
        if depth and tok.endswith("]") and tok.count("]") > tok.count("["):
            tok, depth = tok[:-1], depth - 1
        if tok and tok != "..." and tok != "[" and tok != "]":
            plain.append(tok)
    n = max([len(t.split("|")) for t in plain if "|" in t and not t.startswith("-")] or [1])
    out = []
    for k in range(n):
        choice = []
        for t in plain:
            alts = t.split("|") if "|" in t and not t.startswith("-") else [t]
            choice.append(alts[min(k, len(alts) - 1)])
        out.append(choice)
    return out


def _command_word(tokens: list[str]) -> int:
    """Index of the command word: past ``VAR=value`` assignments and wrappers (``time``, ``env``, ...)."""
    i = 0
    while i < len(tokens) and (
        ("=" in tokens[i] and not tokens[i].startswith("-")) or Path(tokens[i]).name in WRAPPERS
    ):
        i += 1
    return i


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.M))


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[argparse.Namespace | None, str | None]:
    """``parser.parse_args(argv)``: (namespace, None), (None, None) for --help/--version, or (None, error)."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            return parser.parse_args(argv), None
        except SystemExit as exc:
            if exc.code in (0, None):
                return None, None
            return None, err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {exc.code}"


def _set_keys_problems(command: str, sets: list[str]) -> list[str]:
    from experiments.config import config_keys
    from experiments.walkforward.plan import WalkForwardConfig

    run_keys = set(config_keys())
    wf_keys = {f"walkforward.{f.name}" for f in dataclasses.fields(WalkForwardConfig)}
    problems = []
    for item in sets:
        key = item.split("=", 1)[0].strip()
        if "=" not in item:
            problems.append(f"--set {item!r} is not KEY=VALUE")
        elif "<" in key or key.isupper():
            continue  # a placeholder
        elif key in run_keys or key.startswith("algo_kwargs."):
            continue
        elif command in ("walk-forward", "ablate", "tune") and key in wf_keys:
            continue
        elif command == "meta-train" and key in _meta_keys():
            continue
        else:
            problems.append(f"--set {key}: no such config key for `tradebrain {command}`")
    return problems


def _config_problem(ns: argparse.Namespace, sets: list[str], placeholders: bool) -> str | None:
    """Whether --config names a preset (or a path), and the config loads with the line's overrides."""
    from experiments.config import CONFIG_DIR, load_config

    name = getattr(ns, "config", None)
    if name is None:
        return None
    is_path = "/" in name or name.endswith((".yaml", ".yml"))
    if is_path and not (name.startswith("runs/") or "<" in name or (ROOT / name).is_file()):
        return f"--config {name}: no such file"
    if not is_path and not (CONFIG_DIR / f"{name}.yaml").is_file():
        return f"--config {name}: no such preset in {CONFIG_DIR.relative_to(ROOT)}"
    if is_path or placeholders or getattr(ns, "data", None) or getattr(ns, "windows", None):
        return None  # a run's file, a placeholder or a user's data file: parsed, not loaded
    overrides = [*sets, *([f"train.total_timesteps={ns.timesteps}"] if getattr(ns, "timesteps", None) else [])]
    try:
        if ns.command in ("walk-forward", "ablate"):
            from experiments.walkforward.plan import load_walkforward

            load_walkforward(name, overrides)
        elif ns.command == "meta-train":
            from experiments.training.meta import load_meta

            load_meta(name, overrides)
        elif ns.command == "tune":
            from experiments.tuning.tune import load_tuning_config

            load_tuning_config(name, overrides)
        else:
            load_config(name, overrides=overrides)
    except Exception as exc:  # the CLI would print it as a one-line error
        return f"the config does not load: {exc}"
    return None


def tradebrain_problems(argv: list[str]) -> list[str]:
    from experiments.cli import build_parser

    ns, error = _parse(build_parser(), argv)
    if error:
        return [error]
    if ns is None:
        return []  # --help, --version
    sets = list(getattr(ns, "set", None) or [])
    problems = _set_keys_problems(ns.command, sets)
    config = _config_problem(ns, sets, any("<" in a for a in argv))
    return problems + ([config] if config else [])


class _Parsed(Exception):
    """Raised by the patched ``parse_args`` once a script's parser accepted its arguments."""


def script_problems(module: str, argv: list[str]) -> list[str]:
    """A project script (``python -m experiments...``) parses ``argv`` with its own parser; its ``main`` stops there."""
    if module in ("experiments.cli", "experiments.cli.main"):
        return tradebrain_problems(argv)
    mod = importlib.import_module(module)
    main = getattr(mod, "main", None)
    if main is None:
        return []
    original = argparse.ArgumentParser.parse_args

    def parse_args(self, args=None, namespace=None):  # type: ignore[no-untyped-def]
        raise _Parsed(original(self, args, namespace))

    err = io.StringIO()
    with (
        mock.patch.object(argparse.ArgumentParser, "parse_args", parse_args),
        mock.patch.object(sys, "argv", [module, *argv]),
        contextlib.redirect_stdout(io.StringIO()),
        contextlib.redirect_stderr(err),
    ):
        try:
            main(argv) if inspect.signature(main).parameters else main()
        except _Parsed:
            return []
        except SystemExit as exc:
            if exc.code in (0, None):
                return []
            lines = err.getvalue().strip().splitlines()
            return [f"{module}: {lines[-1] if lines else f'exit {exc.code}'}"]
    return [f"{module}.main() returned without parsing its arguments"]


def command_problems(tokens: list[str]) -> list[str]:
    """What is wrong with one simple command (tokens); [] when it parses or is none of ours."""
    i = _command_word(tokens)
    if i >= len(tokens):
        return []
    word, rest = Path(tokens[i]).name, tokens[i + 1 :]
    problems: list[str] = []
    for argv in variants(rest):
        if word == "tradebrain":
            problems += tradebrain_problems(argv)
        elif PYTHON_EXE.match(word) and argv[:1] == ["-m"] and len(argv) > 1:
            module = argv[1]
            if not _is_module(module):
                problems.append(f"python -m {module}: no such module")
            elif module.startswith("experiments."):
                problems += script_problems(module, argv[2:])
        elif word == "make":
            targets = makefile_targets()
            names = [t for t in argv if not t.startswith("-") and "=" not in t]
            problems += [f"make {t}: no such target" for t in names if t not in targets]
    return problems


def line_problems(line: str) -> list[str]:
    return [p for tokens in split_commands(line) for p in command_problems(tokens)]


# ------------------------------------------------------------------ tests


def test_readme_is_at_most_250_lines():
    n = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; move detail to docs/"


def test_setup_cfg_long_description_is_the_readme():
    from setuptools.config.setupcfg import read_configuration

    cwd = Path.cwd()
    try:
        os.chdir(ROOT)  # setup.cfg's `file: README.md` is relative to the checkout
        meta = read_configuration(ROOT / "setup.cfg")["metadata"]
    finally:
        os.chdir(cwd)
    assert meta["long_description"].strip() == (ROOT / "README.md").read_text(encoding="utf-8").strip()
    assert meta["long_description_content_type"] == "text/markdown"


def test_the_docs_have_blocks_to_check():
    """The extraction finds what is there (a broken fence pattern would make every check below vacuous)."""
    assert len(DOCS) >= 10 and (ROOT / "docs" / "index.md") in DOCS
    assert any(b.path.name == "README.md" for b in RUN_BLOCKS)
    assert len(RUN_BLOCKS) >= 8
    lines = [line for b in SHELL_BLOCKS for line in command_lines(b)]
    assert sum("tradebrain" in line for line in lines) >= 30
    assert sum(" -m experiments." in line for line in lines) >= 15


def test_every_relative_link_resolves():
    broken = [p for path in DOCS for p in broken_links(path, path.read_text(encoding="utf-8"))]
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_module_paths_in_inline_code_exist():
    stale = [
        f"{path.relative_to(ROOT)}:{line}: `{code}`: {why}"
        for path in DOCS
        if path != HISTORY
        for line, code in inline_paths(path)
        if (why := stale_module_path(code))
    ]
    assert not stale, "inline code that names a missing module or file:\n" + "\n".join(stale)


def test_not_run_python_blocks_are_few_and_say_why():
    assert len(NOT_RUN_BLOCKS) <= MAX_NOT_RUN, [b.where for b in NOT_RUN_BLOCKS]
    for b in NOT_RUN_BLOCKS:
        assert NOT_RUN.match(b.text.lstrip().splitlines()[0]).group("reason").strip(), b.where


@pytest.mark.parametrize("block", RUN_BLOCKS, ids=[b.where for b in RUN_BLOCKS])
def test_python_block_runs(block, tmp_path):
    script = tmp_path / (block.where.replace("/", "_").replace(":", "_L") + ".py")
    script.write_text(block.text, encoding="utf-8")
    env = {
        **{name: "1" for name in THREAD_VARS},  # one thread per process, as the project trains: no oversubscription
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "MPLBACKEND": "Agg",
    }
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"the python block at {block.where} failed:\n{done.stderr[-4000:]}"


@pytest.mark.parametrize("block", SHELL_BLOCKS, ids=[b.where for b in SHELL_BLOCKS])
def test_shell_block_commands_parse(block):
    problems = [f"{line!r}: {p}" for line in command_lines(block) for p in line_problems(line)]
    assert not problems, f"commands in {block.where} that would fail:\n" + "\n".join(problems)


def test_the_checkers_reject_known_bad_lines():
    """Each check above can fail: known-bad lines are rejected and their good twins pass."""
    bad = [
        "tradebrain trian",
        "tradebrain train --set train.total_timestep=5",
        "tradebrain train --config quickstrat",
        "tradebrain train --set stack.tiers.tier1=maybe",
        "tradebrain meta-train --set meta.iterations=50",
        "tradebrain walk-forward --jobs N",
        "tradebrain backtest --run runs/x [--model best|latest]",
        ".venv/bin/python -m experiments.backtest",
        "python -m experiments.benchmarks.env_throughput --no-such-flag",
        "make nosuch",
        "cd /tmp && .venv/bin/tradebrain serve",
    ]
    for line in bad:
        assert line_problems(line), f"not rejected: {line}"
    good = [
        "tradebrain train --config quickstart --set train.total_timesteps=5  # a comment",
        "tradebrain meta-train --set meta.maml.iterations=50",
        "tradebrain walk-forward [--jobs 2] [--set walkforward.seeds=[0]] [--run DIR]",
        "tradebrain backtest --run runs/quickstart-<time> [--model best|final]",
        "/usr/bin/time .venv/bin/tradebrain --help",
        "python -m experiments.benchmarks.env_throughput --steps 50000 --wrapped --no-pin",
        "make run",
    ]
    for line in good:
        assert not line_problems(line), (line, line_problems(line))
    page = ROOT / "docs" / "page.md"
    text = "# A `b.c`: d, e\nsee [a](missing.md), [b](index.md#x), [c](https://example.org), [d](#a-bc-d-e)"
    assert broken_links(page, text) == ["docs/page.md:2: missing.md", "docs/page.md:2: index.md#x"]
    assert "how-the-docs-are-checked" in anchors((ROOT / "docs" / "index.md").read_text(encoding="utf-8"))
    assert stale_module_path("experiments/backtest.py") and stale_module_path("agents.live.LiveBrain")
    assert stale_module_path("experiments.live.brain.NoSuchName")
    assert not stale_module_path("experiments.live.brain.LiveBrain") and not stale_module_path("meta.maml.iterations")
