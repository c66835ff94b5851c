"""WSGI entry point of the production profile (DESIGN §2, issue 8): ``gunicorn wsgi:server``.

Each gunicorn worker imports this module and builds its own app with ``app.create_app``: the web only —
no scheduler and no sensor simulator (those run in the one ``python app.py worker`` process, which holds
the database lease). Nothing here migrates or seeds the database; ``scripts/prod`` does that before it
starts the workers. ``CITYOPS_SECRET_KEY`` is required even with ``CITYOPS_DEMO`` set: every worker must
sign and check session cookies with the same key, so demo mode's random per-process key cannot serve.
"""

from __future__ import annotations

from app import StartupError, _settings, create_app

settings = _settings()
if not settings.secret_key:
    raise StartupError("CITYOPS_SECRET_KEY is not set (every web worker must sign sessions with the same key)")

#: The Flask server (with the Dash app on it) that gunicorn serves.
server, _dash_app = create_app(settings)
