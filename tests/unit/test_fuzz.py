"""Hypothesis fuzzing of what the outside world sends in: reading ingestion (``POST /api/v1/readings`` with
any JSON shape), Open311 service requests (any form fields or JSON), and the importers (any CSV bytes).
The rule: a clear 4xx (or a rejected row with its reason), nothing lost, never a 500 or a stray exception."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from data.accounts import issue_open311_key, issue_token
from data.db import Database
from data.importers import ALIASES, KINDS, SPECS, ImportFileError, ImportReport, import_file
from data.models import Camera, Category, Doorplate, Grid, Incident, Reading, Sensor, User, VideoPlatform
from settings import Settings
from tests.unit.city_copies import city_copy, seeded_template

pytestmark = pytest.mark.xdist_group("fuzz")

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

#: Any JSON value (NaN and infinities included: Python's JSON reads them).
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@pytest.fixture(scope="module")
def city(tmp_path_factory) -> Iterator[Database]:
    folder = tmp_path_factory.mktemp("fuzz")
    template = seeded_template(folder, seed=23)
    (folder / "copy").mkdir()
    yield from city_copy(template, folder / "copy")


@pytest.fixture(scope="module")
def client(city):
    from app import create_app

    server, _ = create_app(Settings(database_url=str(city.url), secret_key="fuzz"), city)
    return server.test_client()


@pytest.fixture(scope="module")
def token(city) -> str:
    with city.uow() as s:
        return issue_token(s, s.scalar(select(User).where(User.role == "operator").order_by(User.id)))


@pytest.fixture(scope="module")
def sensor_ids(city) -> list[str]:
    with city.uow() as s:
        return list(s.scalars(select(Sensor.id).order_by(Sensor.id).limit(20)))


def _count(db: Database, model: type) -> int:
    with db.uow() as s:
        return s.scalar(select(func.count()).select_from(model))


# --- reading ingestion ---------------------------------------------------------------------------

_moments = itertools.count()  # every good row of every example gets its own (sensor, ts): none is a duplicate
_BASE = datetime.now(UTC) - timedelta(days=2)

#: A good row, as (sensor index, value); its time is given when the request is made.
GOOD = st.tuples(st.integers(min_value=0, max_value=19), st.floats(allow_nan=False, allow_infinity=False,
                                                                   min_value=-1e9, max_value=1e9))
BAD_ROW = st.one_of(
    JSON,
    st.fixed_dictionaries({"sensor_id": JSON, "ts": JSON, "value": JSON}),
    st.fixed_dictionaries({"sensor_id": st.just("NO-SUCH-SENSOR"), "ts": st.just(_BASE.isoformat()),
                           "value": st.just(1.0)}),
    st.fixed_dictionaries({"sensor_id": st.just("GAS-P-0001"), "ts": st.sampled_from(
        ["2026-01-01T00:00:00", "not a time", "9999-12-31T00:00:00+00:00", ""]),
        "value": st.sampled_from([math.nan, math.inf, -math.inf, "1.0", True])}),
)
ROWS = st.lists(st.one_of(GOOD.map(lambda g: ("good", g)), BAD_ROW.map(lambda b: ("bad", b))), max_size=25)


@FUZZ
@given(rows=ROWS)
def test_ingestion_keeps_every_good_row_and_rejects_the_bad_with_reasons(client, city, token, sensor_ids, rows):
    body: list[Any] = []
    good: list[int] = []
    for index, (kind, row) in enumerate(rows):
        if kind == "good":
            sensor, value = row
            moment = _BASE + timedelta(seconds=next(_moments))
            body.append({"sensor_id": sensor_ids[sensor % len(sensor_ids)], "ts": moment.isoformat(), "value": value})
            good.append(index)
        else:
            body.append(row)
    before = _count(city, Reading)
    response = client.post("/api/v1/readings", data=json.dumps({"readings": body}),
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    result = response.get_json()
    rejected = {r["index"]: r["reason"] for r in result["rejected"]}
    event("good and bad rows in one batch" if good and rejected else "one kind of rows")
    assert result["accepted"] + result["duplicates"] + len(result["rejected"]) == len(body)
    assert all(isinstance(reason, str) and reason for reason in rejected.values())
    assert not set(good) & set(rejected), "a good row was rejected"
    assert result["accepted"] >= len(good)
    assert _count(city, Reading) - before == result["accepted"]  # nothing lost, nothing invented


@FUZZ
@given(body=st.one_of(JSON, st.fixed_dictionaries({"readings": JSON}), st.binary(max_size=200),
                      st.just(b"[" * 50_000), st.just(b'{"readings": ' + b"[" * 50_000)))
def test_ingestion_answers_any_body_with_a_result_or_a_clear_4xx(client, token, body):
    data = body if isinstance(body, bytes) else json.dumps(body)
    response = client.post("/api/v1/readings", data=data,
                           headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert response.status_code in (200, 400, 413, 422), response.get_data(as_text=True)[:300]
    event(f"readings answered {response.status_code}")
    answer = response.get_json()
    assert ("accepted" in answer) if response.status_code == 200 else answer["error"]["code"]


# --- Open311 -------------------------------------------------------------------------------------

OPEN311_FIELDS = ("api_key", "service_code", "lat", "long", "address_string", "address_id", "description",
                  "first_name", "last_name", "phone", "email", "attribute[severity]", "device_id", "media_url")


@pytest.fixture(scope="module")
def open311_values(city, token) -> dict[str, list[str]]:
    """For each field, a good value first, then bad ones (an API token is no Open311 key)."""
    from dispatch.categories import reportable

    with city.uow() as s:
        key = issue_open311_key(s, "fuzz-portal")
        codes = [c for c in s.scalars(select(Category.code).order_by(Category.code)) if reportable(c)][:4]
        plates = list(s.scalars(select(Doorplate.code).order_by(Doorplate.id).limit(3)))
    return {"api_key": [key, token, "cot_not-a-token", ""], "service_code": [*codes, "NOPE", "L01"],
            "lat": ["36.67", "1e999", "x", "-91"], "long": ["117.02", "-inf", "", "200"],
            "address_id": ["", *plates, "NOPE"], "attribute[severity]": ["normal", "urgent", "??"],
            "description": ["路灯不亮", "x" * 5000, "<script>alert(1)</script>"]}


@FUZZ
@given(data=st.data())
def test_open311_answers_any_request_with_a_created_request_or_a_clear_4xx(client, city, open311_values, data):
    fields = {name: choices[0] for name, choices in open311_values.items()}  # a good request ...
    for name, choices in open311_values.items():  # ... spoilt in some fields ...
        if data.draw(st.booleans()):
            fields[name] = data.draw(st.sampled_from(choices))
    fields.update(data.draw(st.dictionaries(st.sampled_from(OPEN311_FIELDS) | st.text(max_size=12),
                                            st.text(max_size=60), max_size=4)))  # ... and filled with junk
    as_json = data.draw(st.booleans())
    fmt = data.draw(st.sampled_from(["json", "json", "xml", "csv"]))
    before = _count(city, Incident)
    response = (client.post(f"/open311/v2/requests.{fmt}", json=fields) if as_json
                else client.post(f"/open311/v2/requests.{fmt}", data=fields))
    assert response.status_code < 500, response.get_data(as_text=True)[:300]
    event(f"open311 answered {response.status_code}")
    assert response.status_code in (201, 400, 403, 404, 413, 415, 422)
    assert _count(city, Incident) - before == (1 if response.status_code == 201 else 0)
    if fmt == "json":
        assert isinstance(json.loads(response.get_data(as_text=True)), list)


# --- importers -----------------------------------------------------------------------------------

IMPORTED = (Doorplate, Camera, Sensor, Grid, VideoPlatform)
COLUMNS = sorted({alias for aliases in ALIASES.values() for alias in aliases}
                 | {"platform", "kind", "unit", "tags", "district", "street", "community", "wkt", "geometry"})
CELL = st.one_of(
    st.text(max_size=12),
    st.floats(min_value=116.8, max_value=117.3).map(str),
    st.floats(min_value=36.5, max_value=36.9).map(str),
    st.sampled_from(["", "NaN", "inf", "-1", "1e400", "0x10", "POINT (117 36.6)", '"', "\n", ",,"]),
)


@st.composite
def csv_bytes(draw: st.DrawFn, kind: str) -> bytes:
    """A CSV file: any bytes at all; or the columns ``kind`` needs (and others) over rows of odd cells, most
    of them sensible enough to be imported."""
    shape = draw(st.sampled_from(["bytes", "columns", "rows"]))
    if shape == "bytes":
        return draw(st.binary(max_size=400))
    if shape == "columns":
        header = draw(st.lists(st.sampled_from(COLUMNS) | st.text(max_size=6), min_size=1, max_size=7))
    else:
        header = [*SPECS[kind].required, "lon", "lat", *draw(st.lists(st.sampled_from(COLUMNS), max_size=3))]
        header = draw(st.permutations(header))
    sensible = {"lon": st.floats(min_value=116.95, max_value=117.09).map(str),
                "lat": st.floats(min_value=36.62, max_value=36.72).map(str),
                "code": st.from_regex(r"[A-Z0-9]{4,10}", fullmatch=True),
                "id": st.from_regex(r"[A-Z][A-Z0-9.-]{3,12}", fullmatch=True)}
    rows = [[draw(sensible[name] if name in sensible and draw(st.integers(0, 3)) else CELL) for name in header]
            for _ in range(draw(st.integers(min_value=0, max_value=8)))]
    lines = [",".join(header), *(",".join(cells) for cells in rows)]
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "gb18030", "utf-16"]))
    return "\n".join(lines).encode(encoding, errors="replace")


def _counts(db: Database) -> dict[str, int]:
    return {model.__tablename__: _count(db, model) for model in IMPORTED}


@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_an_import_of_any_csv_reports_or_refuses_and_refusing_changes_nothing(city, tmp_path_factory, data):
    kind = data.draw(st.sampled_from(KINDS))
    content = data.draw(csv_bytes(kind))
    path = Path(tmp_path_factory.getbasetemp()) / "fuzz-import.csv"
    path.write_bytes(content)
    before = _counts(city)
    try:
        report = import_file(city, kind, path)
    except ImportFileError as exc:
        event("import refused")
        assert str(exc)
        assert _counts(city) == before
        return
    assert isinstance(report, ImportReport)
    event("rows imported" if report.imported else "rows rejected" if report.rejected else "nothing to import")
    table = {"doorplates": "doorplates", "cameras": "cameras", "sensors": "sensors", "grids": "grids"}[kind]
    assert _counts(city)[table] - before[table] == report.added  # a known code is updated, not added
    assert report.imported == report.added + report.changed + report.unchanged
    assert all(isinstance(row, int) and reason for row, reason in report.rejected)
