"""The package layout keeps its rules: every import points down, no circles, argparse in the CLI, torch loaded lazily.

The import graph is parsed from the source (``ast``), every ``import`` counted, also those inside functions: a lazy
import that points up is still an arrow up. The order of the packages is ``envs < agents < meta < experiments``;
inside ``experiments`` the sub-packages come in the order of :data:`EXPERIMENTS_ORDER` (DESIGN.md section 2).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES: tuple[str, ...] = ("envs", "agents", "meta", "experiments")
"""The project's top-level packages, lowest first."""
EXPERIMENTS_ORDER: tuple[tuple[str, ...], ...] = (
    ("files",),
    ("config",),
    ("evaluation",),
    ("reporting",),
    ("training",),
    ("walkforward",),
    ("tuning",),
    ("live",),
    ("benchmarks", "examples"),
    ("cli",),
)
"""Sub-packages of ``experiments``, lowest first (one tuple: one level; a level may not import its own peers)."""
SCRIPTS: tuple[str, ...] = ("experiments.cli", "experiments.benchmarks", "experiments.examples")
"""Where argparse may be imported: the CLI, and the benchmark and example scripts (each its own entry point)."""


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """The project modules ``name`` imports (``from pkg import mod`` counts as the module ``pkg.mod``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            found.update(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _rank(module: str) -> tuple[int, int]:
    top, _, rest = module.partition(".")
    sub = rest.partition(".")[0]
    level = next((i for i, names in enumerate(EXPERIMENTS_ORDER) if sub in names), -1) if top == "experiments" else 0
    return PACKAGES.index(top), level


def _points_down(src: str, dst: str) -> bool:
    """Whether ``src`` may import ``dst``: a lower package, a lower sub-package of experiments, or its own package."""
    (top_a, sub_a), (top_b, sub_b) = _rank(src), _rank(dst)
    if top_a != top_b:
        return top_b < top_a
    same = src.split(".")[:2] == dst.split(".")[:2] or top_a != PACKAGES.index("experiments")
    return same or sub_b < sub_a


def test_every_import_points_down_between_packages_and_experiments_sub_packages():
    up = [f"{src} -> {dst}" for src, targets in GRAPH.items() for dst in targets if not _points_down(src, dst)]
    assert not up, "imports that point up or sideways:\n" + "\n".join(sorted(up))


def test_the_module_import_graph_has_no_circle():
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(GRAPH[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_an_arrow_up_and_a_circle():
    """The two tests above can fail: an envs module importing agents is an arrow up, a <-> b a circle."""
    assert not _points_down("envs.trading_env", "agents.stack")
    assert not _points_down("experiments.config.loader", "experiments.training.train")
    assert not _points_down("experiments.benchmarks.vec_env", "experiments.examples.cleanrl_ppo")
    assert _points_down("experiments.cli.main", "experiments.config.loader")
    assert "agents.tier1.bandit" in GRAPH["agents.tier1.wrapper"]  # relations are read from the source


def test_argparse_only_in_the_cli_and_the_scripts():
    users = [
        name
        for name, path in MODULES.items()
        if not name.startswith(SCRIPTS) and "argparse" in {n.split(".")[0] for n in _all_imports(path)}
    ]
    assert users == []


def _all_imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            out.add(node.module)
    return out


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize(
    "code",
    [
        "from experiments.cli import build_parser; build_parser()",
        "from experiments.config import load_config; load_config('quickstart', ['ppo.n_steps=64'])",
        "from experiments.training.meta import load_meta; load_meta('meta')",
        "import envs, agents, meta, experiments.live, experiments.evaluation, experiments.training",
        "from experiments.walkforward.plan import load_walkforward; load_walkforward('walkforward')",
        "from experiments.cli import main; assert main(['data', 'sp500']) == 0",
        "from experiments.cli import main; assert main(['train', '--set', 'train.totl_timesteps=5']) == 2",
        "from experiments.cli import main; assert main(['quickstart', '--set', 'stack.test=[2018,2030]']) == 2",
    ],
)
def test_the_parser_data_config_errors_and_package_imports_load_no_torch(code):
    loaded = _run(code + "\nimport sys; print(sorted(m for m in ('torch', 'stable_baselines3') if m in sys.modules))")
    assert loaded.splitlines()[-1] == "[]"


def test_every_package_lists_its_public_names_and_they_resolve():
    names = {
        pkg: _run(f"import {pkg}; print(','.join({pkg}.__all__))").split(",")
        for pkg in ("envs", "agents", "agents.tier1", "agents.tier2", "meta", "experiments.live")
    }
    assert all(names.values())
    code = "\n".join(f"import {pkg}; [getattr({pkg}, n) for n in {pkg}.__all__]" for pkg in names)
    _run(code)
