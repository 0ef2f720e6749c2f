"""Schemathesis hooks of the property-based tests (loaded with ``SCHEMATHESIS_HOOKS=tests.live.schemathesis_hooks``).

One relation of the bar schema cannot be written in JSON Schema: ``low <= open, close <= high``. Every price is in
range on its own, so a generated bar the test means to be valid (a positive case) has its four prices reordered
into a valid bar: ``low`` the smallest, ``high`` the largest. The brain's 422 for a bar that breaks the relation is
tested on its own (``tests/live/test_service_contract.py``). Negative cases are sent as generated.
"""

from __future__ import annotations

from typing import Any

import schemathesis

PRICES = ("open", "high", "low", "close")


def order_prices(bar: Any) -> None:
    """Make ``bar`` (a dict with four numeric prices) satisfy low <= open, close <= high, in place."""
    if not isinstance(bar, dict):
        return
    values = [bar.get(k) for k in PRICES]
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        bar["low"], bar["high"] = min(values), max(values)  # type: ignore[type-var]


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or not isinstance(case.body, dict):
        return case
    order_prices(case.body.get("bar"))
    bars = case.body.get("bars")
    for bar in bars if isinstance(bars, list) else ():
        order_prices(bar)
    return case
