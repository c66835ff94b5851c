"""What every callback module shares: one unit of work per callback on the running app's database."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from dash import html
from flask import current_app
from sqlalchemy.orm import Session

from data.db import LAG_NOTICE_S
from i18n import t

log = logging.getLogger(__name__)


@contextmanager
def uow() -> Iterator[Session]:
    """One unit of work for a callback, on the running app's database."""
    with current_app.extensions["cityops_db"].uow() as session:
        yield session


@contextmanager
def read_uow() -> Iterator[Session]:
    """A unit of work for a callback that only reads and may lag a few seconds (the big screen, the
    briefing): on the read replica when ``CITYOPS_DATABASE_READ_URL`` is set, else the same as ``uow()``."""
    with current_app.extensions["cityops_db"].read_uow() as session:
        yield session


def replica_notice(key: str = "replica.behind") -> html.Span | None:
    """"Data may be N s behind" while the read replica lags more than ``LAG_NOTICE_S`` (its lag is measured
    at most every few seconds, ``data.db.LAG_CACHE_S``); None without a replica, when it keeps up, or when its
    lag cannot be read (the reads themselves then fail and say so). ``key``: the i18n text, with ``{seconds}``."""
    try:
        lag = current_app.extensions["cityops_db"].replica_lag()
    except Exception:  # a replica that cannot be reached: no figure to show
        log.warning("cannot read the replica's lag", exc_info=True)
        return None
    if lag is None or lag <= LAG_NOTICE_S:
        return None
    return html.Span(t(key, seconds=round(lag)), className="replica-lag",
                     **{"data-testid": "replica-lag"})
