"""The reference catalog: 20 departments, unique category codes, the rules' codes, idempotent load."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from data.catalog import CATEGORIES, CATEGORY_BY_CODE, DEPARTMENT_BY_CODE, DEPARTMENTS, load_catalog
from data.models import Category, Department

CONTRACT_CODES = {
    "L01": "gas",
    "L02": "water_supply",
    "L03": "drainage",
    "L04": "housing",
    "L05": "urban_management",
    "L06": "heating",
    "E01": "ecology_environment",
    "E02": "ecology_environment",
    "E03": "ecology_environment",
    "E04": "ecology_environment",
}


def test_there_are_exactly_twenty_departments_with_unique_codes_and_names():
    assert len(DEPARTMENTS) == 20
    assert len({d.code for d in DEPARTMENTS}) == 20
    assert len({d.name_zh for d in DEPARTMENTS}) == 20
    assert all(d.name_en for d in DEPARTMENTS)


def test_category_codes_are_unique_and_follow_the_documented_scheme():
    codes = [c.code for c in CATEGORIES]
    assert len(codes) == len(set(codes))
    for c in CATEGORIES:
        assert re.fullmatch(r"[BS]\d{4}|[LEV]\d{2}", c.code), c.code
        assert c.kind == ("component" if c.code.startswith("B") else "event"), c.code
        assert c.department in DEPARTMENT_BY_CODE, c.code
        assert 0 < c.handle_hours <= c.close_hours, c.code
        assert 4 <= c.handle_hours <= 72 and 24 <= c.close_hours <= 168, c.code


def test_both_kinds_and_the_gbt_30428_major_classes_are_present():
    components = {c.major for c in CATEGORIES if c.kind == "component"}
    assert components == {"公用设施", "道路交通", "市容环境", "园林绿化", "房屋土地", "其他设施"}
    names = {c.name_zh for c in CATEGORIES}
    for expected in ("上水井盖", "燃气井盖", "暴露垃圾", "占道经营", "机动车乱停放", "违章搭建", "道路破损"):
        assert expected in names


def test_the_alert_engine_contract_codes_route_to_the_right_departments():
    for code, department in CONTRACT_CODES.items():
        assert CATEGORY_BY_CODE[code].department == department, code
    for code in ("V01", "V02", "V03"):
        assert code in CATEGORY_BY_CODE
    assert CATEGORY_BY_CODE["L01"].name_zh == "燃气泄漏/压力异常"
    assert CATEGORY_BY_CODE["L03"].name_zh == "道路积水"


def test_load_catalog_inserts_everything_once_and_links_departments(session):
    load_catalog(session)
    load_catalog(session)
    assert session.scalar(select(func.count()).select_from(Department)) == 20
    assert session.scalar(select(func.count()).select_from(Category)) == len(CATEGORIES)
    gas = session.get(Category, "L01")
    assert gas.department.code == "gas"
    assert gas.kind == "event" and gas.handle_hours == CATEGORY_BY_CODE["L01"].handle_hours


def test_load_catalog_keeps_existing_rows_and_adds_only_missing_ones(session):
    session.add(Department(code="gas", name_zh="本地燃气", name_en="Local gas"))
    session.flush()
    load_catalog(session)
    assert session.scalar(select(Department.name_zh).where(Department.code == "gas")) == "本地燃气"
    assert session.scalar(select(func.count()).select_from(Department)) == 20
    assert session.get(Category, "B0106").department.code == "gas"
