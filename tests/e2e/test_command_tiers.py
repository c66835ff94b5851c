"""A district operator's console at 1920×1080 (issue 17, command tiers): the queue holds their district's
incident and not another district's, the detail shows the handling tier, and a pass-down button hands the
incident to a street centre of the district, which the history then records."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from data.db import Database
from data.models import Area, Grid
from dispatch import tiers
from tests.e2e.accounts import add_user, api_token
from tests.e2e.conftest import login
from tests.e2e.test_bigscreen import _api

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

PASSWORD = "Tier-operator-2026-e2e!"


def _district_with_grid(session, skip: str | None = None) -> tuple[str, tuple[float, float]]:
    """A district (other than ``skip``) holding a grid, and a point in the middle of that grid's box."""
    for code in session.scalars(select(Area.code).where(Area.level == "district").order_by(Area.code)):
        grid_ids = tiers.area_grid_ids(session, code)
        if code != skip and grid_ids:
            grid = session.get(Grid, min(grid_ids))
            return code, ((grid.minx + grid.maxx) / 2, (grid.miny + grid.maxy) / 2)
    raise AssertionError("the seeded city needs two districts with grids")


def test_a_district_operator_works_their_district_only(page, live_server):
    db = Database(live_server.env["CITYOPS_DATABASE_URL"])
    with db.uow() as s:
        mine, here = _district_with_grid(s)
        _, there = _district_with_grid(s, skip=mine)
    db.dispose()
    add_user(live_server, "tier-e2e", "operator", PASSWORD, area=mine)
    token = api_token(live_server, "admin")
    codes = {}
    for name, (lon, lat) in (("mine", here), ("other", there)):
        made = _api(live_server, token, "POST", "/incidents",
                    {"category": "S0101", "title": f"tier e2e {name}", "lon": lon, "lat": lat})
        codes[name] = made["code"]

    login(page, live_server, "tier-e2e", PASSWORD)
    page.goto(f"{live_server.url}/console")
    row = page.get_by_test_id("incident-row").filter(has_text=codes["mine"])
    row.wait_for(timeout=20_000)
    assert page.get_by_test_id("incident-row").filter(has_text=codes["other"]).count() == 0

    row.get_by_test_id("console-select").click()
    detail = page.get_by_test_id("incident-detail").filter(has_text=codes["mine"])
    detail.wait_for(timeout=15_000)
    assert "市级指挥中心" in detail.inner_text()  # not passed down yet: the city centre handles it
    button = page.locator("[data-testid^=console-pass-down-]").first
    button.wait_for(timeout=15_000)
    button.click()
    page.get_by_test_id("history-item").filter(has_text="下派").first.wait_for(timeout=15_000)
    assert f"({mine})" in page.get_by_test_id("incident-detail").inner_text()  # now the district's centre
