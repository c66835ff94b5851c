"""Printable doorplate QR sheets (智慧门楼牌, issue 20): one PDF per community, a QR code per doorplate that
opens the public reporting page with that doorplate filled in (``<CITYOPS_PUBLIC_URL>/report?doorplate=CODE``).
QR codes are drawn by segno as inline SVG and the sheet by WeasyPrint; nothing is fetched."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

import segno
from sqlalchemy import or_, select
from sqlalchemy.orm import Session
from weasyprint import HTML

from data.models import Area, Doorplate, Grid
from dispatch.service import InvalidInput
from i18n import t

STYLE = """@page { size: A4; margin: 12mm; }
body { font-family: "Noto Sans CJK SC", sans-serif; font-size: 9pt; }
h1 { font-size: 13pt; margin: 0 0 6mm; }
.sheet { display: flex; flex-wrap: wrap; gap: 4mm; }
.plate { width: 42mm; text-align: center; page-break-inside: avoid; border: 0.3mm solid #999; padding: 2mm; }
.plate svg { width: 36mm; height: 36mm; }
.code { font-family: monospace; font-weight: bold; }"""


def report_url(base_url: str, doorplate_code: str) -> str:
    """The address a doorplate's QR code opens."""
    return f"{base_url.rstrip('/')}/report?doorplate={quote(doorplate_code, safe='')}"


def community_doorplates(session: Session, community: str) -> tuple[Area, list[Doorplate]]:
    """The community called ``community`` (code or name) and its doorplates (through its unit grids), by
    code; InvalidInput ``unknown_community`` when there is none."""
    area = session.scalar(select(Area).where(Area.level == "community",
                                             or_(Area.code == community, Area.name == community)))
    if area is None:
        raise InvalidInput("unknown_community", f"no community {community!r}")
    grids = select(Grid.id).where(Grid.community_id == area.id)
    plates = session.scalars(select(Doorplate).where(Doorplate.grid_id.in_(grids)).order_by(Doorplate.code))
    return area, list(plates)


def qr_sheet_html(community: Area, plates: list[Doorplate], base_url: str, lang: str | None = None) -> str:
    """The sheet as HTML: one labelled QR code per doorplate."""
    cells = []
    for plate in plates:
        svg = segno.make(report_url(base_url, plate.code), error="m").svg_inline(scale=4, border=2)
        cells.append(f'<div class="plate">{svg}<div class="code">{escape(plate.code)}</div>'
                     f'<div>{escape(plate.address)}</div><div>{escape(t("citizen.qr.hint", lang))}</div></div>')
    title = escape(t("citizen.qr.title", lang, community=community.name))
    return (f'<!doctype html><html><head><meta charset="utf-8"><style>{STYLE}</style></head><body>'
            f'<h1>{title}</h1><div class="sheet">{"".join(cells)}</div></body></html>')


def qr_sheet_pdf(session: Session, community: str, base_url: str, lang: str | None = None) -> tuple[bytes, int]:
    """The printable PDF of ``community``'s doorplate QR codes and how many doorplates it holds."""
    area, plates = community_doorplates(session, community)
    return HTML(string=qr_sheet_html(area, plates, base_url, lang)).write_pdf(), len(plates)
