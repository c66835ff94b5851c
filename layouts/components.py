"""Shared view pieces: KPI tiles, panels, tables, badges. Pure functions of their arguments."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from i18n import t

LEVEL_COLOURS = {"red": "#ff3b30", "orange": "#ff9500", "yellow": "#ffd60a", "blue": "#0a84ff"}
CARD_COLOURS = {"red": "#ff3b30", "yellow": "#ffd60a", "none": "#5e6b7a"}


def panel(title: str, children: Any, *, class_name: str = "", **attrs: Any) -> html.Section:
    """A titled panel of the dark big-screen theme."""
    return html.Section(
        [html.H2(title, className="panel-title"), html.Div(children, className="panel-body")],
        className=f"panel {class_name}".strip(),
        **attrs,
    )


def badge(text: str, colour: str) -> html.Span:
    """A small coloured badge (level, card, state)."""
    return html.Span(text, className="badge", style={"--badge": colour})


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, row_testid: str | None = None,
          class_name: str = "data-table") -> html.Table:
    """A simple table; ``row_testid`` marks each body row for browser checks."""
    extra = {"data-testid": row_testid} if row_testid else {}
    return html.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in headers])),
            html.Tbody([html.Tr([html.Td(c) for c in row], **extra) for row in rows]),
        ],
        className=class_name,
    )


def field(label_key: str, control: object, testid: str) -> html.Label:
    """A form control under its translated label; ``testid`` marks the control's box for browser checks."""
    return html.Label([html.Span(t(label_key), className="field-label"), html.Div(control, **{"data-testid": testid})],
                      className="field")


def empty(text_key: str = "common.none") -> html.Div:
    """The placeholder shown when a list is empty."""
    return html.Div(t(text_key), className="empty")


def ticker_item(label: str, colour: str, main: str, value: str, when: str, *, testid: str | None = None) -> html.Div:
    """One line of a live list: a coloured badge, what happened, a value and the time."""
    extra = {"data-testid": testid} if testid else {}
    return html.Div(
        [badge(label, colour), html.Span(main, className="tick-main"), html.Span(value, className="tick-value"),
         html.Span(when, className="tick-time")],
        className="tick",
        **extra,
    )


#: The texts a Dash dropdown shows of its own (its search box, "nothing found", …), by their i18n keys.
DROPDOWN_LABELS = ("select_all", "deselect_all", "selected_count", "search", "clear_search", "clear_selection",
                   "no_options_found")


def dropdown(**props: Any) -> dcc.Dropdown:
    """A ``dcc.Dropdown`` whose own texts are in the user's language (Dash's defaults are English)."""
    return dcc.Dropdown(labels={key: t(f"dropdown.{key}") for key in DROPDOWN_LABELS}, **props)
