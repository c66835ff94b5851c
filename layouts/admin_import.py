"""/admin/import (issue 16): upload a city's file, pick its KIND and CRS, see the dry run's report (added,
changed, unchanged, missing, rejected rows with their reasons), then import it."""

from __future__ import annotations

from collections.abc import Sequence

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.admin_kit import button, page
from layouts.components import dropdown, field, panel, table

#: The kinds the page imports (the importers of ``python app.py import``), dependencies first.
KINDS = ("areas", "grids", "departments", "categories", "users", "doorplates", "cameras", "sensors", "key-places",
         "resources")
#: The coordinate systems offered (any EPSG code may be typed as well): (value, i18n key).
CRSES = (("EPSG:4326", "admin_import.crs_wgs84"), ("EPSG:4490", "admin_import.crs_cgcs2000"),
         ("gcj02", "admin_import.crs_gcj02"), ("EPSG:3857", "admin_import.crs_web_mercator"),
         *((f"EPSG:{code}", "admin_import.crs_gk") for code in range(4513, 4555)))
#: The largest file the page takes, in bytes (larger ones: ``python app.py import``).
MAX_BYTES = 5 * 1024 * 1024


def report_view(*, kind: str, dry_run: bool, counts: Sequence[tuple[str, int]], missing: Sequence[str],
                rejected: Sequence[tuple[int, str]], notes: Sequence[tuple[int, str]],
                messages: Sequence[str]) -> html.Div:
    """An import's report: the counts, what the database holds and the file does not, the rejected rows
    with their reasons, notes and messages (the new users' activation codes)."""
    head = t("admin_import.dry_run_done" if dry_run else "admin_import.done", kind=t(f"admin_import.kind.{kind}"))
    parts: list[object] = [
        html.Div(head, className="msg msg-ok", role="status"),
        html.Ul([html.Li(f"{t(f'admin_import.{key}')}: {value}", **{"data-testid": f"admin_import-{key}"})
                 for key, value in counts], className="admin_import-counts"),
    ]
    if missing:
        shown = ", ".join(missing[:20]) + (" …" if len(missing) > 20 else "")
        parts.append(html.P(t("admin_import.missing_list", n=len(missing), codes=shown)))
    if rejected:
        parts.append(table([t("admin_import.row"), t("admin_import.reason")], [[str(r), why] for r, why in rejected],
                           row_testid="admin_import-rejected-row"))
    if notes:
        parts.append(table([t("admin_import.row"), t("admin_import.note")], [[str(r), text] for r, text in notes]))
    parts += [html.Pre(text, className="admin_import-message") for text in messages]
    return html.Div(parts)


def layout(**_query: str) -> html.Div:
    """The upload, its kind and CRS, the dry-run and import buttons, the report."""
    kind = dropdown(id=ids.ADMIN_IMPORT_KIND, clearable=False, value=KINDS[0],
                    options=[{"label": t(f"admin_import.kind.{k}"), "value": k} for k in KINDS])
    crs = dropdown(id=ids.ADMIN_IMPORT_CRS, clearable=True, searchable=True, placeholder="EPSG:4326",
                   options=[{"label": f"{value} · {t(key)}", "value": value} for value, key in CRSES])
    upload = html.Div(dcc.Upload(id=ids.ADMIN_IMPORT_UPLOAD, max_size=MAX_BYTES, multiple=False,
                                 children=html.Div(t("admin_import.drop")), className="admin_import-upload"),
                      **{"data-testid": ids.ADMIN_IMPORT_UPLOAD})
    return page(
        "/admin/import", "nav.admin_import",
        panel(t("admin_import.title"),
              [html.P(t("admin_import.help"), className="field-help"), upload,
               html.Div(id=ids.ADMIN_IMPORT_FILE, **{"data-testid": ids.ADMIN_IMPORT_FILE}),
               html.Div([field("admin_import.kind", kind, ids.ADMIN_IMPORT_KIND),
                         field("admin_import.crs", crs, ids.ADMIN_IMPORT_CRS),
                         field("admin_import.layer", dcc.Input(id=ids.ADMIN_IMPORT_LAYER, type="text", maxLength=128,
                                                               className="console-input"), ids.ADMIN_IMPORT_LAYER)],
                        className="field-row"),
               html.Div([button("admin_import.dry_run", ids.ADMIN_IMPORT_DRY_RUN, primary=True),
                         button("admin_import.run", ids.ADMIN_IMPORT_RUN)], className="field-row"),
               dcc.Loading(html.Div(id=ids.ADMIN_IMPORT_REPORT, **{"data-testid": ids.ADMIN_IMPORT_REPORT}))],
              class_name="admin-panel", **{"data-testid": "admin_import"}),
    )
