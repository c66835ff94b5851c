"""The city's own basemap on the map figures (issue 16): the style of the imported basemap the big screen
draws, with this request's URLs (data/basemap.py reads it; /tiles serves what it points at)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import has_request_context, request

from data.basemap import active_style
from settings import get_settings


def basemap_style() -> dict[str, Any] | None:
    """The active basemap's MapLibre style with every URL on the host this request came to, or None when
    none is imported (or outside a request): the map then draws its GeoJSON basemap."""
    if not has_request_context():
        return None
    return active_style(Path(get_settings().basemaps_dir), request.host_url.rstrip("/"))
