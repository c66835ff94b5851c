# ruff: noqa: F811  (pytest fixtures imported from test_pages are parameters here)
"""/admin/channels (issue 17 §3): the notification channels managed in /admin, through ``dispatch.outbox`` —
its callbacks called as Dash calls them: the list (URL masked, target named), a valid channel added with one
audit row and the secret never sent back, a refused one (URL Apprise cannot parse, unknown target) saying why
and writing nothing, a delete asked in a dialog then done with its audit row, and a non-admin refused by the
service itself (past the page guard)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from api.auth import PAGE_PATHS, PAGE_ROLES, page_of_component
from callbacks import admin_channels
from data.models import AuditLog, NotificationChannel, User
from dispatch import outbox
from domain.errors import Forbidden
from domain.states import ALERT_LEVELS
from layouts import admin_channels as channels_page
from layouts import ids
from settings import get_settings
from tests.unit.test_admin_pages import press
from tests.unit.test_pages import (  # noqa: F401
    callback_context,
    cells,
    city,
    clicked,
    server,
    signed_in,
    texts,
    with_testid,
)

SECRET = "s3cr3t-t0ken"
URL = f"json://hook:{SECRET}@127.0.0.1:9/notify"


@pytest.fixture(autouse=True)
def channel_key(monkeypatch):
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _counts(db) -> tuple[int, int]:
    """(channels not deleted, audit rows of channels)."""
    with db.uow() as s:
        return (len(outbox.list_channels(s)),
                s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action.like("channel.%"))))


def _add(name="燃气值班", kind="department", target="gas", url=URL, level="orange", changed=0):
    press(ids.ADMIN_CHANNELS_ADD)
    return admin_channels.change(1, None, name, kind, target, url, level, None, changed)


def test_the_channels_page_is_admin_only_and_linked_from_the_admin_pages():
    assert PAGE_PATHS["/admin/channels"] == "admin_channels" and PAGE_ROLES["admin_channels"] == frozenset({"admin"})
    names = [v for k, v in vars(ids).items() if k.startswith("ADMIN_CHANNELS_")]
    assert names and {page_of_component(i) for i in names} == {"admin_channels"}
    page = channels_page.layout()
    assert with_testid(page, "admin-nav-channels")
    url_box = with_testid(page, ids.ADMIN_CHANNELS_URL)[0]
    assert url_box.children.type == "password"
    assert channels_page.MIN_LEVELS == ALERT_LEVELS  # the form's levels are the service's, lowest first


def test_the_targets_follow_the_kind(server, city):
    with signed_in(server, city.admin, lang="en"):
        departments, picked = admin_channels.list_targets("department")
        users, _ = admin_channels.list_targets("user")
        posts, _ = admin_channels.list_targets("duty_post")
    assert picked is None
    assert {"gas", "sanitation"} <= {o["value"] for o in departments}
    assert {"root", "op", "san"} <= {o["value"] for o in users}
    assert [o["value"] for o in posts] == ["shift_lead", "duty_officer", "duty_leader", "department_head", "callers"]
    assert {o["label"] for o in posts} >= {"Duty officer", "Department head"}


def test_a_valid_channel_is_added_listed_masked_with_one_audit_row(server, db, city):
    with signed_in(server, city.admin, lang="en"):
        message, changed, url_field = _add(changed=3)
        assert texts(message) == ['Notification channel "燃气值班" added.'] and "msg-ok" in message.className
        assert changed == 4 and url_field == ""  # the list reloads; the secret is not kept in the form
        listing = admin_channels.list_channels(changed)
    (row,) = with_testid(listing, "admin_channels-row")
    name, target, url, level, created, _ = cells(row)
    assert (name, level) == ("燃气值班", "Orange") and target.startswith("Department: gas")
    assert url.startswith("json://") and SECRET not in url and SECRET not in str(listing)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", created)
    assert _counts(db) == (1, 1)
    with db.uow() as s:
        stored = s.scalar(select(NotificationChannel))
        assert SECRET not in stored.url_encrypted and outbox.decrypt_url(stored.url_encrypted) == URL
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "channel.create"))
        assert (audit.user_id, audit.target) == (city.admin.id, f"channel:{stored.id}")


@pytest.mark.parametrize(("values", "reason"), [
    ({"url": "not a notification url"}, "Apprise cannot parse this URL"),
    ({"url": ""}, "Apprise cannot parse this URL"),
    ({"target": "no_such_department"}, "no department no_such_department"),
    ({"kind": "user", "target": "nobody"}, "no user nobody"),
    ({"target": None}, "pick one recipient"),
    ({"name": "  "}, "the name takes 1 to 128 characters"),
])
def test_a_refused_channel_says_why_and_writes_nothing(server, db, city, values, reason):
    with signed_in(server, city.admin, lang="en"):
        message, changed, url_field = _add(**values)
    (said,) = texts(message)
    assert "msg-error" in message.className and said.startswith("Not saved: ") and reason in said
    assert changed is url_field is admin_channels.no_update
    assert _counts(db) == (0, 0)


def test_a_delete_is_asked_then_done_with_its_audit_row(server, db, city):
    with signed_in(server, city.admin, lang="en"):
        _add(kind="duty_post", target="duty_officer")
        (row,) = with_testid(admin_channels.list_channels(1), "admin_channels-row")
        assert cells(row)[1] == "Duty post: Duty officer"
        with db.uow() as s:
            channel_id = s.scalar(select(NotificationChannel.id))
        clicked({"type": ids.ADMIN_CHANNELS_DELETE, "id": channel_id})
        shown, question, pending = admin_channels.ask_delete([1])
        assert shown is True and pending == channel_id and "燃气值班" in question
        assert _counts(db) == (1, 1)  # asking deletes nothing
        press(ids.ADMIN_CHANNELS_CONFIRM)
        message, changed, _ = admin_channels.change(None, 1, None, None, None, None, None, pending, 1)
        assert texts(message) == ['Notification channel "燃气值班" deleted.'] and changed == 2
        assert not with_testid(admin_channels.list_channels(changed), "admin_channels-row")
        press(ids.ADMIN_CHANNELS_CONFIRM)  # the dialog confirmed twice: nothing more is written
        message, _, _ = admin_channels.change(None, 2, None, None, None, None, None, pending, 2)
        assert "msg-error" in message.className
    assert _counts(db) == (0, 2)
    with db.uow() as s:
        audit = s.scalar(select(AuditLog).where(AuditLog.action == "channel.delete"))
        assert (audit.user_id, audit.target) == (city.admin.id, f"channel:{channel_id}")


def test_a_non_admin_is_refused_by_the_service_on_the_page_and_below_it(server, db, city):
    with signed_in(server, city.operator, lang="en"):
        message, changed, _ = _add()
    assert texts(message) == ["Your role may not do this"] and changed is admin_channels.no_update
    assert _counts(db) == (0, 0)
    with db.uow() as s:
        made = outbox.create_channel(s, outbox.ChannelSpec(url=URL, name="c", department="gas"),
                                     actor_id=city.admin.id)
        made_id = made.id
    with signed_in(server, city.operator, lang="en"):
        press(ids.ADMIN_CHANNELS_CONFIRM)
        message, _, _ = admin_channels.change(None, 1, None, None, None, None, None, made_id, 0)
    assert texts(message) == ["Your role may not do this"]
    with db.uow() as s, pytest.raises(Forbidden):
        outbox.delete_channel(s, made_id, actor_id=s.get(User, city.handler.id).id)
    assert _counts(db) == (1, 1)
