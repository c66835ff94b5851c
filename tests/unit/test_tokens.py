"""API tokens: stored hashed, listed (an admin all, others their own) and revoked through the API and the
/admin page; a revoked token stops working at once, for /api/v1 and for Open311 alike."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import select

from data.accounts import TokenNotFound, create_user, issue_token, list_tokens, revoke_token
from data.models import ApiToken, AuditLog, User
from settings import Settings


@pytest.fixture
def users(db) -> dict[str, int]:
    with db.uow() as s:
        return {name: create_user(s, name, role, password=f"{name}-password").id
                for name, role in (("root", "admin"), ("op1", "operator"), ("op2", "operator"), ("w1", "worker"))}


@pytest.fixture
def app(db, users):
    from app import create_app

    server, dash_app = create_app(Settings(database_url=str(db.url), secret_key="tokens"), db)
    server.testing = True
    server.test_client().get("/healthz")  # Dash fills its callback map on the first request
    return server, dash_app


def _issue(db, username: str) -> str:
    with db.uow() as s:
        return issue_token(s, s.scalar(select(User).where(User.username == username)))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token_id(db, token: str) -> int:
    with db.uow() as s:
        return s.scalar(select(ApiToken.id).where(ApiToken.token_hash == hashlib.sha256(token.encode()).hexdigest()))


# --- the data layer ------------------------------------------------------------------------------


class Viewer:
    def __init__(self, user_id: int, role: str) -> None:
        self.id, self.role = user_id, role


def test_only_the_hash_is_stored_and_the_issue_is_audited(db, users):
    with db.uow() as s:
        token = issue_token(s, s.get(User, users["op1"]), actor_id=users["root"])
    with db.uow() as s:
        row = s.scalar(select(ApiToken))
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in row.token_hash
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "token.issue"))
        assert (audit.user_id, audit.target, audit.detail) == (users["root"], f"token:{row.id}", {"user": "op1"})


def test_a_tokens_use_is_recorded_to_the_minute_not_written_on_every_request(db, users, monkeypatch):
    from datetime import timedelta

    import data.accounts as accounts

    token = _issue(db, "op1")
    clock = [accounts.utcnow()]
    monkeypatch.setattr(accounts, "utcnow", lambda: clock[0])

    def use() -> Any:
        with db.uow() as s:
            assert accounts.user_for_token(s, token).username == "op1"
        with db.uow() as s:
            return s.scalar(select(ApiToken.last_used_at))

    first = use()
    assert first == clock[0]
    clock[0] += timedelta(seconds=59)
    assert use() == first  # within the minute: no write of the token's row
    clock[0] += timedelta(seconds=1)
    assert use() == clock[0]


def test_admins_see_and_revoke_every_token_others_only_their_own(db, users):
    mine, theirs = _issue(db, "op1"), _issue(db, "op2")
    op1, root = Viewer(users["op1"], "operator"), Viewer(users["root"], "admin")
    with db.uow() as s:
        assert [t.user.username for t in list_tokens(s, op1)] == ["op1"]
        assert {t.user.username for t in list_tokens(s, root)} == {"op1", "op2"}
        with pytest.raises(TokenNotFound):
            revoke_token(s, _token_id(db, theirs), op1)
        first = revoke_token(s, _token_id(db, mine), op1).revoked_at
        assert first is not None
        assert revoke_token(s, _token_id(db, mine), op1).revoked_at == first  # again: nothing changes
        assert revoke_token(s, _token_id(db, theirs), root).revoked_at is not None
        with pytest.raises(TokenNotFound):
            revoke_token(s, 9999, root)
    with db.uow() as s:
        revocations = s.execute(select(AuditLog.user_id, AuditLog.detail).where(AuditLog.action == "token.revoke"))
        assert sorted(revocations, key=str) == sorted([(op1.id, {"user": "op1"}), (root.id, {"user": "op2"})], key=str)


# --- the API -------------------------------------------------------------------------------------


def test_the_token_list_is_all_for_an_admin_and_own_for_others_never_the_secret(app, db):
    server, _ = app
    client = server.test_client()
    root, op1, _op2 = _issue(db, "root"), _issue(db, "op1"), _issue(db, "op2")
    every = client.get("/api/v1/tokens", headers=_bearer(root))
    assert every.status_code == 200
    assert sorted(t["user"] for t in every.get_json()) == ["op1", "op2", "root"]
    own = client.get("/api/v1/tokens", headers=_bearer(op1)).get_json()
    assert [(t["user"], t["active"], t["revoked_at"]) for t in own] == [("op1", True, None)]
    assert own[0]["last_used_at"] is not None  # this very request used it
    body = every.get_data(as_text=True)
    with db.uow() as s:
        assert not any(h in body for h in s.scalars(select(ApiToken.token_hash)))
    assert root not in body and op1 not in body
    assert client.get("/api/v1/tokens").status_code == 401


def test_a_revoked_token_stops_working_at_once(app, db):
    server, _ = app
    client = server.test_client()
    token = _issue(db, "op1")
    token_id = _token_id(db, token)
    assert client.get("/api/v1/incidents", headers=_bearer(token)).status_code == 200
    response = client.delete(f"/api/v1/tokens/{token_id}", headers=_bearer(token))
    assert response.status_code == 200
    assert response.get_json()["active"] is False and response.get_json()["revoked_at"]
    assert client.get("/api/v1/incidents", headers=_bearer(token)).status_code == 401
    assert client.get("/api/v1/tokens", headers=_bearer(token)).status_code == 401
    refused = client.post("/open311/v2/requests.json", data={"api_key": token, "service_code": "S0101",
                                                            "lat": "36.67", "long": "117.02"})
    assert refused.status_code == 403


def test_only_the_owner_or_an_admin_revokes(app, db):
    server, _ = app
    client = server.test_client()
    op1, op2, root = _issue(db, "op1"), _issue(db, "op2"), _issue(db, "root")
    target = _token_id(db, op2)
    refused = client.delete(f"/api/v1/tokens/{target}", headers=_bearer(op1))
    assert refused.status_code == 404 and refused.get_json()["error"]["code"] == "token_not_found"
    assert client.get("/api/v1/incidents", headers=_bearer(op2)).status_code == 200
    assert client.delete(f"/api/v1/tokens/{target}", headers=_bearer(root)).status_code == 200
    assert client.get("/api/v1/incidents", headers=_bearer(op2)).status_code == 401
    assert client.delete("/api/v1/tokens/987654", headers=_bearer(root)).status_code == 404
    with db.uow() as s:
        row = s.scalar(select(AuditLog).where(AuditLog.action == "token.revoke"))
        assert (row.target, row.ip) == (f"token:{target}", "127.0.0.1")


# --- the /admin tokens panel ---------------------------------------------------------------------


def _callback_key(dash_app, output: str) -> str:
    return next(key for key in dash_app.callback_map if output in key)


def _dash(client, dash_app, output: str, inputs: list[Any], state: list[Any], changed: str) -> dict[str, Any]:
    key = _callback_key(dash_app, output)
    outputs = [{"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1].split("@")[0]}
               for part in (key.strip(".").split("...") if key.startswith("..") else [key])]
    response = client.post("/_dash-update-component", json={
        "output": key, "outputs": outputs if len(outputs) > 1 else outputs[0], "inputs": inputs, "state": state,
        "changedPropIds": [changed]})
    assert response.status_code in (200, 204), response.get_data(as_text=True)[:300]
    return response.get_json()["response"] if response.status_code == 200 else {}


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for child in node for s in _strings(child)]
    if isinstance(node, dict):
        return _strings(node.get("props", {}).get("children")) if "props" in node else \
            [s for value in node.values() for s in _strings(value)]
    return []


def _change_tokens(client, dash_app, *, issue: int | None, revoke: dict[int, int | None], user: str | None,
                   changed: str) -> dict[str, Any]:
    revoke_inputs = [{"id": {"type": "admin-tokens-revoke", "id": token_id}, "property": "n_clicks", "value": n}
                     for token_id, n in revoke.items()]
    return _dash(client, dash_app, "admin-tokens-message.children",
                 [{"id": "admin-tokens-issue", "property": "n_clicks", "value": issue}, revoke_inputs],
                 [{"id": "admin-tokens-user", "property": "value", "value": user},
                  {"id": "admin-tokens-changed", "property": "data", "value": 0}], changed)


def test_an_admin_issues_a_token_on_the_page_sees_it_once_and_revokes_it(app, db):
    server, dash_app = app
    client = server.test_client()
    assert client.post("/login", data={"username": "root", "password": "root-password"}).status_code == 302
    issued = _change_tokens(client, dash_app, issue=1, revoke={}, user="w1", changed="admin-tokens-issue.n_clicks")
    token = next(s for s in _strings(issued["admin-tokens-new"]) if s.startswith("cot_"))
    api = server.test_client()  # no session cookie: the bearer token alone
    assert [t["user"] for t in api.get("/api/v1/tokens", headers=_bearer(token)).get_json()] == ["w1"]
    token_id = _token_id(db, token)

    listing = _dash(client, dash_app, "admin-tokens-list.children",
                    [{"id": "admin-tokens-changed", "property": "data", "value": 1},
                     {"id": "admin-refresh", "property": "n_clicks", "value": None}], [],
                    "admin-tokens-changed.data")
    shown = json.dumps(listing["admin-tokens-list"], ensure_ascii=False)
    assert '"admin-tokens-revoke"' in shown and "w1" in shown and token not in shown
    assert {o["value"] for o in listing["admin-tokens-user"]["options"]} == {"root", "op1", "op2", "w1"}

    prop = json.dumps({"id": token_id, "type": "admin-tokens-revoke"}, separators=(",", ":"))
    rerendered = _change_tokens(client, dash_app, issue=1, revoke={token_id: None}, user=None,
                                changed=f"{prop}.n_clicks")
    assert rerendered == {}  # the buttons were drawn again, nothing was clicked: nothing happens (204)
    revoked = _change_tokens(client, dash_app, issue=1, revoke={token_id: 1}, user=None, changed=f"{prop}.n_clicks")
    assert "admin-tokens-new" in revoked and not any(s.startswith("cot_") for s in _strings(revoked))
    assert api.get("/api/v1/tokens", headers=_bearer(token)).status_code == 401


def test_no_one_but_an_admin_may_use_the_tokens_panel(app, db):
    server, dash_app = app
    client = server.test_client()
    assert client.post("/login", data={"username": "op1", "password": "op1-password"}).status_code == 302
    response = client.post("/_dash-update-component", json={
        "output": _callback_key(dash_app, "admin-tokens-message.children"), "outputs": [], "changedPropIds": [],
        "inputs": [{"id": "admin-tokens-issue", "property": "n_clicks", "value": 1}, []],
        "state": [{"id": "admin-tokens-user", "property": "value", "value": "op1"},
                  {"id": "admin-tokens-changed", "property": "data", "value": 0}]})
    assert response.status_code == 403
    with db.uow() as s:
        assert s.scalar(select(ApiToken)) is None
