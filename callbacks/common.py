"""What every callback module shares: one unit of work per callback on the running app's database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session


@contextmanager
def uow() -> Iterator[Session]:
    """One unit of work for a callback, on the running app's database."""
    with current_app.extensions["cityops_db"].uow() as session:
        yield session
