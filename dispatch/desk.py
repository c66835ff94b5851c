"""The dispatch side of ``alerts.ports.IncidentDesk``: how an alert gets its incident, its notifications
and a camera's stream. The composition root (``app.wire``) hands an instance to ``alerts.ports.set_desk``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from data.models import Alert, Incident
from dispatch import outbox, service, video


class DispatchDesk:
    """``alerts.ports.IncidentDesk`` answered by the dispatch service, the outbox and the video gateway."""

    def open_incident(
        self, session: Session, *, category_code: str, source: str, title: str, description: str | None,
        lon: float | None, lat: float | None, reported_at: datetime | None, actor: Any | None, auto_file: bool,
        exercise: bool = False, alert: Alert | None = None,
    ) -> Incident:
        """``dispatch.service.create_incident`` with the title cut to ``TITLE_MAX``."""
        return service.create_incident(
            session, category_code=category_code, source=source, title=title[: service.TITLE_MAX],
            description=description, lon=lon, lat=lat, reported_at=reported_at, actor=actor,
            auto_file=auto_file, exercise=exercise, alert=alert,  # alert: issue 17 §2 linkage rules
        )

    def alerts_fired(self, session: Session, alerts: Iterable[tuple[Alert, str | None]]) -> int:
        """``dispatch.outbox.on_alerts``."""
        return outbox.on_alerts(session, alerts)

    def stream_of(self, camera: Any, settings: Any) -> video.Playback | None:
        """``dispatch.video.playback_url``, None for a camera a browser cannot play."""
        try:
            return video.playback_url(camera, settings)
        except video.UnplayableStream:
            return None
