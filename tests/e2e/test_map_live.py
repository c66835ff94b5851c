"""The live layers of the city map in a real headless Chromium: every open incident is drawn — as cells whose
counts add up to all of them at city zoom, as points close up — the badge shows the total, and incidents that
arrive later reach the map through the 5-s deltas."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from data.db import Database
from data.models import Category, Grid, Incident, utcnow
from tests.e2e.conftest import login
from tests.e2e.test_map import GRAPH, USER, wait_for_map

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

INCIDENT_META = f"() => document.querySelector('{GRAPH}').data[5].meta"
BADGE = f"() => document.querySelector('{GRAPH}').layout.annotations[0].text"


def add_open_incidents(url: str, count: int, prefix: str) -> tuple[float, float]:
    """``count`` open incidents straight into the server's database (more than the map once kept);
    returns the place of the first."""
    db = Database(url)
    try:
        with db.uow() as s:
            grids = s.execute(select(Grid.id, Grid.minx, Grid.miny, Grid.maxx, Grid.maxy).order_by(Grid.id)).all()
            category = s.scalars(select(Category.code)).first()
            rows = []
            for i in range(count):
                gid, minx, miny, maxx, maxy = grids[i % len(grids)]
                rows.append({"code": f"{prefix}-{i}", "state": ("reported", "dispatched")[i % 2],
                             "category_code": category, "source": "operator", "title": f"积水 {i}",
                             "lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2, "grid_id": gid,
                             "reported_at": utcnow(), "card": ("none", "red")[i % 2]})
            s.execute(insert(Incident), rows)
            return rows[0]["lon"], rows[0]["lat"]
    finally:
        db.dispose()


def test_every_open_incident_is_on_the_map_and_new_ones_arrive(page, live_server):
    url = live_server.env["CITYOPS_DATABASE_URL"]
    lon, lat = add_open_incidents(url, 650, "E2E-LIVE")
    login(page, live_server, "operator", "operator123")
    wait_for_map(page)
    total = page.request.get(f"{live_server.url}/api/v1/layers/incidents?limit=10000").json()["numberReturned"]
    assert total >= 650
    page.wait_for_function(f"() => {{ const m = ({INCIDENT_META})(); return m && m.mode === 'cells' && "
                           f"m.count === {total}; }}", timeout=30_000)
    counts = page.evaluate(f"() => document.querySelector('{GRAPH}')._fullData[5].text.map(Number)")
    assert sum(counts) == total and len(counts) < total  # cells with counts, every incident in one
    assert str(total) in page.evaluate(BADGE)

    page.evaluate(f"""() => document.querySelector('{GRAPH}')._fullLayout.map._subplot.map
      .jumpTo({{center: [{lon}, {lat}], zoom: 16.5}}, {USER})""")
    page.wait_for_function(f"() => ({INCIDENT_META})().mode === 'points'", timeout=30_000)
    texts = page.evaluate(f"() => document.querySelector('{GRAPH}')._fullData[5].text")
    assert any(text.startswith("E2E-LIVE-0 · ") for text in texts)  # code · title · state

    add_open_incidents(url, 7, "E2E-LATE")
    page.wait_for_function(f"() => ({BADGE})().includes('{total + 7}')", timeout=30_000)
