"""Dash callbacks, one module per page; importing this package registers them all (``@dash.callback``:
the one app of the process takes them at its first request)."""

from callbacks import (  # noqa: F401
    admin,
    admin_categories,
    admin_channels,
    admin_city,
    admin_duty,
    admin_import,
    admin_people,
    admin_plans,
    admin_rules,
    admin_sessions,
    admin_settings,
    alert_inbox,
    bigscreen,
    briefing,
    command,
    console,
    hotline,
    maplive,
    shell,
    trends,
    video,
    worker,
)
