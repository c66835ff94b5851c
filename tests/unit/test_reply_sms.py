"""Replies reach the caller by SMS (issue 20 §2): recording the reply to a hotline order — with the reply
command or as a direct answer closes the order — queues one outbox message to the callers' channel (pseudo
duty post ``callers``, its URL holding ``{phone}``) addressed to the caller's phone; the outbox job sends it to
a real local SMS-gateway webhook with the phone as the request's ``to``. No phone or no channel, no message;
a reply after a reopening and a new closing is a second message; the phone never shows in full in the status."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from data.models import OutboxMessage
from dispatch import outbox
from dispatch.hotline import HotlineCall, take_call
from dispatch.service import reopen_for_rework, reply_to_caller
from settings import get_settings
from tests.unit import test_hotline_followups as hotline
from tests.unit.test_hotline_followups import close, transfer
from tests.unit.test_notify_outbox import T0, Webhook, add_channel, deliver

city = hotline.city  # the fixture borrowed: a city with a doorplate


@pytest.fixture(autouse=True)
def channel_key(monkeypatch) -> None:
    """A key to store channel URLs, read afresh (settings cached at collection may predate it)."""
    monkeypatch.setenv("CITYOPS_CHANNEL_KEY", "test-channel-key")
    get_settings.cache_clear()


class Gateway(Webhook):
    """A local SMS gateway: a JSON webhook whose URL puts the recipient in the payload's ``to`` (Apprise's
    ``:name`` query arguments), so each received message names the phone it was addressed to."""

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/send?:to={outbox.PHONE}"

    @property
    def targets(self) -> list[str]:
        return [message["to"] for message in self.received]


@pytest.fixture
def gateway() -> Iterator[Gateway]:
    hook = Gateway()
    hook.start()
    yield hook
    hook.stop()


def callers_channel(session, city, gateway: Gateway):
    return add_channel(session, city, gateway.url, duty_post=outbox.CALLERS, name="市民短信")


def replies(session) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reply").order_by(OutboxMessage.id)))


def test_a_reply_to_a_hotline_order_reaches_the_callers_phone_once(session, city, gateway):
    callers_channel(session, city, gateway)
    incident = close(session, city, transfer(session, city, phone="+8613512345678"))
    incident.history[-1].note = "内部备注 only staff see"
    reply_to_caller(session, incident.id, "垃圾已清运", actor=city.operator)
    assert deliver(session, T0)["sent"] == 1
    assert deliver(session, T0 + timedelta(minutes=5))["sent"] == 0
    assert gateway.targets == ["+8613512345678"]  # the + URL-quoted into the URL, intact at the gateway
    (message,) = gateway.received
    assert "垃圾已清运" in message["message"] and incident.code in message["message"]
    assert "内部备注" not in message["message"] + message["title"]
    (row,) = replies(session)
    assert (row.recipient, row.state) == ("+8613512345678", "sent")
    (status,) = [d for d in outbox.deliveries(session, incident_id=incident.id) if d["kind"] == "reply"]
    assert status["recipient"] == "+86*******5678" and "13512345678" not in json.dumps(status)


def test_no_phone_or_no_callers_channel_queues_nothing(session, city, gateway):
    incident = close(session, city, transfer(session, city))
    reply_to_caller(session, incident.id, "已处理", actor=city.operator)  # no callers' channel yet
    assert replies(session) == []
    callers_channel(session, city, gateway)
    other = close(session, city, transfer(session, city))
    other.caller_phone = None  # e.g. a citizen report filed without a phone
    reply_to_caller(session, other.id, "已处理", actor=city.operator)
    assert replies(session) == []
    assert deliver(session, T0)["sent"] == 0 and gateway.received == []


def test_replying_again_after_a_reopening_and_a_new_closing_sends_a_second_message(session, city, gateway):
    callers_channel(session, city, gateway)
    incident = close(session, city, transfer(session, city))
    reply_to_caller(session, incident.id, "第一次答复", actor=city.operator)
    reopen_for_rework(session, incident, actor=city.operator, note="不满意")
    incident = close(session, city, incident)
    reply_to_caller(session, incident.id, "第二次答复", actor=city.operator)
    assert len({row.idempotency_key for row in replies(session)}) == 2
    assert deliver(session, T0)["sent"] == 2
    first, second = (m["message"] for m in gateway.received)
    assert "第一次答复" in first and "第二次答复" in second and incident.code in second
    assert gateway.targets == ["13512345678"] * 2


def test_a_direct_answer_is_sent_to_the_caller_as_it_closes(session, city, gateway):
    callers_channel(session, city, gateway)
    incident = take_call(session, HotlineCall(caller="孙", phone="13512340000", content="问开放时间", category="S0101",
                                              mode="direct", answer="9 点开放"), actor=city.operator)
    assert deliver(session, T0)["sent"] == 1
    (message,) = gateway.received
    assert "9 点开放" in message["message"] and incident.code in message["message"]
    assert gateway.targets == ["13512340000"]


def test_the_callers_channel_hears_no_event_and_its_url_needs_the_placeholder(session, city, gateway):
    callers_channel(session, city, gateway)
    transfer(session, city)  # a dispatch: the desk and the department would hear it, the callers' channel not
    assert session.scalars(select(OutboxMessage)).all() == []
    with pytest.raises(outbox.ChannelError) as missing:
        add_channel(session, city, "json://127.0.0.1:9/send", duty_post=outbox.CALLERS)
    with pytest.raises(outbox.ChannelError) as misplaced:
        add_channel(session, city, gateway.url, department="gas")
    assert {(e.value.code, e.value.field) for e in (missing, misplaced)} == {("phone_placeholder", "url")}


def test_a_phone_goes_into_the_url_only_as_an_sms_number_and_is_masked_in_errors():
    assert outbox.sms_number(" +86 (135) 1234-5678 ") == "+8613512345678"
    assert [outbox.sms_number(p) for p in ("", None, "135x", "1234", "13512345678&to=1")] == [None] * 5
    url = "json://gw/send?-to=%7Bphone%7D"
    assert outbox.address(url, "+8613512345678") == "json://gw/send?-to=%2B8613512345678"
    assert outbox.address("json://gw/hook", None) == "json://gw/hook"
    for bad in ((url, None), ("json://gw/hook", "13512345678"), (url, "135&x=1")):
        with pytest.raises(outbox.ChannelError):
            outbox.address(*bad)
    error = "failed: json://gw/send?-to=%2B8613512345678 (+8613512345678)"
    assert "13512345678" not in outbox.masked_phone(error, "+8613512345678")


def test_apprise_log_lines_never_show_a_phone_in_full(caplog):
    with caplog.at_level(logging.WARNING):
        logging.getLogger("apprise").warning("Failed to send SMS to %s via %s", "+8613512345678",
                                             "json://gw/send?-to=%2B8613512345678")
    assert "13512345678" not in caplog.text and "5678" in caplog.text
