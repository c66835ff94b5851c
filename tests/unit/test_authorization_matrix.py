"""The authorization matrix: every Dash callback and every API route, called as anonymous and as each
role. Allowed calls get through the guard; the others get 401 (anonymous) or 403 (wrong role)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from api.auth import PAGE_ROLES, page_of_component
from api.registry import OPERATIONS, PREFIX
from data.accounts import create_user, issue_token
from data.models import Role
from settings import Settings

ROLES = [r.value for r in Role]
DENIED = (401, 403)


@pytest.fixture(scope="module")
def app_and_tokens(tmp_path_factory):
    from app import create_app
    from data.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'm.db'}")
    db.migrate()
    with db.uow() as s:
        tokens = {role: issue_token(s, create_user(s, f"m-{role}", role, password=f"{role}-pw")) for role in ROLES}
    server, dash_app = create_app(Settings(database_url=str(db.url), secret_key="matrix"), db)
    server.testing = True
    server.test_client().get("/healthz")  # Dash fills its callback map on the first request
    yield server, dash_app, tokens
    db.dispose()


def _ids(spec: Any) -> list[str]:
    """The component ids of a callback's outputs, from its callback-map entry."""
    return [o["id"] if isinstance(o["id"], str) else o["id"]["type"] for o in spec]


def _callback_cases(dash_app) -> list[tuple[str, dict]]:
    """Every server-side callback (clientside ones run in the browser and have no route)."""
    cases = []
    for key, callback in dash_app.callback_map.items():
        if "callback" not in callback:
            continue
        cases.append((key, {"outputs": _outputs_of(key), "inputs": callback.get("inputs", []),
                            "state": callback.get("state", [])}))
    return cases


def _wildcard(cid: Any) -> bool:
    return isinstance(cid, dict) and any(isinstance(v, list) for v in cid.values())


def _values(specs: list[dict[str, Any]]) -> list[Any]:
    """The request entries of a callback's inputs or states, each with no value (as on a fresh page);
    a wildcard id (ALL/MATCH) is sent as an empty list of matches."""
    return [[] if isinstance(spec["id"], str) and spec["id"].startswith("{") else
            {"id": spec["id"], "property": spec["property"], "value": None} for spec in specs]


def _outputs_of(key: str) -> list[dict[str, Any]]:
    """Parse Dash's callback key ('..a.b...c.d..' or 'a.b') into output dicts."""
    import json

    parts = key.strip(".").split("...") if key.startswith("..") else [key]
    outputs = []
    for part in parts:
        component, prop = part.rsplit(".", 1)
        prop = prop.split("@")[0]
        cid: Any = json.loads(component) if component.startswith("{") else component
        outputs.append({"id": cid, "property": prop})
    return outputs


def _page_of(output: dict[str, Any]) -> str | None:
    cid = output["id"]
    if isinstance(cid, dict):
        cid = str(cid.get("type", ""))
    return page_of_component(cid)


def test_every_callback_writes_to_components_of_one_known_page(app_and_tokens):
    _, dash_app, _ = app_and_tokens
    orphans = []
    for key, case in _callback_cases(dash_app):
        pages = {_page_of(o) for o in case["outputs"]}
        if key.startswith(".._pages_content"):
            continue  # the page router: guarded by the requested path
        if None in pages or len(pages) != 1:
            orphans.append((key, pages))
    assert not orphans, orphans


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_callback_is_guarded_by_role(app_and_tokens, role):
    server, dash_app, _ = app_and_tokens
    client = server.test_client()
    if role is not None:
        assert client.post("/login", data={"username": f"m-{role}", "password": f"{role}-pw"}).status_code == 302
    checked = 0
    for key, case in _callback_cases(dash_app):
        if key.startswith(".._pages_content"):
            continue
        page = _page_of(case["outputs"][0])
        outputs = [[] if _wildcard(o["id"]) else o for o in case["outputs"]]
        body = {"output": key, "outputs": outputs if len(outputs) > 1 else outputs[0],
                "inputs": _values(case["inputs"]), "state": _values(case["state"]), "changedPropIds": []}
        status = client.post("/_dash-update-component", json=body).status_code
        if role is None:
            assert status == 401, key
        elif role in PAGE_ROLES[page]:
            assert status not in DENIED and status < 500, (key, role, status)
        else:
            assert status == 403, (key, role, status)
        checked += 1
    assert checked >= 10


def _concrete(rule: str) -> str:
    """A Flask rule with its path variables filled with ids that exist nowhere (``<int:id>`` → 999999,
    ``<name>`` → x), so that a call that gets through the guard cannot change the matrix's own users and
    tokens (e.g. revoke the token the next call uses)."""
    return PREFIX + re.sub(r"<(int:)?[^<>]+>", lambda m: "999999" if m.group(1) else "x", rule)


@pytest.mark.parametrize("role", [None, *ROLES])
def test_every_api_route_is_guarded_by_role(app_and_tokens, role):
    server, _, tokens = app_and_tokens
    client = server.test_client()
    headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
    for op in OPERATIONS:
        response = client.open(_concrete(op.rule), method=op.method, headers=headers, json={})
        status = response.status_code
        assert status != 500, (op.rule, op.method)
        if op.roles is None:
            assert status not in DENIED, (op.rule, role)
        elif role is None:
            assert status == 401, (op.rule, op.method)
        elif role in op.roles:
            assert status not in DENIED or response.get_json()["error"]["code"] not in ("unauthorized", "forbidden"), \
                (op.rule, op.method, role, status)
        else:
            assert status == 403, (op.rule, op.method, role, status)
