"""/admin/settings (issue 16): the settings in force — the big screen's KPI targets, the briefing's grade
weights and thresholds — each changed or reset to its environment default, and the working week and holidays
the working-hours limits are counted in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from dash import dcc, html

from i18n import t
from layouts import ids
from layouts.admin_kit import button, message_line, page
from layouts.components import panel


def value_id(key: str, item: str) -> dict[str, str]:
    """The pattern-matching id of one number of the setting ``key`` (``item`` e.g. ``closure_rate.amber``)."""
    return {"type": ids.ADMIN_SETTINGS_VALUE, "key": key, "item": item}


def _number(key: str, item: str, value: float | None, **props: object) -> html.Div:
    return html.Div(dcc.Input(id=value_id(key, item), type="number", value=value, step=0.01,
                              className="console-input", **props),
                    **{"data-testid": f"admin_settings-{key}-{item}"})


def _row(label: str, *cells: object) -> html.Tr:
    return html.Tr([html.Td(label), *(html.Td(cell) for cell in cells)])


def _section(key: str, overridden: bool, rows: list[html.Tr], headers: Sequence[str]) -> html.Section:
    state = t("admin_settings.overridden") if overridden else t("admin_settings.default")
    return panel(
        t(f"admin_settings.{key}"),
        [html.P(t(f"admin_settings.{key}_help"), className="field-help"),
         html.Table([html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)], className="data-table"),
         html.Div([html.Span(state, className="admin_settings-state", **{"data-testid": f"admin_settings-{key}-state"}),
                   button("admin_settings.save", {"type": ids.ADMIN_SETTINGS_SAVE, "key": key}, primary=True),
                   button("admin_settings.reset", {"type": ids.ADMIN_SETTINGS_RESET, "key": key})],
                  className="field-row")],
        class_name="admin-panel", **{"data-testid": f"admin_settings-{key}"},
    )


def settings_form(targets: Mapping[str, tuple[float, float]], weights: Mapping[str, float],
                  thresholds: tuple[float, float], weight_kpis: Sequence[str], overridden: frozenset[str]) -> html.Div:
    """The three settings with the values in force: a target (amber below, red below) per rate, a weight per
    rate (empty: not weighed), the A and B thresholds."""
    target_rows = [_row(t(f"kpi.{kpi}"), _number("kpi_targets", f"{kpi}.amber", amber, min=0, max=1),
                        _number("kpi_targets", f"{kpi}.red", red, min=0, max=1))
                   for kpi, (amber, red) in targets.items()]
    weight_rows = [_row(t(f"kpi.{kpi}"), _number("grade_weights", kpi, weights.get(kpi), min=-1, max=1))
                   for kpi in weight_kpis]
    threshold_rows = [_row(t(f"admin_settings.grade_{grade}"), _number("grade_thresholds", grade, value, min=0))
                      for grade, value in zip(("a", "b"), thresholds, strict=True)]
    return html.Div([
        _section("kpi_targets", "kpi_targets" in overridden, target_rows,
                 [t("admin_settings.kpi"), t("admin_settings.amber"), t("admin_settings.red")]),
        _section("grade_weights", "grade_weights" in overridden, weight_rows,
                 [t("admin_settings.kpi"), t("admin_settings.weight")]),
        _section("grade_thresholds", "grade_thresholds" in overridden, threshold_rows,
                 [t("admin_settings.grade"), t("admin_settings.score_from")]),
    ])


def layout(**_query: str) -> html.Div:
    """The settings (filled by a callback with the values in force) and the working calendar."""
    calendar = panel(
        t("admin_settings.calendar"),
        [html.Div([html.Label([html.Span(t("admin.categories.week"), className="field-label"),
                               html.Div(dcc.Textarea(id=ids.ADMIN_SETTINGS_WEEK, className="console-note"),
                                        **{"data-testid": ids.ADMIN_SETTINGS_WEEK})], className="field"),
                   html.Label([html.Span(t("admin.categories.holidays"), className="field-label"),
                               html.Div(dcc.Textarea(id=ids.ADMIN_SETTINGS_HOLIDAYS, className="console-note"),
                                        **{"data-testid": ids.ADMIN_SETTINGS_HOLIDAYS})], className="field")],
                  className="field-row"),
         button("admin.categories.save_calendar", ids.ADMIN_SETTINGS_CALENDAR_SAVE)],
        class_name="admin-panel", **{"data-testid": "admin_settings-calendar"},
    )
    return page("/admin/settings", "nav.admin_settings",
                message_line(ids.ADMIN_SETTINGS_MESSAGE),
                html.Div(id=ids.ADMIN_SETTINGS_FORM, **{"data-testid": ids.ADMIN_SETTINGS_FORM}),
                calendar, dcc.Store(id=ids.ADMIN_SETTINGS_CHANGED, data=0))
