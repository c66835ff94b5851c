"""What changed since the browser's copy: every live part and panel of the big screen is sent only when the
digest of its data differs from the one the browser holds (in a Store), else ``no_update``."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from dash import no_update
from plotly.utils import PlotlyJSONEncoder


def digest_of(data: Any) -> str:
    """A short digest of ``data`` (anything JSON-able, components and dataclasses as dicts)."""
    text = json.dumps(data, cls=PlotlyJSONEncoder, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def if_changed(digests: dict[str, str], part: str, data: Any, render: Callable[[], Any]) -> Any:
    """``render()`` when ``data`` differs from what the browser holds for ``part`` (and note its digest),
    else ``no_update``."""
    digest = digest_of(data)
    if digests.get(part) == digest:
        return no_update
    digests[part] = digest
    return render()
