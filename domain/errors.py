"""The one base class of domain refusals and its kinds, each with an HTTP status and an i18n key.

``DomainError(code, message_key, **values)``: ``code`` is machine-readable (the API's
``{"error": {"code"}}``), ``message_key`` an i18n key the pages translate with ``values``
(default ``error.<code>``), ``message`` an English text for the API and logs. The API
(``api.errors``) and the pages (``callbacks.pagekit.refusal_message``) both render it.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """A refusal of the domain: nothing was written."""

    status: ClassVar[int] = 422

    def __init__(self, code: str, message_key: str | None = None, /, *, message: str | None = None,
                 **values: object) -> None:
        self.code = code
        self.message_key = message_key or f"error.{code}"
        self.values = values
        self.message = message or code.replace("_", " ")
        super().__init__(self.message)


class Forbidden(DomainError):
    """The actor's role lacks the permission (403)."""

    status = 403


class NotFound(DomainError):
    """The object does not exist, or the actor may not see it (404)."""

    status = 404


class Conflict(DomainError):
    """The write conflicts with the stored state (409)."""

    status = 409


class StaleVersion(Conflict):
    """The client acted on an older version than the stored one (409)."""


class Invalid(DomainError):
    """A parameter is missing or wrong (422)."""

    status = 422


class ActionNotAllowed(DomainError):
    """An action the state machine or the incident permission table refuses (422, as the API always said)."""

    status = 422

    def __init__(self, code: str, message: str, /, **values: object) -> None:
        super().__init__(code, message=message, **values)
