"""Many Dash apps in one test process. Dash hands the ``@dash.callback`` registrations (process-global lists)
to the first app that serves a request; the product builds one app per process, the test suite builds
many. ``share_callbacks`` wraps ``app.create_app`` so that every app built in the test process gets every
callback again. Dash has no public API for this, so its private lists are used here, in the tests only."""

from __future__ import annotations

import functools
from typing import Any

from dash import _callback

import app
import callbacks  # noqa: F401  (registers every callback before the lists are copied)

_MAP = dict(_callback.GLOBAL_CALLBACK_MAP)
_LIST = list(_callback.GLOBAL_CALLBACK_LIST)
_SCRIPTS = list(_callback.GLOBAL_INLINE_SCRIPTS)


def _pending_again() -> None:
    for key, spec in _MAP.items():
        _callback.GLOBAL_CALLBACK_MAP.setdefault(key, spec)
    pending = {id(item) for item in _callback.GLOBAL_CALLBACK_LIST}
    _callback.GLOBAL_CALLBACK_LIST.extend(item for item in _LIST if id(item) not in pending)
    _callback.GLOBAL_INLINE_SCRIPTS.extend(s for s in _SCRIPTS if s not in _callback.GLOBAL_INLINE_SCRIPTS)


def share_callbacks() -> None:
    """Make ``app.create_app`` put every callback back before it builds an app."""
    if getattr(app.create_app, "shares_callbacks", False):
        return
    build = app.create_app

    @functools.wraps(build)
    def create_app(*args: Any, **kwargs: Any) -> Any:
        _pending_again()
        return build(*args, **kwargs)

    create_app.shares_callbacks = True  # type: ignore[attr-defined]
    app.create_app = create_app
