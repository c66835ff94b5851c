"""Callbacks of the alert-rules section of /admin: list the rules, load one into the editor, save the
YAML/JSON text (a refusal names the bad field and changes nothing), switch a rule on or off, delete an
API rule. Every change is written to the audit log. A rule with many false alarms over the last
CITYOPS_FALSE_ALARM_DAYS is flagged in the list with its figures (``alerts.review.false_alarm_flags``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import yaml
from dash import Input, Output, State, callback, ctx, html
from dash.exceptions import PreventUpdate

from alerts import rules_store
from alerts.queries import all_rules, rule_by_id
from alerts.review import false_alarm_flags
from alerts.rule_changes import remove_rule, save_rule
from alerts.rules_store import RuleStoreError
from callbacks.common import uow
from callbacks.pagekit import DASH, local_time, refusal_message, signed_in
from data.models import Rule, utcnow
from domain.errors import Forbidden
from i18n import current_lang, t
from i18n.format import format_value
from layouts import ids
from layouts.admin_rules import TEMPLATE
from layouts.components import badge, empty, table
from settings import get_settings

FLAG_COLOUR = "#cf222e"


def _false_alarms(figures: dict[str, Any] | None) -> Any:
    """The flag of a rule with many false alarms, with its figures; a dash for the others."""
    if figures is None:
        return DASH
    return badge(t("review.flag", rate=format_value("false_alarm_rate", figures["false_alarm_rate"]),
                   false=figures["false_alarm"], reviewed=figures["reviewed"], raised=figures["raised"]),
                 FLAG_COLOUR)


def _rule_row(rule: Rule, flag: dict[str, Any] | None = None) -> list[Any]:
    body = rule.body or {}
    name = (body.get("name") or {}).get(current_lang()) or rule.id
    condition = (body.get("condition") or {}).get("type", DASH)
    incident = body.get("incident") or {}
    on = rule.enabled
    state = badge(t("admin.rules.on") if on else t("admin.rules.off"), "#3fb950" if on else "#6e7681")
    return [rule.id, name, condition, incident.get("category", DASH), state, rule.source,
            local_time(rule.updated_at), _false_alarms(flag)]


@callback(
    Output(ids.ADMIN_RULES_LIST, "children"),
    Output(ids.ADMIN_RULES_PICK, "options"),
    Input(ids.ADMIN_RULES_CHANGED, "data"),
    Input(ids.ADMIN_REFRESH, "n_clicks"),
)
def list_rules(_changed: Any, _refresh: Any) -> tuple[Any, list[dict[str, str]]]:
    """The rules table and the editor's choice of rules."""
    with uow() as session:
        rules = all_rules(session)
        now = utcnow()
        flags = false_alarm_flags(session, now - timedelta(days=get_settings().false_alarm_days), now)
        headers = [t(f"admin.rules.col.{key}") for key in ("id", "name", "type", "category", "state", "source",
                                                            "updated")]
        settings = get_settings()
        headers.append(t("review.col.false_alarms", days=f"{settings.false_alarm_days:g}",
                         rate=format_value("false_alarm_rate", settings.false_alarm_rate),
                         reviewed=settings.false_alarm_min_reviewed))
        listing = table(headers, [_rule_row(r, flags.get(r.id)) for r in rules],
                        row_testid="admin-rules-row") if rules else empty()
        return listing, [{"label": f"{r.id} ({r.source})", "value": r.id} for r in rules]


@callback(
    Output(ids.ADMIN_RULES_TEXT, "value"),
    Output(ids.ADMIN_RULES_ENABLED, "value"),
    Input(ids.ADMIN_RULES_PICK, "value"),
    prevent_initial_call=True,
)
def load_rule(rule_id: str | None) -> tuple[str, list[str]]:
    """The picked rule as YAML in the editor (the template for none)."""
    if not rule_id:
        return TEMPLATE, ["on"]
    with uow() as session:
        rule = rule_by_id(session, rule_id)
        if rule is None:
            return TEMPLATE, ["on"]
        text = yaml.safe_dump(rule.body, allow_unicode=True, sort_keys=False, default_flow_style=None)
        return text, ["on"] if rule.enabled else []


def _message(text: str, ok: bool) -> html.Div:
    return html.Div(text, className="admin-rules-ok" if ok else "admin-rules-error")


def _apply(session: Any, trigger: str, picked: str | None, text: str, enabled: bool) -> tuple[str, str]:
    """Do what the clicked button asks; returns (audit action, rule id)."""
    if trigger == ids.ADMIN_RULES_DELETE:
        if not picked:
            raise RuleStoreError(422, "invalid_field", t("admin.rules.pick_first"))
        remove_rule(session, signed_in(), picked)
        return "rule.delete", picked
    action, rule = save_rule(session, signed_in(), rules_store.parse_rule_text(text), enabled=enabled)
    return action, rule.id


@callback(
    Output(ids.ADMIN_RULES_MESSAGE, "children"),
    Output(ids.ADMIN_RULES_CHANGED, "data"),
    Input(ids.ADMIN_RULES_SAVE, "n_clicks"),
    Input(ids.ADMIN_RULES_DELETE, "n_clicks"),
    State(ids.ADMIN_RULES_PICK, "value"),
    State(ids.ADMIN_RULES_TEXT, "value"),
    State(ids.ADMIN_RULES_ENABLED, "value"),
    State(ids.ADMIN_RULES_CHANGED, "data"),
    prevent_initial_call=True,
)
def change_rule(_save: Any, _delete: Any, picked: str | None, text: str | None, enabled: list[str] | None,
                changed: int | None) -> tuple[Any, int]:
    """Save (create or replace) or delete a rule; a refusal shows its status and field, nothing changes."""
    trigger = ctx.triggered_id
    if trigger not in (ids.ADMIN_RULES_SAVE, ids.ADMIN_RULES_DELETE):
        raise PreventUpdate
    try:
        with uow() as session:
            action, rule_id = _apply(session, trigger, picked, text or "", bool(enabled))
    except RuleStoreError as exc:
        return _message(t("admin.rules.refused", status=exc.status, reason=str(exc)), False), changed or 0
    except Forbidden as exc:
        return _message(refusal_message(exc), False), changed or 0
    return _message(t(f"admin.rules.done.{action.split('.')[1]}", rule=rule_id), True), (changed or 0) + 1
