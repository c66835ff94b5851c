"""A small seeded demo city built once per test module and copied for each test (a file copy is far
quicker than seeding again), shared by the map, import and layers-API tests."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

from data.db import Database
from data.demo import seed_demo_city


def seeded_template(folder: Path, seed: int) -> Path:
    """Seed a scale-0.02 demo city into ``folder`` and return its SQLite file."""
    db = Database(f"sqlite:///{folder / 'city.db'}")
    db.migrate()
    seed_demo_city(db, scale=0.02, seed=seed, demo_passwords=False)
    db.dispose()
    return folder / "city.db"


def city_copy(template: Path, folder: Path) -> Iterator[Database]:
    """A Database on a fresh copy of ``template`` in ``folder`` (a fixture body: yields, then disposes)."""
    shutil.copy(template, folder / "city.db")
    db = Database(f"sqlite:///{folder / 'city.db'}")
    yield db
    db.dispose()
