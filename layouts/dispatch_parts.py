"""View pieces shared by the dispatch pages (worker, console, hotline) and their callbacks: a photo
picker, photo thumbnails, masked-phone and satisfaction labels. Not a page: pure functions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from i18n import t

#: The largest photo the browser accepts before shrinking it (bytes).
PHOTO_MAX_BYTES = 12 * 1024 * 1024


def photo_picker(component_id: str | dict, label_key: str, testid: str) -> html.Div:
    """A big "take or choose a photo" button (a phone offers its camera), in a ``data-testid`` box."""
    return html.Div(dcc.Upload(
        html.Div(t(label_key), className="photo-picker-label"),
        id=component_id, accept="image/jpeg,image/png,image/webp", multiple=False, max_size=PHOTO_MAX_BYTES,
        className="photo-picker", className_active="photo-picker active",
    ), **{"data-testid": testid})


def thumbnails(photos: Sequence[dict[str, Any]]) -> html.Div | None:
    """Thumbnails linking to the full photos (``photos`` as ``attachment_to_dict`` gives them)."""
    if not photos:
        return None
    return html.Div(
        [html.A(html.Img(src=p["thumbnail_url"], alt=t(f"photo.kind.{p['kind']}"), className="thumb"),
                href=p["url"], target="_blank", rel="noopener", className="thumb-link",
                **{"data-testid": "photo-thumb"}) for p in photos],
        className="thumbs",
    )
