"""The 12345 hotline seat (/hotline): a call becomes a work order — caller, phone (shown masked),
content, category and a location found by searching doorplate addresses — answered directly (直办)
or transferred (转办) into the dispatch loop; below, the seat's latest orders, the replies owed to callers
of closed orders (统一回复), the follow-up calls (回访: reached or not, 满意/基本满意/不满意, a dissatisfied
caller's order reopened) and the chase ledger (催办台账) of transferred orders near or past their deadline."""

from __future__ import annotations

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.components import dropdown, field, panel

MODES = ("transfer", "direct")
#: What the seat may record of a follow-up call: not reached, or the reached caller's satisfaction.
FOLLOWUP_RESULTS = ("not_reached", "satisfied", "basically_satisfied", "dissatisfied")


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


def _submit(label_key: str, component_id: str) -> html.Button:
    return html.Button(t(label_key), id=component_id, className="action-button action-file",
                       **{"data-testid": component_id})


def reply_form() -> html.Div:
    """The reply (统一回复) given to the caller of a closed order."""
    return html.Div(
        [
            field("hotline.reply.order", dropdown(id=ids.HOTLINE_REPLY_ORDER, searchable=True, clearable=True,
                                                  placeholder=t("hotline.reply.pick")), ids.HOTLINE_REPLY_ORDER),
            field("hotline.reply.text", dcc.Textarea(id=ids.HOTLINE_REPLY_TEXT, className="console-note",
                                                     maxLength=2000), ids.HOTLINE_REPLY_TEXT),
            _submit("hotline.reply.submit", ids.HOTLINE_REPLY_SUBMIT),
        ],
        className="hotline-form",
    )


def followup_form() -> html.Div:
    """The result of one follow-up call (回访), and the pending calls."""
    return html.Div(
        [
            field("hotline.followup.order", dropdown(id=ids.HOTLINE_FOLLOWUP_ORDER, searchable=True, clearable=True,
                                                     placeholder=t("hotline.followup.pick")),
                  ids.HOTLINE_FOLLOWUP_ORDER),
            field("hotline.followup.result", dcc.RadioItems(
                id=ids.HOTLINE_FOLLOWUP_RESULT, inline=True,
                options=[{"label": t(f"hotline.followup.{r}"), "value": r} for r in FOLLOWUP_RESULTS]),
                  ids.HOTLINE_FOLLOWUP_RESULT),
            field("hotline.followup.reason", dcc.Textarea(id=ids.HOTLINE_FOLLOWUP_REASON, className="console-note",
                                                          maxLength=2000), ids.HOTLINE_FOLLOWUP_REASON),
            dcc.Checklist(id=ids.HOTLINE_FOLLOWUP_REOPEN, value=[],
                          options=[{"label": t("hotline.followup.reopen"), "value": "reopen"}]),
            _submit("hotline.followup.submit", ids.HOTLINE_FOLLOWUP_SUBMIT),
            html.Div(id=ids.HOTLINE_FOLLOWUPS),
        ],
        className="hotline-form",
    )


def layout(**_query: str) -> html.Div:
    """The hotline seat; category choices, address matches, the recent orders, the orders awaiting a
    reply or a follow-up call and the chase ledger arrive by callbacks."""
    return html.Div(
        [
            panel(t("hotline.figures.title"), html.Div(id=ids.HOTLINE_FIGURES, className="briefing-tiles"),
                  class_name="hotline-panel"),
            panel(t("hotline.title"), call_form(), class_name="hotline-panel"),
            panel(t("hotline.recent"), html.Div(id=ids.HOTLINE_RECENT), class_name="hotline-panel"),
            panel(t("hotline.reply.title"), reply_form(), class_name="hotline-panel"),
            panel(t("hotline.followup.title"), followup_form(), class_name="hotline-panel"),
            panel(t("hotline.chase.title"), html.Div(id=ids.HOTLINE_CHASES), class_name="hotline-panel"),
            dcc.Store(id=ids.HOTLINE_BOOT, data=True),
            dcc.Store(id=ids.HOTLINE_RESULT, data=0),
        ],
        className="hotline",
    )
