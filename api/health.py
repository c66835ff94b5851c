"""``GET /healthz``: is the database reachable, and is a scheduler holding its lease (no auth)."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from alerts.scheduler import scheduler_status
from api.auth import current_db
from data.db import LAG_NOTICE_S
from data.models import utcnow
from data.queries import ping

log = logging.getLogger(__name__)

health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """200 ``{"status":"ok","db":"ok","scheduler":...}`` (with ``replica`` and ``replica_lag_s`` when reads have
    a replica); 503 with ``db: "error"`` when the database fails."""
    try:
        with current_db().uow() as session:
            ping(session)
            scheduler = scheduler_status(session, utcnow())
    except Exception:  # any database failure is reported, not raised: this is what monitors poll
        log.exception("health check: database query failed")
        return jsonify({"status": "error", "db": "error", "scheduler": "absent"}), 503
    return jsonify({"status": "ok", "db": "ok", "scheduler": scheduler, **_replica()}), 200


def _replica() -> dict[str, object]:
    """With a read replica (``CITYOPS_DATABASE_READ_URL``): ``replica`` "ok", "lagging" (more than 10 s
    behind) or "error" (unreachable), and ``replica_lag_s``; nothing without one."""
    try:
        lag = current_db().replica_lag()
    except Exception:  # reported, not raised: the primary still serves
        log.exception("health check: the read replica's lag cannot be read")
        return {"replica": "error", "replica_lag_s": None}
    if lag is None:
        return {}
    return {"replica": "lagging" if lag > LAG_NOTICE_S else "ok", "replica_lag_s": round(lag, 1)}
