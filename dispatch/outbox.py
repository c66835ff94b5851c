"""Notifications that reach people (issue 17 §3): channels, the durable outbox, and its delivery job.

A channel is an Apprise URL (WeCom, DingTalk, Feishu, e-mail, JSON/form webhooks, SMS gateways...) for a
department, a user or a duty post, stored Fernet-encrypted. An event (a dispatch, a yellow or red card,
an escalation, a postponement request, a firing alert, a yellow or red card on one department's joint
task) queues one ``OutboxMessage`` per matching channel in the event's own transaction; ``outbox_job`` (the
scheduler's ``outbox`` job) sends what is due, retries with exponential backoff, records every attempt,
and escalates unacknowledged red and orange alerts along ``ESCALATION_CHAIN``. The idempotency key (event,
channel) is unique and is carried in the message, so one event never queues twice and a receiver can drop a
re-delivery after a crash between sending and committing.

Who receives an event: the channels of its department (the incident's, or for an alert without an
incident the department of its rule's incident category), the channels of users of that department and
of the incident's assignee, and every duty-post channel but the leaders' posts of ``ESCALATION_CHAIN``
(the desk hears everything). ``min_level`` filters events that have a level: alerts (their level) and
cards (yellow, red); dispatches, escalations and postponement requests reach every matching channel.
A duty-post channel reaches the person the rota (``dispatch.duty``) has on that post when the event is
queued, through their own user channels where they have any, else the post's own URL.

The reply to a caller (issue 20 §2) goes by SMS through the channel of the pseudo post ``callers``: its URL
holds ``{phone}``, each reply message carries the caller's phone as ``recipient``, put there (URL-quoted)
when it is sent; the phone is shown masked in the delivery status.
"""

from __future__ import annotations

import base64
import logging
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import apprise
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from data.audit import write_audit
from data.joint_models import JointTask
from data.models import (
    Alert,
    Category,
    DeliveryAttempt,
    Department,
    Incident,
    NotificationChannel,
    OutboxMessage,
    Rule,
    Sensor,
    User,
    utcnow,
)
from data.sql import dialect_insert
from dispatch.duty import DUTY_LEADER, DUTY_OFFICER, on_duty
from domain.durations import parse_duration
from domain.permissions import Permission, require
from domain.states import ALERT_LEVEL_RANK as LEVEL_RANK
from domain.states import ALERT_LEVELS as LEVELS
from domain.states import ESCALATING_LEVELS
from i18n import t
from settings import get_settings

log = logging.getLogger(__name__)

PENDING, SENT, CANCELLED, FAILED = "pending", "sent", "cancelled", "failed"
BACKOFF_FIRST = timedelta(seconds=10)
BACKOFF_MAX = timedelta(minutes=10)
#: A message still failing this long after its event is given up (state ``failed``), never silently dropped.
GIVE_UP_AFTER = timedelta(days=3)
#: Messages one job run takes; sends run concurrently per channel (one channel's messages in order).
BATCH = 2000
SEND_THREADS = 8
NAME_MAX = 128
ERROR_MAX = 1000
_HKDF_SALT = b"cityops-notification-channels"
#: Who hears an unacknowledged red or orange alert next (duty-post codes): each step after the rule's
#: ``labels.escalate_after`` (e.g. ``15m``) more without an acknowledgement. The first is the desk, which
#: hears every event anyway; the posts after it hear only these escalations.
ESCALATION_CHAIN = (DUTY_OFFICER, DUTY_LEADER, "department_head")
ESCALATE_LABEL = "escalate_after"
#: The callers' SMS channel (issue 20 §2) is the channel of this pseudo duty post (the oldest, if several): it
#: hears no event, only the replies to callers, its URL holding ``PHONE`` where each message's phone goes.
CALLERS = "callers"
PHONE = "{phone}"
_PHONE_FORMS = (PHONE, quote(PHONE, safe=""))
_SMS_NUMBER = re.compile(r"^\+?\d{5,20}$")
#: What looks like a phone number in Apprise's own log lines (plain or with a URL-quoted ``+``).
_PHONE_RUN = re.compile(r"(?:\+|%2B)?\d{7,20}")


class ChannelError(ValueError):
    """A refused channel write: ``code`` for machines, ``field`` it concerns, an English message."""

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


# --- secrets ------------------------------------------------------------------------------------


def _fernet() -> Fernet:
    """The Fernet key derived (HKDF-SHA256) from CITYOPS_CHANNEL_KEY, else CITYOPS_SECRET_KEY."""
    settings = get_settings()
    secret = settings.channel_key or settings.secret_key
    if not secret:
        raise ChannelError("channel_key_missing",
                           "set CITYOPS_CHANNEL_KEY or CITYOPS_SECRET_KEY to store channel URLs encrypted")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=b"apprise-url").derive(secret.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def encrypt_url(url: str) -> str:
    """``url`` encrypted for storage."""
    return _fernet().encrypt(url.encode()).decode()


def decrypt_url(token: str) -> str:
    """A stored channel URL in clear (raises ChannelError when the key changed)."""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise ChannelError("channel_key_changed", "the channel URL cannot be decrypted with the current key") from None


def masked_url(url: str) -> str:
    """Apprise's own rendering of ``url`` with passwords and tokens masked; ChannelError if it cannot parse it."""
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True) if url.strip() else None
    if plugin is None:
        raise ChannelError("invalid_url", "url: not a notification URL Apprise can parse", "url")
    return str(plugin.url(privacy=True))


# --- channels -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelSpec:
    """A new channel as asked for: exactly one of ``department``, ``user``, ``duty_post``."""

    url: str
    name: str
    department: str | None = None
    user: str | None = None
    duty_post: str | None = None
    min_level: str = "blue"


def create_channel(session: Session, spec: ChannelSpec, *, actor_id: int | None) -> NotificationChannel:
    """Validate and store a channel (URL encrypted) with its audit row; raises ChannelError, or Forbidden when
    ``actor_id`` is a user without ``channel.write``."""
    _require_writer(session, actor_id)
    targets = [name for name in ("department", "user", "duty_post") if getattr(spec, name)]
    if len(targets) != 1:
        raise ChannelError("invalid_target", "department, user, duty_post: give exactly one of them", "department")
    if not spec.name.strip() or len(spec.name) > NAME_MAX:
        raise ChannelError("invalid_name", f"name: 1 to {NAME_MAX} characters", "name")
    if spec.min_level not in LEVEL_RANK:
        raise ChannelError("invalid_level", f"min_level: one of {', '.join(LEVELS)}", "min_level")
    if (spec.duty_post == CALLERS) != any(form in spec.url for form in _PHONE_FORMS):
        raise ChannelError("phone_placeholder", f"url: {PHONE} belongs in the URL of the {CALLERS!r} channel alone",
                           "url")
    row = NotificationChannel(name=spec.name.strip(), url_masked=masked_url(spec.url),
                              url_encrypted=encrypt_url(spec.url), min_level=spec.min_level,
                              duty_post=spec.duty_post, created_by=actor_id)
    if spec.department:
        row.department = session.scalar(select(Department).where(Department.code == spec.department))
        if row.department is None:
            raise ChannelError("unknown_department", f"department: no department {spec.department!r}", "department")
    if spec.user:
        row.user = session.scalar(select(User).where(User.username == spec.user))
        if row.user is None:
            raise ChannelError("unknown_user", f"user: no user {spec.user!r}", "user")
    session.add(row)
    session.flush()
    _audit(session, actor_id, "channel.create", row)
    return row


def list_channels(session: Session) -> list[NotificationChannel]:
    """The channels not deleted, oldest first."""
    return list(session.scalars(
        select(NotificationChannel).where(NotificationChannel.deleted_at.is_(None)).order_by(NotificationChannel.id)
    ))


def has_channels(session: Session) -> bool:
    """Whether any channel is configured."""
    return session.scalar(select(NotificationChannel.id).where(NotificationChannel.deleted_at.is_(None)).limit(1)) \
        is not None


def delete_channel(session: Session, channel_id: int, *, actor_id: int | None) -> NotificationChannel | None:
    """Delete a channel (None if there is none): it queues nothing more and what it has not sent is cancelled;
    its row stays for the delivery record. Forbidden when ``actor_id`` is a user without ``channel.write``."""
    _require_writer(session, actor_id)
    row = session.get(NotificationChannel, channel_id)
    if row is None or row.deleted_at is not None:
        return None
    row.deleted_at = utcnow()
    session.execute(update(OutboxMessage).where(OutboxMessage.channel_id == channel_id, OutboxMessage.state == PENDING)
                    .values(state=CANCELLED, last_error="channel deleted"))
    _audit(session, actor_id, "channel.delete", row)
    return row


def _require_writer(session: Session, actor_id: int | None) -> None:
    """Nothing for the system (``actor_id`` None: seeds, benches, the CLI) or a user holding ``channel.write``
    (admins); ``domain.errors.Forbidden`` for any other user, or an id that is nobody's."""
    if actor_id is not None:
        actor = session.get(User, actor_id)
        require(actor.role if actor is not None else None, Permission.CHANNEL_WRITE)


def _audit(session: Session, actor_id: int | None, action: str, row: NotificationChannel) -> None:
    write_audit(session, actor_id, action, f"channel:{row.id}",
                detail={"name": row.name, "url": row.url_masked, "min_level": row.min_level,
                        "target": _target(row)})


def _target(row: NotificationChannel) -> dict[str, str | None]:
    return {"department": row.department.code if row.department is not None else None,
            "user": row.user.username if row.user is not None else None, "duty_post": row.duty_post}


def channel_to_dict(row: NotificationChannel) -> dict[str, Any]:
    """The API representation of a channel: the URL masked, never in clear."""
    from dispatch.service import to_iso

    return {"id": row.id, "name": row.name, "url": row.url_masked, **_target(row), "min_level": row.min_level,
            "created_at": to_iso(row.created_at)}


# --- events -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Something that notifies: ``key`` names it uniquely (the idempotency key is ``key`` + channel)."""

    key: str
    kind: str
    title: str
    body: str
    department_id: int | None = None
    assignee_id: int | None = None
    level: str | None = None
    incident_id: int | None = None
    alert_id: int | None = None
    #: Only this duty post's channels hear it (a step of ``ESCALATION_CHAIN``).
    duty_post: str | None = None


def _recipients(session: Session, event: Event, now: datetime) -> list[NotificationChannel]:
    """The channels that hear ``event`` (see the module docstring), duty posts resolved through the rota."""
    if event.duty_post is not None:
        return _to_person_on_duty(session, session.scalars(select(NotificationChannel).where(
            NotificationChannel.deleted_at.is_(None), NotificationChannel.duty_post == event.duty_post)
            .order_by(NotificationChannel.id)), now)
    audience = [NotificationChannel.duty_post.is_not(None)
                & NotificationChannel.duty_post.not_in((*ESCALATION_CHAIN[1:], CALLERS))]
    if event.department_id is not None:
        audience.append(NotificationChannel.department_id == event.department_id)
        audience.append(NotificationChannel.user_id.in_(
            select(User.id).where(User.department_id == event.department_id, User.active.is_(True))))
    if event.assignee_id is not None:
        audience.append(NotificationChannel.user_id == event.assignee_id)
    rows = session.scalars(select(NotificationChannel)
                           .where(NotificationChannel.deleted_at.is_(None), or_(*audience))
                           .order_by(NotificationChannel.id))
    rank = LEVEL_RANK.get(event.level or "")
    return _to_person_on_duty(
        session, [row for row in rows if rank is None or rank >= LEVEL_RANK.get(row.min_level, 0)], now)


def _to_person_on_duty(session: Session, channels: Iterable[NotificationChannel],
                       now: datetime) -> list[NotificationChannel]:
    """``channels`` with each duty-post channel replaced by the own channels of the user the rota has on that
    post at ``now``, where they have any (the post's channel otherwise); each channel once."""
    channels = list(channels)
    posts = {row.duty_post for row in channels if row.duty_post is not None}
    holders = {post: user.id for post, user in on_duty(session, now).items() if post in posts} if posts else {}
    own: dict[int, list[NotificationChannel]] = defaultdict(list)
    if holders:
        for row in session.scalars(select(NotificationChannel).where(
                NotificationChannel.deleted_at.is_(None), NotificationChannel.user_id.in_(set(holders.values())))
                .order_by(NotificationChannel.id)):
            own[row.user_id].append(row)
    resolved: dict[int, NotificationChannel] = {}
    for row in channels:
        person = own.get(holders.get(row.duty_post, -1), []) if row.duty_post is not None else []
        for channel in person or [row]:
            resolved.setdefault(channel.id, channel)
    return list(resolved.values())


def enqueue(session: Session, event: Event, now: datetime | None = None) -> int:
    """Queue ``event`` for every channel that hears it, in the caller's transaction; an event already queued
    for a channel is not queued again. Returns how many messages were new."""
    now = now or utcnow()
    channels = _recipients(session, event, now)
    if not channels:
        return 0
    values = []
    for channel in channels:
        key = f"{event.key}/channel:{channel.id}"
        values.append({
            "idempotency_key": key, "kind": event.kind, "channel_id": channel.id, "incident_id": event.incident_id,
            "alert_id": event.alert_id, "title": event.title, "body": f"{event.body}\n\nref: {key}",
            "state": PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
        })
    return _insert(session, values)


def _insert(session: Session, values: list[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping those whose idempotency key is queued already; how many were new."""
    result = session.execute(
        dialect_insert(session, OutboxMessage.__table__).values(values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(OutboxMessage.__table__.c.id)
    )
    return len(result.all())


# --- replies to callers (issue 20 §2) ------------------------------------------------------------


def sms_number(phone: str | None) -> str | None:
    """``phone`` as an SMS gateway takes it — digits with an optional leading ``+``, spaces, dots, dashes and
    brackets dropped — or None when it is none (empty, letters, an extension...)."""
    number = re.sub(r"[\s.()\-]", "", phone or "")
    return number if _SMS_NUMBER.match(number) else None


def address(url: str, recipient: str | None) -> str:
    """``url`` with its ``{phone}`` replaced by ``recipient`` URL-quoted (before Apprise parses it); the URL
    itself for a message without one. ChannelError when the two do not match (a placeholder without a number,
    a number without a placeholder, a recipient that is no SMS number)."""
    form = next((form for form in _PHONE_FORMS if form in url), None)
    if recipient is None and form is None:
        return url
    if recipient is None or form is None or sms_number(recipient) != recipient:
        raise ChannelError("no_recipient", "the channel URL and the message do not agree on a phone number")
    return url.replace(form, quote(recipient, safe=""))


def masked_phone(text: str, recipient: str | None) -> str:
    """``text`` (an error) with ``recipient`` masked wherever it appears, plain or URL-quoted."""
    if not recipient:
        return text
    from dispatch.service import mask_phone

    for form in sorted({recipient, quote(recipient, safe=""), recipient.lstrip("+")}, key=len, reverse=True):
        text = text.replace(form, mask_phone(recipient) or "")
    return text


class _MaskPhones(logging.Filter):
    """Masks what looks like a phone number in Apprise's log records before any handler sees them: a reply's
    URL names the caller's phone, and neither the server log nor the error recorded for a message (captured
    from the same logger, by every send thread at once) may show it in full."""

    def filter(self, record: logging.LogRecord) -> bool:
        from dispatch.service import mask_phone

        text = record.getMessage()
        masked = _PHONE_RUN.sub(lambda found: mask_phone(found.group()) or "", text)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


apprise.logger.addFilter(_MaskPhones())  # the "apprise" logger, which every plugin logs through


def on_reply(session: Session, incident: Incident) -> int:
    """Queue the reply just recorded on ``incident`` (its ``public_reply`` at ``replied_at``) as an SMS to the
    caller's phone through the callers' channel, in the caller's transaction: one message per reply (the key
    is the incident and the reply time), none when the caller left no SMS number or no callers' channel is
    configured. The text is the reply and the case code, nothing internal. Returns how many were queued."""
    phone = sms_number(incident.caller_phone)
    if phone is None or incident.replied_at is None or not incident.public_reply:
        return 0
    channel_id = session.scalar(select(NotificationChannel.id).where(
        NotificationChannel.deleted_at.is_(None), NotificationChannel.duty_post == CALLERS)
        .order_by(NotificationChannel.id).limit(1))
    if channel_id is None:
        return 0
    lang, now = _lang(), utcnow()
    fields = {"code": incident.code, "reply": incident.public_reply}
    stamp = int(incident.replied_at.timestamp() * 1_000_000)
    return _insert(session, [{
        "idempotency_key": f"incident:{incident.id}:reply:{stamp}/channel:{channel_id}", "kind": "reply",
        "channel_id": channel_id, "incident_id": incident.id, "alert_id": None, "recipient": phone,
        "title": t("notify.reply.title", lang, **fields), "body": t("notify.reply.body", lang, **fields),
        "state": PENDING, "attempts": 0, "created_at": now, "next_attempt_at": now,
    }])


def _lang() -> str:
    return get_settings().lang


def _incident_text(kind: str, incident: Incident, department: Department | None, **values: object) -> tuple[str, str]:
    lang = _lang()
    department_name = (department.name_zh if lang == "zh" else department.name_en) if department else "-"
    fields = {"code": incident.code, "title": incident.title, "department": department_name, **values}
    return t(f"notify.{kind}.title", lang, **fields), t(f"notify.{kind}.body", lang, **fields)


def on_incident_event(
    session: Session, kind: str, incident: Incident, *, department: Department | None, note: str | None = None,
    level: str | None = None, key: str | None = None, to_department: bool = True,
) -> int:
    """Queue an incident event (``dispatch``, ``escalate``, ``postpone_request``, ``card_yellow``, ``card_red``).
    Its key defaults to the incident's version, which every workflow action moves on exactly once."""
    title, body = _incident_text(kind, incident, department, note=note or "-")
    event = Event(
        key=key or f"incident:{incident.id}@{incident.version}:{kind}", kind=kind, title=title, body=body,
        department_id=department.id if department is not None and to_department else None,
        assignee_id=incident.assignee_id if to_department else None, level=level, incident_id=incident.id,
    )
    return enqueue(session, event)


def on_cards(session: Session, changes: Sequence[dict[str, Any]]) -> int:
    """Queue the yellow and red cards among the sweep's ``changes`` (``{"id", "card"}``); a card is one event
    per incident, colour and deadlines, so a postponed incident that goes yellow again notifies again."""
    cards = {change["id"]: change["card"] for change in changes if change["card"] in ("yellow", "red")}
    if not cards:
        return 0
    queued = 0
    for incident in session.scalars(select(Incident).where(Incident.id.in_(list(cards))).order_by(Incident.id)):
        card = cards[incident.id]
        deadlines = "-".join(str(int(d.timestamp())) if d else "0"
                             for d in (incident.handle_deadline, incident.close_deadline))
        queued += on_incident_event(session, f"card_{card}", incident, department=incident.department, level=card,
                                    key=f"incident:{incident.id}:card:{card}:{deadlines}")
    return queued


def on_task_cards(session: Session, changes: Sequence[dict[str, Any]]) -> int:
    """Queue the yellow and red cards among a task sweep's ``changes`` (``{"id", "card"}`` of ``JointTask``
    rows, issue 17 §2) to each task's own department, naming the incident and the department: one event per
    task, colour, deadline and return, so a task given a new deadline, or returned and late again, notifies
    again and a re-run of the sweep never does."""
    cards = {change["id"]: change["card"] for change in changes if change["card"] in ("yellow", "red")}
    if not cards:
        return 0
    queued = 0
    for task in session.scalars(select(JointTask).where(JointTask.id.in_(list(cards))).order_by(JointTask.id)):
        card, kind = cards[task.id], f"task_card_{cards[task.id]}"
        deadline = int(task.handle_deadline.timestamp()) if task.handle_deadline else 0
        title, body = _incident_text(kind, task.incident, task.department)
        queued += enqueue(session, Event(
            key=f"task:{task.id}:card:{card}:{deadline}:{task.returned_count or 0}", kind=kind, title=title,
            body=body, department_id=task.department_id, level=card, incident_id=task.incident_id))
    return queued


def on_alerts(session: Session, alerts: Iterable[tuple[Alert, str | None]]) -> int:
    """Queue each firing, unmuted, real alert (with its rule's incident category, if any) at its level: one
    event per alert and level, so a rise from yellow to red notifies again and a re-run never does."""
    queued = 0
    lang = _lang()
    if not has_channels(session):  # the engine calls this every run: stay cheap while nobody listens
        return 0
    for alert, category_code in alerts:
        if not _notifiable(alert):
            continue
        incident = session.get(Incident, alert.incident_id) if alert.incident_id is not None else None
        department_id = incident.department_id if incident is not None else None
        if department_id is None and category_code:
            department_id = session.scalar(select(Category.department_id).where(Category.code == category_code))
        fields = _alert_fields(session, alert, incident, lang)
        event = Event(
            key=f"alert:{alert.id}:{alert.level}", kind="alert", title=t("notify.alert.title", lang, **fields),
            body=t("notify.alert.body", lang, **fields), department_id=department_id,
            assignee_id=incident.assignee_id if incident is not None else None, level=alert.level,
            incident_id=alert.incident_id, alert_id=alert.id,
        )
        queued += enqueue(session, event)
    return queued


def _notifiable(alert: Alert) -> bool:
    """A real alert that fires, neither muted nor acknowledged."""
    return alert.state == "firing" and alert.muted is None and not alert.exercise and alert.acked_at is None


def _alert_fields(session: Session, alert: Alert, incident: Incident | None, lang: str) -> dict[str, object]:
    sensor = session.get(Sensor, alert.sensor_id)
    return {"level": t(f"notify.level.{alert.level}", lang), "sensor": alert.sensor_id,
            "sensor_name": sensor.name if sensor is not None else "-", "rule": alert.rule_id,
            "value": alert.value, "code": incident.code if incident is not None else "-"}


def _escalate_after(rules: dict[str, dict]) -> dict[str, timedelta]:
    """The rules whose ``labels.escalate_after`` is a valid positive duration, with it."""
    waits = {}
    for rule_id, body in rules.items():
        raw = ((body or {}).get("labels") or {}).get(ESCALATE_LABEL)
        if raw is None:
            continue
        try:
            wait = parse_duration(raw)
        except ValueError:
            log.error("rule %s: labels.%s %r is not a duration, ignored", rule_id, ESCALATE_LABEL, raw)
            continue
        if wait > timedelta(0):
            waits[rule_id] = wait
    return waits


def escalate_unacknowledged(session: Session, now: datetime) -> int:
    """Queue the next step of ``ESCALATION_CHAIN`` for every red or orange alert still unacknowledged
    ``labels.escalate_after`` (per rule) after it fired, again after twice that, and so on; each step once."""
    rules = session.execute(select(Rule.id, Rule.body).where(Rule.enabled))
    waits = _escalate_after({rule_id: body for rule_id, body in rules})
    if not waits or not has_channels(session):
        return 0
    queued, lang = 0, _lang()
    firing = session.scalars(select(Alert).where(
        Alert.state == "firing", Alert.level.in_(ESCALATING_LEVELS), Alert.acked_at.is_(None),
        Alert.muted.is_(None), Alert.exercise.is_(False), Alert.rule_id.in_(list(waits)),
        Alert.fired_at.is_not(None)).order_by(Alert.id))
    for alert in firing:
        wait = waits[alert.rule_id]
        steps = min(int((now - alert.fired_at) / wait), len(ESCALATION_CHAIN) - 1)
        incident = session.get(Incident, alert.incident_id) if alert.incident_id is not None else None
        for step in range(1, steps + 1):
            minutes = int((wait * step).total_seconds() // 60)
            fields = {**_alert_fields(session, alert, incident, lang), "minutes": minutes}
            queued += enqueue(session, Event(
                key=f"alert:{alert.id}:unacknowledged:{step}", kind="alert_unacked",
                title=t("notify.alert_unacked.title", lang, **fields),
                body=t("notify.alert_unacked.body", lang, **fields), level=alert.level,
                incident_id=alert.incident_id, alert_id=alert.id, duty_post=ESCALATION_CHAIN[step],
            ), now)
    return queued


def outbox_job(session: Session, now: datetime) -> dict[str, int]:
    """The scheduler's ``outbox`` job: deliver what is due, then queue the escalations of unacknowledged alerts
    (after the sends, so no write lock is held during them; they go out on the next run)."""
    counts = deliver_due(session, now)
    return {**counts, "escalated": escalate_unacknowledged(session, now)}


# --- delivery -----------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed try: 10 s, 20 s, 40 s ... at most 10 minutes."""
    return min(BACKOFF_FIRST * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def send(url: str, title: str, body: str) -> str | None:
    """Send one message through Apprise; None when it went, else why not."""
    notifier = apprise.Apprise()
    if not notifier.add(url):
        return "the channel URL no longer parses"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        delivered = notifier.notify(body=body, title=title)
    if delivered:
        return None
    return (captured.getvalue().strip() or "not delivered")[-ERROR_MAX:]


@dataclass
class _Outcome:
    message_id: int
    error: str | None
    tried: bool = True


def _send_channel(
    url: str | None, problem: str | None, messages: Sequence[tuple[int, str, str, str | None]]
) -> list[_Outcome]:
    """Send one channel's messages in order, each to its recipient if it has one (its phone masked in any
    error); after the channel's first failure the rest wait untried (the channel is down)."""
    outcomes: list[_Outcome] = []
    for message_id, title, body, recipient in messages:
        if outcomes and outcomes[-1].error is not None:
            outcomes.append(_Outcome(message_id, None, tried=False))
            continue
        try:
            error = problem if url is None else send(address(url, recipient), title, body)
        except ChannelError as exc:
            error = exc.message
        except Exception as exc:  # a plugin bug must cost one attempt, not the whole batch
            error = f"{type(exc).__name__}: {exc}"
        outcomes.append(_Outcome(message_id, error if error is None else masked_phone(error, recipient)))
    return outcomes


def _cancel_stopped(session: Session, messages: Sequence[OutboxMessage]) -> set[int]:
    """Cancel the messages of alerts acknowledged or silenced since, and of deleted channels; returns their ids."""
    alert_ids = {m.alert_id for m in messages if m.alert_id is not None}
    stopped_alerts = set(session.scalars(select(Alert.id).where(
        Alert.id.in_(alert_ids), or_(Alert.acked_at.is_not(None), Alert.muted.is_not(None))))) if alert_ids else set()
    cancelled = set()
    for message in messages:
        reason = ("alert acknowledged or silenced" if message.alert_id in stopped_alerts
                  else "channel deleted" if message.channel.deleted_at is not None else None)
        if reason:
            message.state, message.last_error = CANCELLED, reason
            cancelled.add(message.id)
    return cancelled


def deliver_due(session: Session, now: datetime, *, limit: int = BATCH) -> dict[str, int]:
    """The ``outbox`` job: send the pending messages due at ``now`` (oldest first), record each attempt, and
    reschedule failures with backoff. Sends happen before any write, so the write lock is held only briefly."""
    messages = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.state == PENDING, OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(limit).with_for_update(skip_locked=True)
    ))
    cancelled = _cancel_stopped(session, messages)
    by_channel: dict[int, list[OutboxMessage]] = defaultdict(list)
    for message in messages:
        if message.id not in cancelled:
            by_channel[message.channel_id].append(message)
    jobs = []
    for queued in by_channel.values():
        try:
            url, problem = decrypt_url(queued[0].channel.url_encrypted), None
        except ChannelError as exc:
            url, problem = None, exc.message
        jobs.append((url, problem, [(m.id, m.title, m.body, m.recipient) for m in queued]))
    outcomes: list[_Outcome] = []
    if jobs:
        with ThreadPoolExecutor(max_workers=min(SEND_THREADS, len(jobs))) as pool:
            for result in pool.map(lambda job: _send_channel(*job), jobs):
                outcomes.extend(result)
    return {**_record_outcomes(session, messages, outcomes, now), "cancelled": len(cancelled)}


def _record_outcomes(
    session: Session, messages: Sequence[OutboxMessage], outcomes: Sequence[_Outcome], now: datetime
) -> dict[str, int]:
    by_id = {m.id: m for m in messages}
    counts = {"sent": 0, "failed": 0, "waiting": 0, "given_up": 0}
    retry_at: dict[int, datetime] = {}
    for outcome in outcomes:
        message = by_id[outcome.message_id]
        if not outcome.tried:  # its channel just failed: wait as long as the message that failed
            message.next_attempt_at = retry_at.get(message.channel_id, now + backoff(1))
            counts["waiting"] += 1
            continue
        message.attempts += 1
        session.add(DeliveryAttempt(message_id=message.id, at=now, ok=outcome.error is None, error=outcome.error))
        if outcome.error is None:
            message.state, message.sent_at, message.last_error = SENT, now, None
            counts["sent"] += 1
            continue
        message.last_error = outcome.error
        message.next_attempt_at = retry_at[message.channel_id] = now + backoff(message.attempts)
        if now - message.created_at >= GIVE_UP_AFTER:
            message.state = FAILED
            counts["given_up"] += 1
        counts["failed"] += 1
    session.flush()
    return counts


def deliveries(
    session: Session, *, incident_id: int | None = None, alert_id: int | None = None
) -> list[dict[str, Any]]:
    """The delivery status of an incident's or an alert's notifications: channel, event kind, state, attempts,
    when sent and the last error."""
    from dispatch.service import to_iso

    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if incident_id is not None:
        query = query.where(OutboxMessage.incident_id == incident_id)
    if alert_id is not None:
        query = query.where(OutboxMessage.alert_id == alert_id)
    from dispatch.service import mask_phone

    return [{"channel": m.channel.name, "channel_id": m.channel_id, "kind": m.kind, "state": m.state,
             "attempts": m.attempts, "sent_at": to_iso(m.sent_at), "last_error": m.last_error,
             "recipient": mask_phone(m.recipient)}
            for m in session.scalars(query)]
