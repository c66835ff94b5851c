"""The example city pack and a large import on the real PostgreSQL (issue 16, part C): above
``COPY_ABOVE`` rows an upsert writes with COPY inside the import's transaction — a dry run and a refused
pack still write nothing, JSON columns and column defaults arrive as an INSERT would give them, and a
re-import reads the table once and finds everything unchanged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from data.importers import COPY_ABOVE, ImportFileError, import_file
from data.models import Doorplate, Grid, Sensor, User
from dispatch.city_pack import import_pack
from tests.unit.test_city_pack import make_pack

N = COPY_ABOVE + 1


def many(path: Path, kind: str) -> Path:
    """``N`` points inside the example city: doorplates or sensors (with tags)."""
    lon = [116.01 + (i % 170) * 0.001 for i in range(N)]
    lat = [28.01 + (i // 170) * 0.001 for i in range(N)]
    if kind == "doorplates":
        frame = pd.DataFrame({"code": [f"MP{i:06d}" for i in range(N)], "address": [f"{i}号" for i in range(N)],
                              "households": [i % 7 for i in range(N)], "lon": lon, "lat": lat})
    else:
        frame = pd.DataFrame({"id": [f"S-{i:05d}" for i in range(N)], "kind": "gas_pressure", "name": "压力",
                              "tags": "medium-a|east", "lon": lon, "lat": lat})
    frame.to_csv(path, index=False)
    return path


def count(db, model) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_the_pack_and_a_copy_sized_import_on_postgresql(pg_db, tmp_path):
    pack = make_pack.make_pack(tmp_path / "linxi")
    import_pack(pg_db, pack)
    with pg_db.uow() as s:
        assert s.scalar(select(User.username).join(Grid, Grid.worker_id == User.id).where(Grid.code == "LX-G01")) \
            == "lx_w1"
    doorplates = many(tmp_path / "doorplates.csv", "doorplates")
    preview = import_file(pg_db, "doorplates", doorplates, dry_run=True)
    assert preview.added == N and count(pg_db, Doorplate) == 6  # COPY ran in the rolled-back transaction
    report = import_file(pg_db, "doorplates", doorplates)
    assert (report.added, report.rejected) == (N, [])
    with pg_db.uow() as s:
        assert s.scalar(select(func.count()).where(Doorplate.grid_id.is_not(None))) > N // 2
        assert s.scalar(select(Doorplate.households).where(Doorplate.code == "MP000010")) == 3
    again = import_file(pg_db, "doorplates", doorplates)
    assert (again.added, again.changed, again.unchanged, len(again.missing)) == (0, 0, N, 6)

    sensors = import_file(pg_db, "sensors", many(tmp_path / "sensors.csv", "sensors"))
    assert sensors.added == N
    with pg_db.uow() as s:
        sensor = s.get(Sensor, "S-00042")
        assert (sensor.tags, sensor.status, sensor.simulated) == (["medium-a", "east"], "online", False)


def test_a_refused_pack_leaves_nothing_behind_on_postgresql(pg_db, tmp_path):
    pack = make_pack.make_pack(tmp_path / "linxi")
    many(pack / "doorplates.csv", "doorplates")  # written with COPY before the bad file …
    (pack / "resources.csv").write_text("code,name\nR-1,x\n", encoding="utf-8")  # … which has no kind column
    with pytest.raises(ImportFileError, match=r"resources\.csv"):
        import_pack(pg_db, pack)
    assert count(pg_db, Doorplate) == 0 and count(pg_db, User) == 0
