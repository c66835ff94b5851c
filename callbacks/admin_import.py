"""Callbacks of /admin/import: the picked file's name, and a dry run or an import of it as the chosen kind in
the chosen CRS through ``admin.imports`` — the report, or the refusal saying why nothing was imported."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from dash import Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate
from flask import current_app

from admin.imports import import_upload
from callbacks.admin_kit import refused
from callbacks.pagekit import signed_in
from data.importers import ImportReport
from domain.errors import DomainError, Invalid
from i18n import t
from layouts import ids
from layouts.admin_import import report_view


@callback(Output(ids.ADMIN_IMPORT_FILE, "children"), Input(ids.ADMIN_IMPORT_UPLOAD, "filename"),
          prevent_initial_call=True)
def show_file(filename: str | None) -> str:
    """The name of the picked file."""
    return t("admin_import.picked", name=filename) if filename else ""


def content_of(contents: str | None) -> bytes:
    """The bytes of a ``dcc.Upload`` data URL (``data:…;base64,…``)."""
    if not contents or "," not in contents:
        raise Invalid("no_file", "admin_import.no_file", message="pick a file first")
    try:
        return base64.b64decode(contents.split(",", 1)[1], validate=True)
    except (binascii.Error, ValueError):
        raise Invalid("no_file", "admin_import.no_file", message="the upload is not readable") from None


def report_of(report: ImportReport) -> html.Div:
    """The report view of an import."""
    counts = [("added", report.added), ("changed", report.changed), ("unchanged", report.unchanged),
              ("missing", len(report.missing)), ("rejected", len(report.rejected))]
    return report_view(kind=report.kind, dry_run=report.dry_run, counts=counts, missing=report.missing,
                       rejected=report.rejected, notes=sorted(report.notes), messages=report.messages)


@callback(
    Output(ids.ADMIN_IMPORT_REPORT, "children"),
    Input(ids.ADMIN_IMPORT_DRY_RUN, "n_clicks"),
    Input(ids.ADMIN_IMPORT_RUN, "n_clicks"),
    State(ids.ADMIN_IMPORT_UPLOAD, "contents"),
    State(ids.ADMIN_IMPORT_UPLOAD, "filename"),
    State(ids.ADMIN_IMPORT_KIND, "value"),
    State(ids.ADMIN_IMPORT_CRS, "value"),
    State(ids.ADMIN_IMPORT_LAYER, "value"),
    prevent_initial_call=True,
)
def run(_dry: Any, _run: Any, contents: str | None, filename: str | None, kind: str | None, crs: str | None,
        layer: str | None) -> Any:
    """A dry run (nothing written) or the import of the picked file: its report, or why it was refused."""
    if ctx.triggered_id not in (ids.ADMIN_IMPORT_DRY_RUN, ids.ADMIN_IMPORT_RUN):
        raise PreventUpdate
    try:
        report = import_upload(current_app.extensions["cityops_db"], signed_in(), kind or "", filename or "",
                               content_of(contents), crs=crs, layer=(layer or "").strip() or None,
                               dry_run=ctx.triggered_id == ids.ADMIN_IMPORT_DRY_RUN)
    except DomainError as exc:
        return refused(exc)
    return report_of(report)
