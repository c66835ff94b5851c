"""Categories in /admin (issue 16): ``dispatch.categories.save_category`` (names, kind, department,
limits per severity, working-hours flag) behind the permission check and with its audit row."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy.orm import Session

from admin.audit import Actor, audit, check
from data.models import Category
from dispatch import categories
from dispatch.categories import CategoryChange
from dispatch.service import InvalidInput
from domain.errors import Invalid
from domain.permissions import Permission


def save_category(session: Session, actor: Actor | None, change: CategoryChange, *, create: bool) -> Category:
    """Create (``create``) or change a category; a refusal (``domain.errors.Invalid``, the service's code) writes
    nothing."""
    check(actor, Permission.CATEGORY_WRITE)
    try:
        category = categories.save_category(session, change, create=create)
    except InvalidInput as exc:
        raise Invalid(exc.code, message=exc.message) from None
    detail = {k: v for k, v in asdict(change).items() if k != "code"}
    detail["limits"] = {severity: list(pair) for severity, pair in change.limits.items()}
    audit(session, actor, "category.create" if create else "category.edit", f"category:{change.code}", detail)
    return category
