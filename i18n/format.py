"""Numbers as people read them: KPI values (rates in %, undefined as '—', never 0 % or NaN) and
their change against a previous period."""

from __future__ import annotations

import math
from typing import Any

from i18n import t

#: What is shown for a missing or undefined value.
DASH = "—"


def finite(value: Any) -> float | int | None:
    """A finite number, or None (bools, None, NaN and ±inf are not numbers to show)."""
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def format_value(key: str, value: Any) -> str:
    """A KPI value: rates as percentages with one decimal, hours with one, counts whole."""
    number = finite(value)
    if number is None:
        return DASH
    if key.endswith("_rate"):
        return f"{number * 100:.1f}%"
    if isinstance(number, float):
        return f"{number:.1f}"
    return str(number)


def _signed(difference: float) -> str:
    """A difference with its sign ("+3", "-0.5"); no change shows unsigned ("0", "0.0")."""
    text = f"{difference:+.1f}" if isinstance(difference, float) else f"{difference:+d}"
    return text[1:] if float(text) == 0 else text


def format_change(key: str, current: Any, previous: Any) -> str:
    """The change from the previous period: percentage points for rates, a difference otherwise."""
    now, before = finite(current), finite(previous)
    if now is None or before is None:
        return DASH
    if key.endswith("_rate"):
        return t("briefing.points", value=_signed((now - before) * 100.0))
    return _signed(now - before)
