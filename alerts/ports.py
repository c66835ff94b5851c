"""The ports of the alerts package: what it asks of the rest of the product without importing it.

``alerts`` and ``dispatch`` are independent of each other (import-linter checks it). When an alert needs an
incident, a notification or a camera's stream, it asks the ``IncidentDesk`` that the composition root
(``app.wire``) set at start — ``dispatch.desk.DispatchDesk`` in the product, the same in tests'
``conftest`` — through ``desk()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from data.models import Alert, Incident


class Stream(Protocol):
    """How a browser plays a camera: ``kind`` (``hls``, ``mjpeg``, ``jpeg``) and ``url``."""

    kind: str
    url: str


class IncidentDesk(Protocol):
    """The dispatch loop as the alerts package sees it: "an alert asks for an incident"."""

    def open_incident(
        self, session: Session, *, category_code: str, source: str, title: str, description: str | None,
        lon: float | None, lat: float | None, reported_at: datetime | None, actor: Any | None, auto_file: bool,
        exercise: bool = False, alert: Alert | None = None,
    ) -> Incident:
        """Report (or, with ``auto_file``, file) an incident; a too long ``title`` is cut to fit. ``alert``: the
        alert it is for (the linkage rules of issue 17 §2 match its rule, sensor family and level).
        Raises ``domain.errors.DomainError`` (e.g. an unknown category)."""
        ...

    def alerts_fired(self, session: Session, alerts: Iterable[tuple[Alert, str | None]]) -> int:
        """Queue the notifications of firing alerts (each with its rule's incident category); how many."""
        ...

    def stream_of(self, camera: Any, settings: Any) -> Stream | None:
        """How a browser plays ``camera`` (``code``, ``stream_url``) via the gateway ``settings``; None: it cannot."""
        ...


_DESK: list[IncidentDesk] = []


def set_desk(desk: IncidentDesk) -> None:
    """Wire the desk (the composition root does, once at start; tests' conftest too)."""
    _DESK[:] = [desk]


def desk() -> IncidentDesk:
    """The wired desk; RuntimeError when nobody wired one (a composition root forgot ``app.wire``)."""
    if not _DESK:
        raise RuntimeError("alerts.ports: no IncidentDesk is wired (app.wire() does it at start)")
    return _DESK[0]
