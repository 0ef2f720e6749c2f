"""Lazy public names for a package's ``__init__`` (PEP 562), so that importing a package pulls in nothing heavy.

Example (a package ``__init__``)::

    from envs.lazy import lazy_exports

    __getattr__, __dir__, __all__ = lazy_exports(__name__, {"TradingEnv": "envs.trading_env"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, names: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package`` that import ``names[name]`` on first use.

    Args:
        package: The package's ``__name__`` (for the error message).
        names: Public name -> the module that defines it.
    """
    table = dict(names)

    def __getattr__(name: str) -> object:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)

    def __dir__() -> list[str]:
        return sorted(table)

    return __getattr__, __dir__, sorted(table)
