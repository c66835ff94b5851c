"""The 12345 hotline seat (/hotline): a call becomes a work order — caller, phone (shown masked),
content, category and a location found by searching doorplate addresses — answered directly (直办)
or transferred (转办) into the dispatch loop; below, the seat's latest orders with the caller's rating
(满意/基本满意/不满意) once an order is closed."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, field, panel

MODES = ("transfer", "direct")


def call_form() -> html.Div:
    """The work-order form of one call."""
    return html.Div(
        [
            html.Div(
                [
                    field("hotline.caller", dcc.Input(id=ids.HOTLINE_CALLER, type="text", maxLength=64,
                                                       className="console-input"), ids.HOTLINE_CALLER),
                    field("hotline.phone", dcc.Input(id=ids.HOTLINE_PHONE, type="tel", maxLength=20,
                                                      className="console-input"), ids.HOTLINE_PHONE),
                ],
                className="field-row",
            ),
            field("hotline.content", dcc.Textarea(id=ids.HOTLINE_CONTENT, className="console-note", maxLength=4000),
                   ids.HOTLINE_CONTENT),
            field("hotline.category", dropdown(id=ids.HOTLINE_CATEGORY, searchable=True, clearable=False,
                                                    placeholder=t("worker.patrol.category_pick")),
                   ids.HOTLINE_CATEGORY),
            field("hotline.address", dropdown(id=ids.HOTLINE_ADDRESS, searchable=True, clearable=True,
                                                   placeholder=t("hotline.address_search")),
                   ids.HOTLINE_ADDRESS),
            field("hotline.mode", dcc.RadioItems(id=ids.HOTLINE_MODE, value="transfer", inline=True,
                                                  options=[{"label": t(f"hotline.mode.{m}"), "value": m}
                                                           for m in MODES]), ids.HOTLINE_MODE),
            field("hotline.answer", dcc.Textarea(id=ids.HOTLINE_ANSWER, className="console-note", maxLength=2000),
                   ids.HOTLINE_ANSWER),
            html.Button(t("hotline.submit"), id=ids.HOTLINE_SUBMIT, className="action-button action-file",
                        **{"data-testid": ids.HOTLINE_SUBMIT}),
            html.Div(id=ids.HOTLINE_MESSAGE, role="status", **{"data-testid": ids.HOTLINE_MESSAGE}),
        ],
        className="hotline-form",
    )


def layout(**_query: str) -> html.Div:
    """The hotline seat; category choices, address matches and the recent orders arrive by callbacks."""
    return html.Div(
        [
            panel(t("hotline.title"), call_form(), class_name="hotline-panel"),
            panel(t("hotline.recent"), html.Div(id=ids.HOTLINE_RECENT), class_name="hotline-panel"),
            dcc.Store(id=ids.HOTLINE_BOOT, data=True),
            dcc.Store(id=ids.HOTLINE_RESULT, data=0),
        ],
        className="hotline",
    )
