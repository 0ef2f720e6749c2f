"""Read-only records for ``info`` dicts (closed trades, regime, weights).

A :class:`Record` is a ``dict`` that refuses changes, so it can be shared instead of copied: SB3's vectorised
envs deep-copy every ``info`` on every step, and for an immutable record that copy is the record itself. It
still serialises to JSON, builds DataFrames and unpacks with ``{**record}`` like any dict.
"""

from __future__ import annotations

from typing import Any, NoReturn


class Record(dict):  # type: ignore[type-arg]
    """An immutable ``dict`` (values should be immutable too: numbers, strings, tuples, other Records)."""

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{type(self).__name__} is read-only; copy it first: dict(record) or {{**record, ...}}")

    __setitem__ = __delitem__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only  # type: ignore[assignment]
    __ior__ = _read_only  # type: ignore[assignment]

    def __copy__(self) -> Record:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Record:
        return self

    def __reduce__(self) -> tuple[type[Record], tuple[dict[str, Any]]]:
        return (type(self), (dict(self),))


class Info(dict):  # type: ignore[type-arg]
    """A step's ``info`` dict whose values are immutable, so a deep copy of it is a shallow one.

    SB3's ``DummyVecEnv`` deep-copies every ``info`` on every step (about a fifth of the env stack's cost when
    each value is copied one by one). Callers may add keys (SB3 adds ``terminal_observation`` and ``episode``), but
    every value the env and its wrappers put in is immutable: numbers, strings, tuples, :class:`Record` objects
    and read-only numpy arrays. Copying it therefore copies the mapping and shares the values.
    """

    __slots__ = ()

    def __copy__(self) -> Info:
        return Info(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> Info:
        return Info(self)
