"""Dash callbacks, one module per page; importing this package registers them all.

Dash collects ``@dash.callback`` registrations in process-global lists and moves them into the first app
that serves a request. ``share_with_new_app`` puts them back so that every app built in one process (the
test suite builds many) gets every callback.
"""

from dash import _callback

from callbacks import (  # noqa: F401
    admin,
    admin_categories,
    admin_duty,
    admin_rules,
    admin_sessions,
    alert_inbox,
    bigscreen,
    briefing,
    console,
    hotline,
    maplive,
    shell,
    video,
    worker,
)

_MAP = dict(_callback.GLOBAL_CALLBACK_MAP)
_LIST = list(_callback.GLOBAL_CALLBACK_LIST)
_SCRIPTS = list(_callback.GLOBAL_INLINE_SCRIPTS)


def share_with_new_app() -> None:
    """Make this package's callbacks pending again for the next Dash app to take at its first request."""
    for key, spec in _MAP.items():
        _callback.GLOBAL_CALLBACK_MAP.setdefault(key, spec)
    pending = {id(item) for item in _callback.GLOBAL_CALLBACK_LIST}
    _callback.GLOBAL_CALLBACK_LIST.extend(item for item in _LIST if id(item) not in pending)
    _callback.GLOBAL_INLINE_SCRIPTS.extend(s for s in _SCRIPTS if s not in _callback.GLOBAL_INLINE_SCRIPTS)
