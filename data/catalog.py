"""Reference data: the 20 responsible departments and the GB/T 30428-style incident categories.

Category codes (unique across both kinds):

* ``B`` + 4 digits — a component (部件) class of GB/T 30428.2: two digits of major class
  (01 公用设施, 02 道路交通, 03 市容环境, 04 园林绿化, 05 房屋土地, 06 其他设施) and two of
  minor class, e.g. ``B0101`` 上水井盖, ``B0106`` 燃气井盖. (The standard puts 路灯 under
  公用设施, so it is ``B0110`` here.)
* ``S`` + 4 digits — an event (事件) class: major 01 市容环境, 02 宣传广告, 03 施工管理,
  04 突发事件, 05 街面秩序, 06 其他事件, e.g. ``S0101`` 暴露垃圾, ``S0503`` 机动车乱停放.
* ``L`` + 2 digits — lifeline monitoring (城市生命线) events raised by alert rules.
* ``E`` + 2 digits — environmental monitoring (生态环保) events raised by alert rules.
* ``V`` + 2 digits — events raised by the video AI detections (算法模型).

The ``L``/``E``/``V`` codes are a contract with the alert rules and video channel; do not renumber.
Each category names the responsible department by code, a handling limit and a closing limit in hours.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from data.models import Category, Department


@dataclass(frozen=True)
class DepartmentSpec:
    """A responsible department (处置部门) of the reference catalog."""

    code: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class CategorySpec:
    """One incident category: kind ``component`` (部件) or ``event`` (事件)."""

    code: str
    name_zh: str
    name_en: str
    kind: str
    major: str
    department: str
    handle_hours: float
    close_hours: float


URBAN_MANAGEMENT = "urban_management"
HOUSING = "housing"
WATER_AFFAIRS = "water_affairs"
GAS_COMPANY = "gas"
WATER_SUPPLY = "water_supply"
DRAINAGE = "drainage"
TRANSPORT = "transport"
ECOLOGY = "ecology_environment"
MARKET = "market_regulation"
TRAFFIC_POLICE = "traffic_police"
EMERGENCY = "emergency_management"
LANDSCAPING = "landscaping"
SANITATION = "sanitation"
HEATING = "heating"
POWER = "power"
TELECOM = "telecom"
SUBDISTRICT = "subdistrict"
NATURAL_RESOURCES = "natural_resources"
HEALTH = "health"
FIRE_RESCUE = "fire_rescue"

DEPARTMENTS: tuple[DepartmentSpec, ...] = (
    DepartmentSpec(URBAN_MANAGEMENT, "城市管理局", "Urban Management Bureau"),
    DepartmentSpec(HOUSING, "住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    DepartmentSpec(WATER_AFFAIRS, "水务局", "Water Affairs Bureau"),
    DepartmentSpec(GAS_COMPANY, "燃气集团", "Gas Group"),
    DepartmentSpec(WATER_SUPPLY, "供水公司", "Water Supply Company"),
    DepartmentSpec(DRAINAGE, "排水公司", "Drainage Company"),
    DepartmentSpec(TRANSPORT, "交通运输局", "Transport Bureau"),
    DepartmentSpec(ECOLOGY, "生态环境局", "Ecology and Environment Bureau"),
    DepartmentSpec(MARKET, "市场监督管理局", "Market Regulation Bureau"),
    DepartmentSpec(TRAFFIC_POLICE, "公安交警支队", "Traffic Police"),
    DepartmentSpec(EMERGENCY, "应急管理局", "Emergency Management Bureau"),
    DepartmentSpec(LANDSCAPING, "园林绿化局", "Landscaping and Greening Bureau"),
    DepartmentSpec(SANITATION, "环境卫生服务中心", "Sanitation Service Centre"),
    DepartmentSpec(HEATING, "供热公司", "Heating Company"),
    DepartmentSpec(POWER, "供电公司", "Power Supply Company"),
    DepartmentSpec(TELECOM, "通信管理办公室", "Telecommunications Administration"),
    DepartmentSpec(SUBDISTRICT, "街道办事处", "Subdistrict Office"),
    DepartmentSpec(NATURAL_RESOURCES, "自然资源和规划局", "Natural Resources and Planning Bureau"),
    DepartmentSpec(HEALTH, "卫生健康委员会", "Health Commission"),
    DepartmentSpec(FIRE_RESCUE, "消防救援支队", "Fire and Rescue Detachment"),
)


def _cat(
    code: str, name_zh: str, name_en: str, major: str, department: str, handle: float, close: float
) -> CategorySpec:
    kind = "component" if code.startswith("B") else "event"
    return CategorySpec(code, name_zh, name_en, kind, major, department, handle, close)


_PUBLIC, _ROAD, _CITYSCAPE, _GREEN, _HOUSING, _OTHER = [
    "公用设施",
    "道路交通",
    "市容环境",
    "园林绿化",
    "房屋土地",
    "其他设施",
]
_E_CITYSCAPE, _E_ADS, _E_WORKS, _E_EMERGENCY, _E_STREET, _E_OTHER = [
    "市容环境",
    "宣传广告",
    "施工管理",
    "突发事件",
    "街面秩序",
    "其他事件",
]
_LIFELINE, _ENVIRONMENT, _VIDEO = "城市生命线", "生态环境", "视频识别"

CATEGORIES: tuple[CategorySpec, ...] = (
    # --- components (部件) -------------------------------------------------------------------
    _cat("B0101", "上水井盖", "Water supply manhole cover", _PUBLIC, WATER_SUPPLY, 24, 72),
    _cat("B0102", "污水井盖", "Sewage manhole cover", _PUBLIC, DRAINAGE, 24, 72),
    _cat("B0103", "雨水井盖", "Storm drain manhole cover", _PUBLIC, DRAINAGE, 24, 72),
    _cat("B0104", "雨水箅子", "Storm drain grate", _PUBLIC, DRAINAGE, 24, 72),
    _cat("B0105", "电力井盖", "Power manhole cover", _PUBLIC, POWER, 24, 72),
    _cat("B0106", "燃气井盖", "Gas manhole cover", _PUBLIC, GAS_COMPANY, 12, 48),
    _cat("B0107", "热力井盖", "Heating manhole cover", _PUBLIC, HEATING, 24, 72),
    _cat("B0108", "通信井盖", "Telecom manhole cover", _PUBLIC, TELECOM, 24, 72),
    _cat("B0109", "消防栓", "Fire hydrant", _PUBLIC, FIRE_RESCUE, 24, 72),
    _cat("B0110", "路灯", "Street lamp", _PUBLIC, URBAN_MANAGEMENT, 48, 120),
    _cat("B0111", "电力设施", "Power facility", _PUBLIC, POWER, 24, 96),
    _cat("B0112", "通信交接箱", "Telecom cabinet", _PUBLIC, TELECOM, 48, 120),
    _cat("B0201", "交通信号灯", "Traffic signal", _ROAD, TRAFFIC_POLICE, 8, 48),
    _cat("B0202", "交通标志牌", "Traffic sign", _ROAD, TRAFFIC_POLICE, 48, 120),
    _cat("B0203", "道路护栏", "Road guardrail", _ROAD, TRANSPORT, 48, 120),
    _cat("B0204", "公交站亭", "Bus shelter", _ROAD, TRANSPORT, 48, 120),
    _cat("B0205", "过街天桥", "Pedestrian overpass", _ROAD, HOUSING, 24, 96),
    _cat("B0206", "隔离墩", "Traffic bollard", _ROAD, TRANSPORT, 48, 120),
    _cat("B0301", "公共厕所", "Public toilet", _CITYSCAPE, SANITATION, 24, 72),
    _cat("B0302", "垃圾箱", "Litter bin", _CITYSCAPE, SANITATION, 24, 72),
    _cat("B0303", "广告牌匾", "Signboard", _CITYSCAPE, URBAN_MANAGEMENT, 48, 168),
    _cat("B0304", "垃圾收集站", "Refuse collection point", _CITYSCAPE, SANITATION, 24, 72),
    _cat("B0401", "行道树", "Street tree", _GREEN, LANDSCAPING, 48, 120),
    _cat("B0402", "绿地", "Green space", _GREEN, LANDSCAPING, 72, 168),
    _cat("B0403", "护树设施", "Tree guard", _GREEN, LANDSCAPING, 72, 168),
    _cat("B0404", "花坛花箱", "Flower bed", _GREEN, LANDSCAPING, 72, 168),
    _cat("B0501", "宣传栏", "Notice board", _HOUSING, SUBDISTRICT, 72, 168),
    _cat("B0502", "危险房屋", "Dangerous building", _HOUSING, HOUSING, 24, 96),
    _cat("B0503", "人防工事", "Civil air defence works", _HOUSING, NATURAL_RESOURCES, 72, 168),
    _cat("B0601", "健身设施", "Fitness equipment", _OTHER, SUBDISTRICT, 72, 168),
    _cat("B0602", "监控电子眼", "Surveillance camera", _OTHER, TRAFFIC_POLICE, 48, 120),
    # --- events (事件) ---------------------------------------------------------------------------
    _cat("S0101", "暴露垃圾", "Exposed rubbish", _E_CITYSCAPE, SANITATION, 4, 24),
    _cat("S0102", "积存垃圾渣土", "Accumulated rubbish and muck", _E_CITYSCAPE, SANITATION, 8, 48),
    _cat("S0103", "道路不洁", "Dirty road", _E_CITYSCAPE, SANITATION, 4, 24),
    _cat("S0104", "水域不洁", "Dirty water surface", _E_CITYSCAPE, WATER_AFFAIRS, 12, 48),
    _cat("S0105", "乱堆物堆料", "Piled materials", _E_CITYSCAPE, URBAN_MANAGEMENT, 12, 48),
    _cat("S0106", "焚烧垃圾树叶", "Burning rubbish or leaves", _E_CITYSCAPE, ECOLOGY, 4, 24),
    _cat("S0201", "非法小广告", "Illegal small advertisements", _E_ADS, URBAN_MANAGEMENT, 12, 48),
    _cat("S0202", "违规户外广告", "Unauthorised outdoor advertising", _E_ADS, URBAN_MANAGEMENT, 48, 168),
    _cat("S0301", "施工扰民", "Construction disturbance", _E_WORKS, HOUSING, 8, 48),
    _cat("S0302", "工地扬尘", "Construction dust", _E_WORKS, HOUSING, 8, 48),
    _cat("S0303", "道路遗撒", "Spillage on road", _E_WORKS, URBAN_MANAGEMENT, 4, 24),
    _cat("S0304", "违规占道施工", "Unauthorised roadworks", _E_WORKS, TRANSPORT, 12, 72),
    _cat("S0401", "道路破损", "Damaged road", _E_EMERGENCY, TRANSPORT, 24, 96),
    _cat("S0402", "路面塌陷", "Road collapse", _E_EMERGENCY, HOUSING, 4, 48),
    _cat("S0403", "下水道堵塞", "Blocked sewer", _E_EMERGENCY, DRAINAGE, 8, 48),
    _cat("S0404", "自来水管破裂", "Burst water pipe", _E_EMERGENCY, WATER_SUPPLY, 4, 24),
    _cat("S0405", "架空线缆损坏", "Damaged overhead cable", _E_EMERGENCY, POWER, 8, 48),
    _cat("S0406", "火灾隐患", "Fire hazard", _E_EMERGENCY, FIRE_RESCUE, 4, 24),
    _cat("S0501", "占道经营", "Street vending on the roadway", _E_STREET, URBAN_MANAGEMENT, 4, 24),
    _cat("S0502", "无照经营", "Unlicensed business", _E_STREET, MARKET, 24, 96),
    _cat("S0503", "机动车乱停放", "Illegal car parking", _E_STREET, TRAFFIC_POLICE, 4, 24),
    _cat("S0504", "非机动车乱停放", "Disorderly bicycle parking", _E_STREET, URBAN_MANAGEMENT, 8, 24),
    _cat("S0505", "违章搭建", "Illegal construction", _E_STREET, URBAN_MANAGEMENT, 72, 168),
    _cat("S0506", "露天烧烤", "Open-air barbecue", _E_STREET, URBAN_MANAGEMENT, 4, 24),
    _cat("S0601", "公共卫生隐患", "Public health hazard", _E_OTHER, HEALTH, 24, 72),
    _cat("S0602", "安全生产隐患", "Work safety hazard", _E_OTHER, EMERGENCY, 12, 72),
    _cat("S0603", "其他事件", "Other event", _E_OTHER, SUBDISTRICT, 48, 168),
    # --- lifeline monitoring (contract codes of the alert rules) -------------------------------
    _cat("L01", "燃气泄漏/压力异常", "Gas leak or pressure anomaly", _LIFELINE, GAS_COMPANY, 4, 24),
    _cat("L02", "供水爆管/压力异常", "Water main burst or pressure anomaly", _LIFELINE, WATER_SUPPLY, 4, 24),
    _cat("L03", "道路积水", "Road waterlogging", _LIFELINE, DRAINAGE, 4, 24),
    _cat("L04", "桥梁结构异常", "Bridge structural anomaly", _LIFELINE, HOUSING, 8, 72),
    _cat("L05", "井盖异常/位移", "Manhole cover anomaly or displacement", _LIFELINE, URBAN_MANAGEMENT, 4, 24),
    _cat("L06", "供热异常", "Heating anomaly", _LIFELINE, HEATING, 8, 48),
    # --- environmental monitoring (contract codes of the alert rules) --------------------------
    _cat("E01", "大气污染", "Air pollution", _ENVIRONMENT, ECOLOGY, 24, 72),
    _cat("E02", "水体污染", "Water pollution", _ENVIRONMENT, ECOLOGY, 24, 96),
    _cat("E03", "排污口异常排放", "Abnormal outfall discharge", _ENVIRONMENT, ECOLOGY, 12, 72),
    _cat("E04", "噪声扰民", "Noise nuisance", _ENVIRONMENT, ECOLOGY, 8, 48),
    # --- video AI detections -------------------------------------------------------------------
    _cat("V01", "道路积水(视频识别)", "Road waterlogging (video)", _VIDEO, DRAINAGE, 4, 24),
    _cat("V02", "工地安全隐患", "Construction site safety hazard", _VIDEO, HOUSING, 8, 48),
    _cat("V03", "河道垃圾", "River litter", _VIDEO, WATER_AFFAIRS, 12, 48),
)

CATEGORY_BY_CODE: dict[str, CategorySpec] = {c.code: c for c in CATEGORIES}
DEPARTMENT_BY_CODE: dict[str, DepartmentSpec] = {d.code: d for d in DEPARTMENTS}


def load_catalog(session: Session) -> None:
    """Insert the departments and categories whose codes are not in the database yet."""
    existing_depts = set(session.scalars(select(Department.code)))
    session.add_all(
        Department(code=d.code, name_zh=d.name_zh, name_en=d.name_en)
        for d in DEPARTMENTS
        if d.code not in existing_depts
    )
    session.flush()
    dept_ids = {code: dept_id for code, dept_id in session.execute(select(Department.code, Department.id))}
    existing_cats = set(session.scalars(select(Category.code)))
    session.add_all(
        Category(
            code=c.code,
            name_zh=c.name_zh,
            name_en=c.name_en,
            kind=c.kind,
            major=c.major,
            department_id=dept_ids[c.department],
            handle_hours=c.handle_hours,
            close_hours=c.close_hours,
        )
        for c in CATEGORIES
        if c.code not in existing_cats
    )
    session.flush()
