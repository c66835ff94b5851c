"""``GET /healthz``: is the database reachable, and is a scheduler holding its lease (no auth)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from alerts.scheduler import scheduler_status
from api.auth import current_db
from data.models import utcnow
from data.queries import ping

log = logging.getLogger(__name__)

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 ``{"status":"ok","db":"ok","scheduler":...}``; 503 with ``db: "error"`` when the database fails."""
    try:
        with current_db().uow() as session:
            ping(session)
            scheduler = scheduler_status(session, utcnow())
    except Exception:  # any database failure is reported, not raised: this is what monitors poll
        log.exception("health check: database query failed")
        return jsonify({"status": "error", "db": "error", "scheduler": "absent"}), 503
    return jsonify({"status": "ok", "db": "ok", "scheduler": scheduler}), 200
