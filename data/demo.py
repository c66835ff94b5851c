"""The deterministic demo city "示范市 / Demo City": places, networks, sensors, cameras and users.

Everything is drawn from one ``numpy.random.default_rng(seed)`` so the same seed gives the same rows.
Geometry is built in a local metric frame (metres east/north of the centre, snapped to 1 m so shared
edges are exact) and stored in WGS-84.

``scale`` multiplies every count: at 1.0 the city has 5 districts, ~36 streets/towns, ~200
communities, ~1,600 unit grids (never fewer than ~60), 118,000 doorplates, 38,165 cameras on 383
platforms and ~960 sensors on ~730 assets.

Schemes (documented here because other parts read them):

* Area codes follow GB/T 2260 / GB/T 10114 in shape with a fictional prefix: city ``379900``,
  districts ``3799DD``, streets/towns ``3799DDSSS``, communities ``…SSSCCC``, unit grids
  ``…CCCGGG`` (15 digits). Unit grids tile the city exactly; communities, streets and districts are
  unions of them, so the hierarchy nests exactly.
* Doorplates ``MP0000001``…; cameras have 20-digit GB/T 28181-style device ids
  (district code + ``00`` + ``00`` industry + ``132`` IPC type + ``0`` + 6-digit serial) on video
  platforms ``VP001``…; key places ``RISK-0001``, ``PLACE-0001``, ``PROJ-0001`` by kind.
* Assets ``<prefix>-0001`` (e.g. ``GAS-PIPE-0001``, ``AIR-ST-0003``); sensors
  ``<prefix>-<n:04d>``, numbered per prefix in placement order (``GAS-P-0001``, ``AIR-PM25-0003``
  is the PM2.5 sensor of the third air station ``AIR-ST-0003``). ``GAS-P-0001`` sits in a busy grid
  at the city centre; the demo worker ``worker`` is that grid's worker.
* Sensors are tagged ``asset:<asset code>`` and ``district:<district code>``; air-station sensors
  also ``station:<asset code>``. Every demo sensor is marked ``simulated``: the simulator feeds these
  invented devices only, never a sensor imported or registered later.
* Basemap feature kinds: ``arterial`` and ``street`` (roads), ``river`` (centre lines), ``water``
  (river polygons), ``boundary`` (city outline) and ``district_border`` (district outlines).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import shapely
from sqlalchemy import Table, func, literal, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from data.accounts import hash_password
from data.audit import write_audit
from data.catalog import FIRE_RESCUE, GAS_COMPANY, TRAFFIC_POLICE, load_catalog
from data.db import Database
from data.models import (
    Area,
    Asset,
    AuditLog,
    Base,
    BasemapFeature,
    Camera,
    Category,
    Department,
    Doorplate,
    Grid,
    Incident,
    KeyPlace,
    Sensor,
    User,
    VideoPlatform,
    utcnow,
)
from geo.grid_index import GridIndex

CENTRE_LON, CENTRE_LAT = 117.02, 36.67
CITY_CODE, CITY_NAME = "379900", "示范市"
DISTRICT_NAMES = ("临江区", "青山区", "新城区", "高新区", "翠湖区")
DOORPLATES_AT_SCALE_1 = 118_000
CAMERAS_AT_SCALE_1 = 38_165
PLATFORMS_AT_SCALE_1 = 383
GRIDS_AT_SCALE_1 = 1_600

DEMO_LOGINS: dict[str, str] = {
    "admin": "admin123",
    "operator": "operator123",
    "leader": "leader123",
    "handler": "handler123",
    "worker": "worker123",
    "fire": "fire123",
    "traffic": "traffic123",
}
#: The role of each demo account: ``fire`` and ``traffic`` are the handlers of the fire brigade and the traffic
#: police, who assist on a red gas alert (the shipped linkage rule ``gas-red``, issue 17 §2).
DEMO_ROLES: dict[str, str] = {"fire": "handler", "traffic": "handler"}
SCRIPTED_GAS_SENSOR = "GAS-P-0001"

# Tables that make a database "not empty" for seeding; reference data (departments, categories) is
# loaded idempotently, and rules or the scheduler lease are configuration, kept on reset.
_CITY_MODELS = (
    Area,
    Grid,
    Doorplate,
    VideoPlatform,
    Camera,
    Asset,
    Sensor,
    KeyPlace,
    BasemapFeature,
    User,
    Incident,
)
_KEPT_ON_RESET = frozenset({"rules", "scheduler_lease"})

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(CENTRE_LAT))
_SEMI_AXES = (12_500.0, 9_000.0)  # the city outline's east-west and north-south half-widths, metres
_NAME_CHARS = (
    "安宁和平兴华康泰明德福瑞祥丰盛文昌锦绣春秋清源泉柳桂松竹"
    "梅兰荷桃杏枫槐榆金玉翠碧青云霞阳光新景苑湾岭坊桥湖溪林"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
)
_GIVEN = (
    *"伟芳娜敏静丽强磊军洋勇艳杰娟涛明超霞平刚",
    "秀英",
    "桂英",
    "建华",
    "志强",
    "海燕",
    "晓东",
    "文博",
    "子涵",
)
_PHONE_PREFIXES = (135, 136, 137, 138, 139, 150, 151, 152, 158, 159, 177, 180, 186, 187, 188, 189, 199)


class DemoCityError(ValueError):
    """The demo city cannot be seeded as asked (e.g. the database already holds a city)."""


# --- the metric frame ----------------------------------------------------------------------------


def _to_lonlat(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return CENTRE_LON + np.asarray(x) / _M_PER_DEG_LON, CENTRE_LAT + np.asarray(y) / _M_PER_DEG_LAT


def _geom_to_lonlat(geoms: shapely.Geometry | np.ndarray) -> shapely.Geometry | np.ndarray:
    """The same geometries in WGS-84 (an affine map: equal vertices stay equal, tilings stay tilings)."""

    def transform(coords: np.ndarray) -> np.ndarray:
        lon, lat = _to_lonlat(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geoms, transform)


def _polygon_columns(geoms: np.ndarray) -> list[dict[str, object]]:
    wkb = shapely.to_wkb(geoms)
    bounds = shapely.bounds(geoms)
    return [
        {"geom": w, "minx": b[0], "miny": b[1], "maxx": b[2], "maxy": b[3]}
        for w, b in zip(wkb, bounds.tolist(), strict=True)
    ]


# --- names -----------------------------------------------------------------------------------------


class _Names:
    """Unique fictional two-character place names, drawn without replacement."""

    def __init__(self, rng: np.random.Generator) -> None:
        chars = list(_NAME_CHARS)
        pairs = [a + b for a in chars for b in chars if a != b]
        self._pool = [pairs[i] for i in rng.permutation(len(pairs))]
        self._next = 0

    def take(self, n: int) -> list[str]:
        names = self._pool[self._next : self._next + n]
        if len(names) < n:
            raise DemoCityError("the demo city ran out of place names; use a smaller scale")
        self._next += n
        return names


def _person_names(rng: np.random.Generator, n: int) -> list[str]:
    surnames = rng.integers(0, len(_SURNAMES), n)
    given = rng.integers(0, len(_GIVEN), n)
    return [_SURNAMES[s] + _GIVEN[g] for s, g in zip(surnames.tolist(), given.tolist(), strict=True)]


def _phones(rng: np.random.Generator, n: int) -> list[str]:
    prefixes = np.asarray(_PHONE_PREFIXES)[rng.integers(0, len(_PHONE_PREFIXES), n)]
    numbers = rng.integers(0, 100_000_000, n)
    return [f"{p}{s:08d}" for p, s in zip(prefixes.tolist(), numbers.tolist(), strict=True)]


# --- the plan: geometry and hierarchy ---------------------------------------------------------------


@dataclass
class _Roads:
    """The road lattice: straight segments between jittered nodes, grouped into named lines."""

    nodes: np.ndarray  # (NI, NJ, 2) metres
    seg: np.ndarray  # (S, 4) x0 y0 x1 y1 of kept segments
    seg_line: np.ndarray  # (S,) line index
    seg_along: np.ndarray  # (S,) distance of the segment start from the line's start
    seg_nodes: np.ndarray  # (S, 2) flat node indices
    arterial: np.ndarray  # (S,) bool
    line_names: list[str]
    line_arterial: np.ndarray  # (L,) bool
    node_degree: np.ndarray  # (NI*NJ,)
    node_lines: np.ndarray  # (NI*NJ, 2): the east-west and north-south line through each node

    @property
    def length(self) -> np.ndarray:
        return np.hypot(self.seg[:, 2] - self.seg[:, 0], self.seg[:, 3] - self.seg[:, 1])

    @property
    def midpoints(self) -> np.ndarray:
        return (self.seg[:, :2] + self.seg[:, 2:]) / 2


@dataclass
class _Plan:
    """The city before it touches the database (metric geometry unless the name says lon/lat)."""

    rng: np.random.Generator
    scale: float
    names: _Names
    boundary: shapely.Polygon
    spacing: float
    roads: _Roads
    rivers: list[tuple[str, shapely.Geometry]]
    water: shapely.Geometry
    grids: np.ndarray  # metric polygons in code order
    grid_codes: list[str]
    grid_names: list[str]
    grid_community: np.ndarray  # index into communities
    areas: dict[str, list[dict[str, object]]] = field(default_factory=dict)  # level → rows with "geom_m"
    grid_lonlat: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    water_margin: shapely.Geometry | None = None
    index: GridIndex | None = None  # locates points to grid positions (not database ids)
    grid_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    grid_district: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    grid_street: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    density_centres: list[tuple[float, float, float, float]] = field(default_factory=list)


def _city_outline(rng: np.random.Generator) -> shapely.Polygon:
    """A star-shaped, gently irregular outline around the centre."""
    theta = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 6):
        radius += rng.uniform(0.02, 0.07) * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    x = np.round(_SEMI_AXES[0] * radius * np.cos(theta))
    y = np.round(_SEMI_AXES[1] * radius * np.sin(theta))
    return shapely.Polygon(np.column_stack([x, y]))


def _road_lattice(
    rng: np.random.Generator, boundary: shapely.Polygon, spacing: float, names: _Names
) -> _Roads:
    reach = 1.35 * max(_SEMI_AXES)
    half = math.ceil(reach / spacing) + 1
    idx = np.arange(-half, half + 1)
    gi, gj = np.meshgrid(idx, idx, indexing="ij")
    angle = rng.uniform(-0.25, 0.25)
    bx, by = gi * spacing, gj * spacing
    x = bx * math.cos(angle) - by * math.sin(angle)
    y = bx * math.sin(angle) + by * math.cos(angle)
    # a smooth warp bends the lattice so streets curve; a small jitter breaks the regularity
    warp, (l1, l2), (p1, p2) = 270.0, rng.uniform(8_000, 12_000, 2), rng.uniform(0, 2 * np.pi, 2)
    x, y = x + warp * np.sin(2 * np.pi * y / l1 + p1), y + warp * np.sin(2 * np.pi * x / l2 + p2)
    jitter = np.clip(rng.normal(0, 0.04 * spacing, (2, *x.shape)), -0.1 * spacing, 0.1 * spacing)
    nodes = np.round(np.stack([x + jitter[0], y + jitter[1]], axis=-1))
    ni, nj = gi.shape
    flat = np.arange(ni * nj).reshape(ni, nj)
    inside = shapely.contains_xy(boundary, nodes[..., 0], nodes[..., 1]).ravel()

    # line l < nj runs east-west along index j = l; line nj + i runs north-south along index i
    ew = np.column_stack([flat[:-1, :].ravel(), flat[1:, :].ravel()])
    ew_line, ew_step = np.tile(np.arange(nj), ni - 1), np.repeat(np.arange(ni - 1), nj)
    ns = np.column_stack([flat[:, :-1].ravel(), flat[:, 1:].ravel()])
    ns_line, ns_step = nj + np.repeat(np.arange(ni), nj - 1), np.tile(np.arange(nj - 1), ni)
    pairs = np.concatenate([ew, ns])
    line = np.concatenate([ew_line, ns_line])
    step = np.concatenate([ew_step, ns_step])
    line_index = np.concatenate([idx, idx])  # the lattice index each line sits on
    line_arterial = line_index % 5 == 0
    arterial = line_arterial[line]
    pts = nodes.reshape(-1, 2)
    seg = np.concatenate([pts[pairs[:, 0]], pts[pairs[:, 1]]], axis=1)
    keep = inside[pairs[:, 0]] & inside[pairs[:, 1]] & (arterial | (rng.random(len(pairs)) < 0.82))
    order = np.lexsort((step, line))
    order = order[keep[order]]
    used_lines = np.unique(line[order])
    line_names = [""] * len(line_arterial)
    for name, li in zip(names.take(len(used_lines)), used_lines.tolist(), strict=True):
        suffix = ("大道" if line_index[li] == 0 else "路") if line_arterial[li] else "街"
        line_names[li] = name + suffix
    seg = seg[order]
    degree = np.bincount(pairs[order].ravel(), minlength=ni * nj)
    node_lines = np.column_stack([np.tile(np.arange(nj), ni), nj + np.repeat(np.arange(ni), nj)])
    return _Roads(
        nodes=nodes,
        seg=seg,
        seg_line=line[order],
        seg_along=step[order] * spacing,
        seg_nodes=pairs[order],
        arterial=arterial[order],
        line_names=line_names,
        line_arterial=line_arterial,
        node_degree=degree,
        node_lines=node_lines,
    )


def _rivers(rng: np.random.Generator) -> list[tuple[str, shapely.LineString]]:
    """A main river crossing the city west to east and a tributary joining it from the north."""
    a, b = _SEMI_AXES
    y0, amp, (l1, l2), (p1, p2) = (
        -0.22 * b,
        rng.uniform(600, 1_000),
        rng.uniform(5_000, 15_000, 2),
        rng.uniform(0, 2 * np.pi, 2),
    )

    def main_y(x: np.ndarray) -> np.ndarray:
        return y0 + amp * np.sin(2 * np.pi * x / l1 + p1) + 0.3 * amp * np.sin(2 * np.pi * x / l2 + p2)

    xs = np.arange(-1.5 * a, 1.5 * a, 50.0)
    main = shapely.LineString(np.round(np.column_stack([xs, main_y(xs)])))
    x0, t_amp, t_len, t_ph = (
        rng.uniform(-0.35 * a, 0.35 * a),
        rng.uniform(300, 700),
        rng.uniform(4_000, 8_000),
        rng.uniform(0, 2 * np.pi),
    )
    ys = np.arange(1.5 * b, -b, -50.0)
    tx = x0 + t_amp * np.sin(2 * np.pi * ys / t_len + t_ph)
    above = ys > main_y(tx)
    end = int(np.argmin(above))
    trib = np.column_stack([tx[: end + 1], ys[: end + 1]])
    trib[-1, 1] = main_y(trib[-1:, 0])[0]
    return [("玉带河", main), ("青溪", shapely.LineString(np.round(trib)))]


def _clip_cells(cells: np.ndarray, boundary: shapely.Polygon, spacing: float) -> list[shapely.Geometry]:
    """Clip lattice cells to the outline and merge slivers into their longest-bordering neighbour."""
    cells = cells[shapely.intersects(cells, boundary)]
    clipped = shapely.intersection(cells, boundary, grid_size=1.0)
    parts = shapely.get_parts(clipped)
    parts = parts[(shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)]
    pieces: list[shapely.Geometry | None] = list(parts)
    threshold = 0.3 * spacing * spacing
    for _ in range(4):
        live = [k for k, p in enumerate(pieces) if p is not None]
        geoms = np.array([pieces[k] for k in live], dtype=object)
        small = [i for i, g in enumerate(geoms) if g.area < threshold]
        if not small:
            break
        tree = shapely.STRtree(geoms)
        merged: set[int] = set()
        for i in small:
            if i in merged:
                continue
            neighbours = np.array(
                [n for n in tree.query(geoms[i], predicate="intersects") if n != i and n not in merged]
            )
            if neighbours.size == 0:
                continue
            shared = shapely.length(
                shapely.intersection(
                    geoms[i].boundary,
                    shapely.boundary(np.array([pieces[live[n]] for n in neighbours], dtype=object)),
                )
            )
            big = np.array([geoms[n].area >= threshold for n in neighbours])
            score = shared + np.where(big, 1e9, 0.0)
            target = live[int(neighbours[int(np.argmax(score))])]
            pieces[target] = shapely.union(pieces[target], pieces[live[i]], grid_size=1.0)
            pieces[live[i]] = None
            merged.add(i)
    return [p for p in pieces if p is not None]


def _kmeans(points: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 25) -> np.ndarray:
    """Labels 0..k-1 of compact clusters (k-means++ then Lloyd); every cluster keeps at least one point."""
    n = len(points)
    k = max(1, min(k, n))
    centres = [points[rng.integers(n)]]
    d2 = ((points - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        centres.append(points[rng.choice(n, p=d2 / d2.sum())] if d2.sum() > 0 else points[rng.integers(n)])
        d2 = np.minimum(d2, ((points - centres[-1]) ** 2).sum(axis=1))
    c = np.array(centres, dtype=float)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(iterations):
        dist = ((points[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        labels = dist.argmin(axis=1)
        counts = np.bincount(labels, minlength=k)
        for empty in np.flatnonzero(counts == 0):
            far = int(dist[np.arange(n), labels].argmax())
            labels[far] = empty
            dist[far] = 0.0
        for j in range(k):
            c[j] = points[labels == j].mean(axis=0)
    return labels


def _ordered(labels: np.ndarray, points: np.ndarray, key: Callable[[np.ndarray], float]) -> np.ndarray:
    """Relabel clusters so their numbering follows ``key`` of their centroids."""
    k = int(labels.max()) + 1
    centroids = np.array([points[labels == j].mean(axis=0) for j in range(k)])
    order = sorted(range(k), key=lambda j: (key(centroids[j]), j))
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return rank[labels]


def _clockwise_from_north(c: np.ndarray) -> float:
    return (math.atan2(c[0], c[1]) + 2 * math.pi) % (2 * math.pi)


def _reading_order(band: float) -> Callable[[np.ndarray], float]:
    """North-west first, in east-west bands ``band`` metres high (how maps are read)."""
    return lambda c: -math.floor(c[1] / band) * 1e7 + c[0]


def _allocate(total: int, weights: np.ndarray, caps: np.ndarray) -> np.ndarray:
    """Split ``total`` over groups by weight (largest remainder), at least 1 and at most ``caps`` each."""
    share = total * weights / weights.sum()
    out = np.clip(np.floor(share).astype(np.int64), 1, caps)
    for j in np.argsort(-(share - np.floor(share)), kind="stable"):
        if out.sum() >= total:
            break
        if out[j] < caps[j]:
            out[j] += 1
    return out


def _plan(rng: np.random.Generator, scale: float) -> _Plan:
    names = _Names(rng)
    boundary = _city_outline(rng)
    n_target = max(60, round(GRIDS_AT_SCALE_1 * scale))
    spacing = math.sqrt(boundary.area / n_target)
    roads = _road_lattice(rng, boundary, spacing, names)
    rivers = _rivers(rng)
    water = shapely.intersection(
        shapely.union(
            shapely.buffer(rivers[0][1], 60, cap_style="flat"),
            shapely.buffer(rivers[1][1], 25, cap_style="flat"),
        ),
        boundary,
    )
    rivers = [(name, shapely.intersection(line, boundary)) for name, line in rivers]
    # drop road segments that would run inside the river rather than across it
    segs = shapely.linestrings(roads.seg.reshape(-1, 2, 2))
    wet = shapely.length(shapely.intersection(segs, water)) > 0.5 * shapely.length(segs)
    _keep_segments(roads, ~wet)

    nodes = roads.nodes
    quads = np.stack(
        [nodes[:-1, :-1], nodes[1:, :-1], nodes[1:, 1:], nodes[:-1, 1:], nodes[:-1, :-1]], axis=2
    ).reshape(-1, 5, 2)
    cells = np.array(_clip_cells(shapely.polygons(quads), boundary, spacing), dtype=object)
    centroids = shapely.get_coordinates(shapely.centroid(cells))

    n_grids = len(cells)
    n_districts = min(len(DISTRICT_NAMES), n_grids)
    n_streets = max(2 * n_districts, round(n_grids / 45))
    n_communities = max(2 * n_streets, round(n_grids / 8))
    district = _districts(centroids, n_districts, rng)
    street = _subdivide(district, n_streets, centroids, rng, _reading_order(3 * spacing))
    community = _subdivide(street, n_communities, centroids, rng, _reading_order(1.5 * spacing))

    # grids in code order: by community, then reading order inside it
    band = _reading_order(0.8 * spacing)
    order = sorted(range(n_grids), key=lambda g: (community[g], band(centroids[g])))
    cells, centroids = cells[order], centroids[order]
    district, street, community = district[order], street[order], community[order]
    plan = _Plan(
        rng=rng,
        scale=scale,
        names=names,
        boundary=boundary,
        spacing=spacing,
        roads=roads,
        rivers=rivers,
        water=water,
        water_margin=_prepared(shapely.buffer(water, 8)),
        grids=cells,
        grid_codes=[],
        grid_names=[],
        grid_community=community,
        grid_district=district,
        grid_street=street,
    )
    _name_hierarchy(plan, centroids)
    return plan


def _subdivide(
    parent: np.ndarray,
    total: int,
    centroids: np.ndarray,
    rng: np.random.Generator,
    key: Callable[[np.ndarray], float],
) -> np.ndarray:
    """Split each parent's grids into compact children (``total`` in all, by size), numbered by ``key``."""
    sizes = np.bincount(parent)
    per_parent = _allocate(total, sizes.astype(float), sizes)
    child = np.zeros(len(parent), dtype=np.int64)
    next_label = 0
    for p in range(len(sizes)):
        members = np.flatnonzero(parent == p)
        labels = _ordered(_kmeans(centroids[members], int(per_parent[p]), rng), centroids[members], key)
        child[members] = next_label + labels
        next_label += int(labels.max()) + 1
    return child


def _prepared(geom: shapely.Geometry) -> shapely.Geometry:
    shapely.prepare(geom)
    return geom


def _districts(centroids: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """District of each grid: 0 is the old town at the centre, the others ring it clockwise from north."""
    radial = np.hypot(centroids[:, 0] / _SEMI_AXES[0], centroids[:, 1] / _SEMI_AXES[1])
    core = radial < 0.36
    if not core.any() or core.all():
        core = radial <= np.sort(radial)[len(radial) // n - 1]
    district = np.zeros(len(centroids), dtype=np.int64)
    ring = np.flatnonzero(~core)
    district[ring] = 1 + _ordered(
        _kmeans(centroids[ring], n - 1, rng), centroids[ring], _clockwise_from_north
    )
    return district


def _keep_segments(roads: _Roads, keep: np.ndarray) -> None:
    roads.seg, roads.seg_line, roads.seg_along = roads.seg[keep], roads.seg_line[keep], roads.seg_along[keep]
    roads.arterial = roads.arterial[keep]
    roads.node_degree = np.bincount(roads.seg_nodes[keep].ravel(), minlength=len(roads.node_degree))
    roads.seg_nodes = roads.seg_nodes[keep]


def _name_hierarchy(plan: _Plan, centroids: np.ndarray) -> None:
    """Codes, names and geometry (unions of grids) of communities, streets, districts and the city."""
    inner_radius = 0.62 * min(_SEMI_AXES)
    n_streets = int(plan.grid_street.max()) + 1
    n_communities = int(plan.grid_community.max()) + 1
    street_names, community_names = plan.names.take(n_streets), plan.names.take(n_communities)
    district_of_street = np.zeros(n_streets, dtype=np.int64)
    street_of_community = np.zeros(n_communities, dtype=np.int64)
    district_of_street[plan.grid_street] = plan.grid_district
    street_of_community[plan.grid_community] = plan.grid_street

    def union(level_of_grid: np.ndarray, k: int) -> list[shapely.Geometry]:
        return [shapely.union_all(plan.grids[level_of_grid == j], grid_size=1.0) for j in range(k)]

    districts = union(plan.grid_district, int(plan.grid_district.max()) + 1)
    streets = union(plan.grid_street, n_streets)
    communities = union(plan.grid_community, n_communities)
    city = shapely.union_all(np.array(districts, dtype=object), grid_size=1.0)
    plan.areas["city"] = [{"code": CITY_CODE, "name": CITY_NAME, "parent": None, "geom_m": city}]
    plan.areas["district"] = [
        {"code": f"{CITY_CODE[:4]}{d + 1:02d}", "name": DISTRICT_NAMES[d], "parent": CITY_CODE, "geom_m": g}
        for d, g in enumerate(districts)
    ]
    counters: dict[str, int] = {}

    def child_code(parent: str) -> str:
        counters[parent] = counters.get(parent, 0) + 1
        return f"{parent}{counters[parent]:03d}"

    street_rows, town = [], []
    for s, g in enumerate(streets):
        parent = plan.areas["district"][district_of_street[s]]
        is_town = bool(np.hypot(*shapely.get_coordinates(g.centroid)[0]) > inner_radius)
        town.append(is_town)
        street_rows.append(
            {
                "code": child_code(str(parent["code"])),
                "name": street_names[s] + ("镇" if is_town else "街道"),
                "parent": parent["code"],
                "geom_m": g,
            }
        )
    plan.areas["street"] = street_rows
    plan.areas["community"] = [
        {
            "code": child_code(str(street_rows[street_of_community[c]]["code"])),
            "name": community_names[c] + ("村" if town[street_of_community[c]] else "社区"),
            "parent": street_rows[street_of_community[c]]["code"],
            "geom_m": g,
        }
        for c, g in enumerate(communities)
    ]
    for c in plan.grid_community.tolist():
        row = plan.areas["community"][c]
        code = child_code(str(row["code"]))
        plan.grid_codes.append(code)
        plan.grid_names.append(f"{row['name']}第{int(code[-3:])}网格")
    a, b = plan.areas["district"][3 % len(districts)]["geom_m"].centroid.coords[0]
    plan.density_centres = [(0.0, 0.0, 6_500.0, 1.0), (a, b, 2_500.0, 0.6)]


def _density(plan: _Plan, xy: np.ndarray) -> np.ndarray:
    """Relative intensity of city life: a dense centre, a sub-centre in the high-tech district."""
    out = np.full(len(xy), 0.25)
    for cx, cy, sigma, weight in plan.density_centres:
        out += weight * np.exp(-((xy[:, 0] - cx) ** 2 + (xy[:, 1] - cy) ** 2) / (2 * sigma**2))
    return out


# --- placing points ------------------------------------------------------------------------------------


Sample = dict[str, np.ndarray]


def _along_roads(
    plan: _Plan,
    n: int,
    weights: np.ndarray,
    offset: tuple[float, float],
    t_range: tuple[float, float] = (0.06, 0.94),
) -> Sample:
    """``n`` points beside road segments drawn with ``weights``, offset to either side."""
    rng, seg = plan.rng, plan.roads.seg
    pick = rng.choice(len(seg), n, p=weights / weights.sum())
    t = rng.uniform(*t_range, n)
    side = rng.choice(np.array([-1.0, 1.0]), n)
    off = rng.uniform(*offset, n)
    d = seg[pick, 2:] - seg[pick, :2]
    length = np.hypot(d[:, 0], d[:, 1])
    normal = np.column_stack([-d[:, 1], d[:, 0]]) / length[:, None]
    xy = seg[pick, :2] + t[:, None] * d + (side * off)[:, None] * normal
    return {
        "x": xy[:, 0],
        "y": xy[:, 1],
        "seg": pick,
        "side": side,
        "along": plan.roads.seg_along[pick] + t * length,
        "road": plan.roads.seg_line[pick],
    }


def _locate(plan: _Plan, sample: Sample, avoid_water: bool) -> np.ndarray:
    """Mask of acceptable points; adds rounded ``lon``/``lat`` and ``grid`` (position) to ``sample``."""
    x, y = sample["x"], sample["y"]
    ok = shapely.contains_xy(plan.boundary, x, y)
    if avoid_water and plan.water_margin is not None:
        ok &= ~shapely.contains_xy(plan.water_margin, x, y)
    lon, lat = _to_lonlat(x, y)
    sample["lon"], sample["lat"] = np.round(lon, 7), np.round(lat, 7)
    assert plan.index is not None
    sample["grid"] = plan.index.locate(sample["lon"], sample["lat"])
    return ok & (sample["grid"] >= 0)


def _fill(plan: _Plan, n: int, draw: Callable[[int], Sample], avoid_water: bool = True) -> Sample:
    """Exactly ``n`` acceptable points from ``draw`` (redrawing replacements for rejected ones)."""
    parts: list[Sample] = []
    have = 0
    for _ in range(50):
        batch = draw(max(16, int((n - have) * 1.15) + 8))
        ok = _locate(plan, batch, avoid_water)
        parts.append({k: v[ok] for k, v in batch.items()})
        have += int(ok.sum())
        if have >= n:
            break
    else:
        raise DemoCityError(f"could not place {n} points in the demo city")
    return {k: np.concatenate([p[k] for p in parts])[:n] for k in parts[0]}


def _fixed(
    plan: _Plan, n: int, xy: np.ndarray, extra: Sample | None = None, avoid_water: bool = False
) -> Sample:
    """Up to ``n`` acceptable points from a fixed, ordered list of candidates."""
    sample: Sample = {"x": xy[:, 0].astype(float), "y": xy[:, 1].astype(float), **(extra or {})}
    ok = _locate(plan, sample, avoid_water)
    return {k: v[ok][:n] for k, v in sample.items()}


def _road_label(plan: _Plan, sample: Sample) -> list[str]:
    if "road" in sample:
        return [plan.roads.line_names[r] for r in sample["road"].tolist()]
    return [plan.areas["street"][plan.grid_street[g]]["name"] for g in sample["grid"].tolist()]


# --- the families of sensors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SensorSpec:
    kind: str
    prefix: str
    unit: str
    label: str


@dataclass(frozen=True)
class _AssetGroup:
    family: str
    kind: str
    prefix: str
    name: str  # format with {road}, {k}
    count: int  # at scale 1.0
    placement: str
    sensors: tuple[_SensorSpec, ...]


_GAS_P = _SensorSpec("gas_pressure", "GAS-P", "MPa", "压力")
_GAS_C = _SensorSpec("gas_concentration", "GAS-C", "%LEL", "可燃气体浓度")
_WS_P = _SensorSpec("water_pressure", "WS-P", "MPa", "压力")
_DRN_L = _SensorSpec("drain_level", "DRN-L", "m", "液位")
_AIR = tuple(
    _SensorSpec(f"air_{p}", f"AIR-{p.upper()}", unit, label)
    for p, unit, label in (
        ("pm25", "µg/m3", "PM2.5"),
        ("pm10", "µg/m3", "PM10"),
        ("so2", "µg/m3", "SO2"),
        ("no2", "µg/m3", "NO2"),
        ("co", "mg/m3", "CO"),
        ("o3", "µg/m3", "O3"),
    )
)

_ASSET_GROUPS: tuple[_AssetGroup, ...] = (
    _AssetGroup("gas", "gas_pipe", "GAS-PIPE", "{road}中压燃气管道", 110, "centre_then_arterial", (_GAS_P,)),
    _AssetGroup(
        "gas", "gas_regulator_station", "GAS-RS", "{road}燃气调压站", 20, "arterial_node", (_GAS_P, _GAS_C)
    ),
    _AssetGroup("gas", "gas_valve_well", "GAS-VW", "{road}燃气阀门井", 60, "arterial", (_GAS_C,)),
    _AssetGroup("water_supply", "water_main", "WS-MAIN", "{road}供水主管", 90, "arterial", (_WS_P,)),
    _AssetGroup(
        "water_supply",
        "water_metering",
        "WS-DMA",
        "{road}供水计量点",
        45,
        "arterial",
        (_SensorSpec("water_flow", "WS-F", "m3/h", "流量"), _WS_P),
    ),
    _AssetGroup("drainage", "underpass", "DRN-UP", "{road}下穿通道", 30, "near_river_node", (_DRN_L,)),
    _AssetGroup("drainage", "drain_pipe", "DRN-PIPE", "{road}排水管网", 50, "near_river_road", (_DRN_L,)),
    _AssetGroup(
        "bridge",
        "bridge",
        "BRG",
        "{road}桥",
        25,
        "bridge",
        (
            _SensorSpec("bridge_deflection", "BRG-D", "mm", "挠度"),
            _SensorSpec("bridge_strain", "BRG-S", "µε", "应变"),
            _SensorSpec("bridge_vibration", "BRG-V", "mm/s", "振动"),
        ),
    ),
    _AssetGroup(
        "manhole",
        "manhole",
        "MH",
        "{road}井盖",
        150,
        "road",
        (_SensorSpec("manhole_tilt", "MH-T", "deg", "倾斜"),),
    ),
    _AssetGroup(
        "heating",
        "heating_substation",
        "HT-SUB",
        "{road}换热站",
        60,
        "dense",
        (_SensorSpec("heating_temp", "HT-T", "°C", "供水温度"),),
    ),
    _AssetGroup("air", "air_station", "AIR-ST", "{road}空气质量监测站", 12, "spread", _AIR),
    _AssetGroup(
        "surface_water",
        "river_section",
        "RIV-SEC",
        "{road}{k}号监测断面",
        15,
        "river",
        tuple(
            _SensorSpec(f"water_{p}", f"SW-{p.upper()}", "mg/L", label)
            for p, label in (("cod", "化学需氧量"), ("nh3n", "氨氮"), ("do", "溶解氧"))
        ),
    ),
    _AssetGroup(
        "outfall",
        "outfall",
        "OF",
        "{road}入河排污口{k}",
        30,
        "river_bank",
        (
            _SensorSpec("outfall_flow", "OF-Q", "m3/h", "流量"),
            _SensorSpec("outfall_cod", "OF-COD", "mg/L", "化学需氧量"),
        ),
    ),
    _AssetGroup(
        "noise",
        "noise_station",
        "NS-ST",
        "{road}噪声监测点",
        40,
        "arterial",
        (_SensorSpec("noise_db", "NS-DB", "dB(A)", "噪声"),),
    ),
)


def _river_points(plan: _Plan, n: int, bank: bool) -> Sample:
    """Evenly spaced points along the rivers (on the bank when ``bank``), labelled by river name."""
    lines = [(name, line) for name, line in plan.rivers if not line.is_empty]
    lengths = np.array([line.length for _, line in lines])
    counts = _allocate(n, lengths, np.full(len(lines), n))
    xy, labels, offsets = [], [], []
    for (name, line), k in zip(lines, counts.tolist(), strict=True):
        d = (np.arange(k) + 0.5) / k * line.length
        pts = shapely.get_coordinates(shapely.line_interpolate_point(line, d))
        ahead = shapely.get_coordinates(shapely.line_interpolate_point(line, np.minimum(d + 5, line.length)))
        xy.append(pts)
        offsets.append(ahead - pts)
        labels += [name] * k
    pts, tangent = np.concatenate(xy), np.concatenate(offsets)
    if bank:
        tangent /= np.maximum(np.hypot(tangent[:, 0], tangent[:, 1]), 1e-9)[:, None]
        side = plan.rng.choice(np.array([-1.0, 1.0]), len(pts))
        pts = pts + (side * 72.0)[:, None] * np.column_stack([-tangent[:, 1], tangent[:, 0]])
    return _fixed(plan, n, pts, {"label": np.array(labels, dtype=object)})


def _nodes_xy(plan: _Plan, nodes: np.ndarray, offset: float) -> np.ndarray:
    """Positions a little off the given road nodes (on a block corner)."""
    xy = plan.roads.nodes.reshape(-1, 2)[nodes]
    angle = plan.rng.uniform(0, 2 * np.pi, len(nodes))
    return xy + offset * np.column_stack([np.cos(angle), np.sin(angle)])


def _node_sample(plan: _Plan, n: int, candidates: np.ndarray, weights: np.ndarray, offset: float) -> Sample:
    k = min(n, len(candidates))
    pick = candidates[plan.rng.choice(len(candidates), k, replace=False, p=weights / weights.sum())]
    road = plan.roads.node_lines[pick, plan.rng.integers(0, 2, k)]
    return _fixed(plan, n, _nodes_xy(plan, pick, offset), {"road": road}, avoid_water=True)


def _river_distance(plan: _Plan, xy: np.ndarray) -> np.ndarray:
    rivers = shapely.union_all(np.array([line for _, line in plan.rivers], dtype=object))
    return shapely.distance(shapely.points(xy), rivers)


def _bridges(plan: _Plan, n: int) -> Sample:
    roads = plan.roads
    segs = shapely.linestrings(roads.seg.reshape(-1, 2, 2))
    rivers = shapely.union_all(np.array([line for _, line in plan.rivers], dtype=object))
    crossing = shapely.intersection(segs, rivers)
    parts, owner = shapely.get_parts(crossing, return_index=True)
    points = shapely.get_type_id(parts) == 0
    parts, owner = parts[points], owner[points]
    order = np.lexsort((owner, ~roads.arterial[owner]))  # arterial bridges first
    xy = shapely.get_coordinates(parts[order])
    sample = _fixed(plan, n, xy, {"road": roads.seg_line[owner[order]]})
    if len(sample["x"]) == 0:  # no road crosses a river: a footbridge on the river nearest the centre
        sample = _river_points(plan, 1, bank=False)
        sample["road"] = np.array([int(np.argmax(roads.line_arterial))])
        sample.pop("label")
    return sample


def _place(plan: _Plan, placement: str, n: int) -> Sample:
    """``n`` points (fewer for bridges when the rivers have fewer crossings) placed as named."""
    roads = plan.roads
    length = roads.length
    mid = roads.midpoints
    art_w = length * roads.arterial * _density(plan, mid) + 1e-9
    if placement in ("arterial", "centre_then_arterial"):
        sample = _fill(plan, n, lambda k: _along_roads(plan, k, art_w, (3, 6), (0.1, 0.9)))
        if placement == "centre_then_arterial":
            # the scripted gas sensor: on the arterial segment nearest the centre, in a busy grid
            centre = int(np.argmin(np.where(roads.arterial, np.hypot(mid[:, 0], mid[:, 1]), np.inf)))
            only_centre = (np.arange(len(length)) == centre).astype(float)
            first = _fill(plan, 1, lambda k: _along_roads(plan, k, only_centre, (4, 5), (0.45, 0.55)))
            sample = {k: np.concatenate([first[k], v])[:n] for k, v in sample.items()}
        return sample
    if placement == "road":
        return _fill(plan, n, lambda k: _along_roads(plan, k, length * _density(plan, mid), (1, 3)))
    if placement in ("dense", "centre", "outskirts"):  # inside the blocks, away from the kerb
        radius = np.hypot(mid[:, 0], mid[:, 1])
        weights = (
            length
            * {
                "dense": _density(plan, mid) ** 2,
                "centre": _density(plan, mid) ** 4,
                "outskirts": (radius / radius.max()) ** 3,
            }[placement]
        )
        return _fill(plan, n, lambda k: _along_roads(plan, k, weights, (30, 90)))
    if placement == "arterial_node":
        nodes = np.flatnonzero((roads.node_degree >= 3) & roads.line_arterial[roads.node_lines].all(axis=1))
        if len(nodes) == 0:
            nodes = np.flatnonzero(roads.node_degree >= 1)
        return _node_sample(plan, n, nodes, np.ones(len(nodes)), 35.0)
    if placement == "near_river_node":
        nodes = np.flatnonzero(roads.node_degree >= 3)
        dist = _river_distance(plan, roads.nodes.reshape(-1, 2)[nodes])
        return _node_sample(plan, n, nodes, 1.0 / (dist + 150.0) ** 2, 12.0)
    if placement == "near_river_road":
        dist = _river_distance(plan, mid)
        return _fill(plan, n, lambda k: _along_roads(plan, k, length / (dist + 200.0) ** 2, (1, 3)))
    if placement == "bridge":
        return _bridges(plan, n)
    if placement == "spread":
        return _fixed(plan, n, _spread(plan, n), avoid_water=True)
    if placement in ("river", "river_bank"):
        return _river_points(plan, n, bank=placement == "river_bank")
    raise AssertionError(placement)


def _spread(plan: _Plan, n: int) -> np.ndarray:
    """``n`` points spread evenly over the city: the grid point nearest each of ``n`` k-means centres."""
    pts = shapely.get_coordinates(shapely.point_on_surface(plan.grids))
    labels = _kmeans(pts, n, plan.rng)
    chosen = []
    for j in range(int(labels.max()) + 1):
        members = np.flatnonzero(labels == j)
        centre = pts[members].mean(axis=0)
        chosen.append(members[np.argmin(np.hypot(*(pts[members] - centre).T))])
    return pts[chosen]


def _scaled(count: int, scale: float) -> int:
    return max(1, round(count * scale))


# --- writing rows ---------------------------------------------------------------------------------


def _insert(session: Session, table: Table, rows: Sequence[dict[str, object]]) -> None:
    """Bulk insert through Core executemany (several times faster than ORM objects)."""
    if rows:
        session.execute(table.insert(), list(rows))


def _ids_by(session: Session, key: InstrumentedAttribute, value: InstrumentedAttribute) -> dict:
    """``{key: value}`` over a whole table, e.g. code → id after a bulk insert."""
    return dict(session.execute(select(key, value)).all())


def _is_empty(session: Session) -> bool:
    return all(session.scalar(select(literal(1)).select_from(m).limit(1)) is None for m in _CITY_MODELS)


def wipe_audit_log(session: Session) -> int:
    """Delete every audit row inside the caller's transaction, past the append-only guard of migration
    0005; returns how many rows went. The one sanctioned way to remove audit rows (the demo reset).

    PostgreSQL: the guard lets DELETE through while the transaction-local ``cityops.audit_wipe`` is on.
    SQLite (no session settings a trigger could read): the guard's triggers are dropped and created again
    from their stored SQL in this same transaction, so no other connection sees the table unguarded. The
    transaction is begun here when pysqlite has not begun it yet (it does so at DML, never at DDL).
    """
    connection = session.connection()
    dialect = connection.dialect.name
    triggers: list[tuple[str, str]] = []
    if dialect == "postgresql":
        connection.execute(text("SELECT set_config('cityops.audit_wipe', 'on', true)"))
    elif dialect == "sqlite":
        if not connection.connection.dbapi_connection.in_transaction:
            connection.exec_driver_sql("BEGIN")
        triggers = [tuple(row) for row in connection.execute(text(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"))]
        for name, _sql in triggers:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
    deleted = connection.execute(AuditLog.__table__.delete()).rowcount
    if dialect == "postgresql":
        connection.execute(text("SELECT set_config('cityops.audit_wipe', 'off', true)"))
    for _name, sql in triggers:
        connection.exec_driver_sql(sql)
    return deleted


def _reset(session: Session) -> None:
    """Delete every row except configuration (rules, scheduler lease), children first. The audit log
    goes too (see ``wipe_audit_log``); a ``demo.reset`` audit row then records how many rows it held."""
    session.execute(update(Grid).values(worker_id=None))
    wiped = wipe_audit_log(session)
    for table in reversed(Base.metadata.sorted_tables):
        if table.name not in _KEPT_ON_RESET and table.name != AuditLog.__tablename__:
            session.execute(table.delete())
    write_audit(session, None, "demo.reset", "database", detail={"audit_rows_deleted": wiped})


def _write_areas(session: Session, plan: _Plan) -> None:
    parent_ids: dict[str, int] = {}
    for level in ("city", "district", "street", "community"):
        rows = plan.areas[level]
        geoms = _geom_to_lonlat(np.array([r["geom_m"] for r in rows], dtype=object))
        _insert(
            session,
            Area.__table__,
            [
                {
                    "code": r["code"],
                    "name": r["name"],
                    "level": level,
                    "parent_id": parent_ids.get(r["parent"]) if r["parent"] else None,
                    **cols,
                }
                for r, cols in zip(rows, _polygon_columns(geoms), strict=True)
            ],
        )
        parent_ids.update(_ids_by(session, Area.code, Area.id))
    community_ids = [parent_ids[str(r["code"])] for r in plan.areas["community"]]
    plan.grid_lonlat = _geom_to_lonlat(plan.grids)
    _insert(
        session,
        Grid.__table__,
        [
            {"code": code, "name": name, "community_id": community_ids[c], "worker_id": None, **cols}
            for code, name, c, cols in zip(
                plan.grid_codes,
                plan.grid_names,
                plan.grid_community.tolist(),
                _polygon_columns(plan.grid_lonlat),
                strict=True,
            )
        ],
    )
    ids = _ids_by(session, Grid.code, Grid.id)
    plan.grid_ids = np.array([ids[c] for c in plan.grid_codes], dtype=np.int64)
    plan.index = GridIndex(range(len(plan.grid_ids)), plan.grid_lonlat)


def _write_basemap(session: Session, plan: _Plan) -> None:
    roads = plan.roads
    rows: list[dict[str, object]] = []
    for line in np.unique(roads.seg_line).tolist():
        segs = roads.seg[roads.seg_line == line].reshape(-1, 2, 2)
        geom = shapely.line_merge(shapely.multilinestrings(segs))
        rows.append(
            {
                "kind": "arterial" if roads.line_arterial[line] else "street",
                "name": roads.line_names[line],
                "geom": geom,
            }
        )
    rows += [{"kind": "river", "name": name, "geom": line} for name, line in plan.rivers]
    rows.append({"kind": "water", "name": plan.rivers[0][0], "geom": plan.water})
    rows.append({"kind": "boundary", "name": CITY_NAME, "geom": plan.areas["city"][0]["geom_m"].boundary})
    rows += [
        {"kind": "district_border", "name": r["name"], "geom": r["geom_m"].boundary}
        for r in plan.areas["district"]
    ]
    wkb = shapely.to_wkb(_geom_to_lonlat(np.array([r["geom"] for r in rows], dtype=object)))
    _insert(session, BasemapFeature.__table__, [{**r, "geom": w} for r, w in zip(rows, wkb, strict=True)])


def _write_doorplates(session: Session, plan: _Plan, n: int) -> None:
    rng, roads = plan.rng, plan.roads
    weights = roads.length * _density(plan, roads.midpoints)
    pts = _fill(plan, n, lambda k: _along_roads(plan, k, weights, (8, 30)))
    # house numbers run along each road: odd on one side, even on the other
    order = np.lexsort((pts["along"], pts["side"], pts["road"]))
    pts = {k: v[order] for k, v in pts.items()}
    group = np.r_[True, (np.diff(pts["road"]) != 0) | (np.diff(pts["side"]) != 0)]
    starts = np.maximum.accumulate(np.where(group, np.arange(n), 0))
    number = 2 * (np.arange(n) - starts) + np.where(pts["side"] < 0, 1, 2)
    dens = _density(plan, np.column_stack([pts["x"], pts["y"]]))
    commercial = rng.random(n) < 0.08 + 0.12 * dens / dens.max()
    households = np.where(
        commercial, rng.integers(0, 4, n), np.minimum(rng.lognormal(2.4, 0.9, n).astype(np.int64) + 1, 320)
    )
    merchants = np.where(commercial, rng.integers(1, 30, n), (rng.random(n) < 0.1) * rng.integers(1, 4, n))
    has_contact = rng.random(n) < 0.85
    people, phones = _person_names(rng, n), _phones(rng, n)
    district_names = [r["name"] for r in plan.areas["district"]]
    street_names = [r["name"] for r in plan.areas["street"]]
    gpos = pts["grid"].tolist()
    rows = [
        {
            "code": f"MP{i + 1:07d}",
            "address": f"{CITY_NAME}{district_names[plan.grid_district[g]]}"
            f"{street_names[plan.grid_street[g]]}{roads.line_names[road]}{num}号",
            "lon": lon,
            "lat": lat,
            "grid_id": int(plan.grid_ids[g]),
            "households": hh,
            "merchants": mc,
            "contact_name": person if contact else None,
            "contact_phone": phone if contact else None,
        }
        for i, (g, road, num, lon, lat, hh, mc, contact, person, phone) in enumerate(
            zip(
                gpos,
                pts["road"].tolist(),
                number.tolist(),
                pts["lon"].tolist(),
                pts["lat"].tolist(),
                households.tolist(),
                merchants.tolist(),
                has_contact.tolist(),
                people,
                phones,
                strict=True,
            )
        )
    ]
    _insert(session, Doorplate.__table__, rows)


def _write_sensors(session: Session, plan: _Plan) -> dict[str, Sample]:
    """Assets and their sensors, family by family; returns the placed points per asset kind."""
    asset_rows, sensor_rows, placed = [], [], {}
    counters: dict[str, int] = {}
    district_codes = [r["code"] for r in plan.areas["district"]]
    for group in _ASSET_GROUPS:
        pts = _place(plan, group.placement, _scaled(group.count, plan.scale))
        placed[group.kind] = pts
        labels = pts["label"].tolist() if "label" in pts else _road_label(plan, pts)
        for k, (label, g, lon, lat) in enumerate(
            zip(labels, pts["grid"].tolist(), pts["lon"].tolist(), pts["lat"].tolist(), strict=True)
        ):
            counters[group.prefix] = counters.get(group.prefix, 0) + 1
            code = f"{group.prefix}-{counters[group.prefix]:04d}"
            name = group.name.format(road=label, k=k + 1)
            asset_rows.append(
                {
                    "code": code,
                    "name": name,
                    "kind": group.kind,
                    "family": group.family,
                    "lon": lon,
                    "lat": lat,
                }
            )
            tags = [f"asset:{code}", f"district:{district_codes[plan.grid_district[g]]}"]
            if group.family == "air":
                tags.append(f"station:{code}")
            for spec in group.sensors:
                counters[spec.prefix] = counters.get(spec.prefix, 0) + 1
                sensor_rows.append(
                    {
                        "id": f"{spec.prefix}-{counters[spec.prefix]:04d}",
                        "kind": spec.kind,
                        "family": group.family,
                        "name": f"{name}·{spec.label}",
                        "unit": spec.unit,
                        "lon": lon,
                        "lat": lat,
                        "asset": code,
                        "grid_id": int(plan.grid_ids[g]),
                        "status": "online",
                        "tags": tags,
                        "last_value": None,
                        "last_ts": None,
                        "simulated": True,  # invented devices: the simulator drives these, and only these
                    }
                )
    _insert(session, Asset.__table__, asset_rows)
    asset_ids = _ids_by(session, Asset.code, Asset.id)
    for row in sensor_rows:
        row["asset_id"] = asset_ids[row.pop("asset")]
    _insert(session, Sensor.__table__, sensor_rows)
    return placed


_KEY_PLACES: tuple[tuple[str, str, str, int, str], ...] = (
    # kind, code prefix, name format, count at scale 1 (0: as many as the placement gives), placement
    ("risk_source", "RISK", "{road}加油站", 40, "arterial_node"),
    ("risk_source", "RISK", "{road}化工有限公司(危化品企业)", 15, "outskirts"),
    ("risk_source", "RISK", "{road}燃气调压站", 0, "gas_regulator_station"),
    ("key_place", "PLACE", "{road}小学", 55, "dense"),
    ("key_place", "PLACE", "{road}中学", 35, "dense"),
    ("key_place", "PLACE", "{road}医院", 25, "dense"),
    ("key_place", "PLACE", "{road}购物中心", 30, "centre"),
    ("key_place", "PLACE", "地铁{road}站", 0, "metro"),
    ("key_project", "PROJ", "{road}重点工程项目", 40, "outskirts"),
)


def _write_key_places(session: Session, plan: _Plan, assets: dict[str, Sample]) -> dict[str, Sample]:
    rows, placed, counters = [], {}, {}
    for kind, prefix, name, count, placement in _KEY_PLACES:
        if placement == "metro":
            pts = _metro_stations(plan)
        elif placement in assets:  # the same place as an asset (a gas regulator station)
            pts = assets[placement]
        else:
            pts = _place(plan, placement, _scaled(count, plan.scale))
        placed.setdefault(kind, []).append(pts)
        for label, g, lon, lat in zip(
            _road_label(plan, pts),
            pts["grid"].tolist(),
            pts["lon"].tolist(),
            pts["lat"].tolist(),
            strict=True,
        ):
            counters[prefix] = counters.get(prefix, 0) + 1
            rows.append(
                {
                    "code": f"{prefix}-{counters[prefix]:04d}",
                    "name": name.format(road=label),
                    "kind": kind,
                    "lon": lon,
                    "lat": lat,
                    "grid_id": int(plan.grid_ids[g]),
                }
            )
    _insert(session, KeyPlace.__table__, rows)
    return {
        kind: {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y")} for kind, parts in placed.items()
    }


def _near(points: np.ndarray, targets: np.ndarray, radius: float) -> np.ndarray:
    if len(targets) == 0:
        return np.zeros(len(points), dtype=bool)
    zone = shapely.union_all(shapely.buffer(shapely.points(targets), radius, quad_segs=4))
    return shapely.contains_xy(zone, points[:, 0], points[:, 1])


def _write_cameras(
    session: Session,
    plan: _Plan,
    n: int,
    n_platforms: int,
    assets: dict[str, Sample],
    places: dict[str, Sample],
) -> None:
    rng, roads = plan.rng, plan.roads
    seg_w = roads.length * _density(plan, roads.midpoints) * np.where(roads.arterial, 3.0, 1.0)
    crossings = np.flatnonzero(roads.node_degree >= 3)
    n_cross = round(0.4 * n) if len(crossings) else 0
    node_xy = roads.nodes.reshape(-1, 2)[crossings]
    node_w = _density(plan, node_xy) * np.where(
        roads.line_arterial[roads.node_lines[crossings]].any(axis=1), 3.0, 1.0
    )

    def at_crossings(k: int) -> Sample:
        pick = crossings[rng.choice(len(crossings), k, p=node_w / node_w.sum())]
        xy = roads.nodes.reshape(-1, 2)[pick] + rng.uniform(-25, 25, (k, 2))
        return {"x": xy[:, 0], "y": xy[:, 1], "node": pick}

    # 40 % watch crossings (more domes and panoramic), the rest watch the roads between them
    cross = _fill(plan, n_cross, at_crossings) if n_cross else None
    along = _fill(plan, n - n_cross, lambda k: _along_roads(plan, k, seg_w, (3, 12)))
    names = [
        f"{roads.line_names[a]}与{roads.line_names[b]}路口"
        for a, b in (roads.node_lines[cross["node"]].tolist() if cross else [])
    ]
    names += [f"{roads.line_names[r]}沿线" for r in along["road"].tolist()]
    parts = [p for p in (cross, along) if p is not None]
    cams = {k: np.concatenate([p[k] for p in parts]) for k in ("x", "y", "lon", "lat", "grid")}
    xy = np.column_stack([cams["x"], cams["y"]])
    is_cross = np.arange(n) < n_cross
    kinds = np.array(["gun", "dome", "panoramic"])
    kind = np.where(is_cross, rng.choice(3, n, p=[0.35, 0.45, 0.2]), rng.choice(3, n, p=[0.75, 0.2, 0.05]))
    online = rng.random(n) < 0.95
    low_points = np.column_stack([assets["underpass"]["x"], assets["underpass"]["y"]])
    sites = np.column_stack([places["key_project"]["x"], places["key_project"]["y"]])
    algorithms = np.column_stack(
        [
            (_near(xy, low_points, 400.0) & (rng.random(n) < 0.6)) | (rng.random(n) < 0.01),
            _near(xy, sites, 350.0) & (rng.random(n) < 0.7),
            (_river_distance(plan, xy) < 150.0) & (rng.random(n) < 0.6),
        ]
    )
    algorithm_names = ("waterlogging", "construction_safety", "river_litter")

    district = plan.grid_district[cams["grid"]]
    platform_district = _platform_districts(plan, n_platforms, district)
    platforms = [
        {
            "code": f"VP{p + 1:03d}",
            "name": f"{plan.areas['district'][d]['name']}{_NETWORKS[p % len(_NETWORKS)]}视频平台{p + 1:03d}",
        }
        for p, d in enumerate(platform_district.tolist())
    ]
    _insert(session, VideoPlatform.__table__, platforms)
    platform_ids = _ids_by(session, VideoPlatform.code, VideoPlatform.id)
    # a camera reports to one of its district's platforms (any platform when there are too few)
    own = [np.flatnonzero(platform_district == d) for d in range(len(plan.areas["district"]))]
    pool = [o if len(o) else np.arange(n_platforms) for o in own]
    platform = [int(pool[d][rng.integers(len(pool[d]))]) for d in district.tolist()]
    serial = np.zeros(len(own), dtype=np.int64)
    rows = []
    for i, (d, p, lon, lat, g) in enumerate(
        zip(
            district.tolist(),
            platform,
            cams["lon"].tolist(),
            cams["lat"].tolist(),
            cams["grid"].tolist(),
            strict=True,
        )
    ):
        serial[d] += 1
        # GB/T 28181 device id: centre code (district + 00), industry 00, type 132 (IPC), network 0, serial
        code = f"{plan.areas['district'][d]['code']}00" + "00" + "132" + "0" + f"{serial[d]:06d}"
        pcode = platforms[p]["code"]
        rows.append(
            {
                "code": code,
                "name": names[i],
                "platform_id": platform_ids[pcode],
                "type": str(kinds[kind[i]]),
                "status": "online" if online[i] else "offline",
                "stream_url": f"rtsp://video.demo.local/{pcode}/{code}",
                "algorithms": [
                    a for a, on in zip(algorithm_names, algorithms[i].tolist(), strict=True) if on
                ],
                "lon": lon,
                "lat": lat,
                "grid_id": int(plan.grid_ids[g]),
            }
        )
    _insert(session, Camera.__table__, rows)


_NETWORKS = ("雪亮工程", "城市管理", "交通", "水务", "生态环境", "社区安防")


def _platform_districts(plan: _Plan, n_platforms: int, camera_district: np.ndarray) -> np.ndarray:
    """The district of each platform: shared out by camera count, at least one per district if possible."""
    n_d = len(plan.areas["district"])
    if n_platforms < n_d:
        return np.arange(n_platforms) % n_d
    weights = np.bincount(camera_district, minlength=n_d).astype(float) + 1.0
    return np.repeat(np.arange(n_d), _allocate(n_platforms, weights, np.full(n_d, n_platforms)))


def _metro_stations(plan: _Plan) -> Sample:
    """Two metro lines under the central avenues, a station at every third crossing."""
    roads = plan.roads
    xy, road = [], []
    for column in (0, 1):  # the east-west avenue's nodes, then the north-south avenue's
        avenue = [i for i, nm in enumerate(roads.line_names) if nm.endswith("大道")]
        nodes = np.flatnonzero(np.isin(roads.node_lines[:, column], avenue) & (roads.node_degree >= 3))
        nodes = nodes[::3]
        xy.append(_nodes_xy(plan, nodes, 20.0))
        road.append(roads.node_lines[nodes, 1 - column])
    stations = np.concatenate(xy)
    return _fixed(plan, len(stations), stations, {"road": np.concatenate(road)}, avoid_water=True)


def _write_users(session: Session, plan: _Plan, demo_grid: int, demo_passwords: bool) -> None:
    """The demo accounts and one worker per grid; ``worker`` is the worker of ``demo_grid``."""
    gas_dept = session.scalar(select(Department.id).where(Department.code == GAS_COMPANY))
    fire_dept = session.scalar(select(Department.id).where(Department.code == FIRE_RESCUE))
    traffic_dept = session.scalar(select(Department.id).where(Department.code == TRAFFIC_POLICE))
    people = _person_names(plan.rng, len(plan.grid_codes) + 4)
    demo = [
        ("admin", "系统管理员", None, None),
        ("operator", f"值班员{people[0]}", None, None),
        ("leader", f"领导{people[1]}", None, None),
        ("handler", f"燃气集团{people[2]}", None, gas_dept),
        ("worker", f"网格员{people[3]}", int(plan.grid_ids[demo_grid]), None),
        ("fire", "消防救援站值班员", None, fire_dept),
        ("traffic", "交警大队值班员", None, traffic_dept),
    ]
    created = utcnow()
    rows = [
        {
            "username": name,
            "display_name": shown,
            "role": DEMO_ROLES.get(name, name),
            "grid_id": grid,
            "department_id": dept,
            "password_hash": hash_password(DEMO_LOGINS[name]) if demo_passwords else None,
            "active": True,
            "created_at": created,
        }
        for name, shown, grid, dept in demo
    ]
    rows += [
        {
            "username": f"w{code}",
            "display_name": f"网格员{people[4 + g]}",
            "role": "worker",
            "grid_id": int(plan.grid_ids[g]),
            "department_id": None,
            "password_hash": None,
            "active": True,
            "created_at": created,
        }
        for g, code in enumerate(plan.grid_codes)
        if g != demo_grid
    ]
    _insert(session, User.__table__, rows)
    workers = session.execute(select(User.grid_id, User.id).where(User.role == "worker")).all()
    session.execute(update(Grid), [{"id": grid, "worker_id": user} for grid, user in workers])


_COUNTED = (
    Area,
    Grid,
    Doorplate,
    VideoPlatform,
    Camera,
    Asset,
    Sensor,
    KeyPlace,
    BasemapFeature,
    Department,
    Category,
    User,
)


def seed_demo_city(
    db: Database, *, scale: float = 1.0, seed: int = 42, reset: bool = False, demo_passwords: bool = True
) -> dict[str, int]:
    """Generate the demo city in one transaction; returns the row count of each table it fills.

    Refuses (DemoCityError) a database that already holds a city unless ``reset``, which first deletes
    every row except rules and the scheduler lease. ``demo_passwords`` gives the five accounts of
    ``DEMO_LOGINS`` their well-known passwords; otherwise no account has a password.
    """
    if not (math.isfinite(scale) and scale > 0):
        raise DemoCityError(f"scale must be a positive number, not {scale!r}")
    with db.uow() as session:
        if not _is_empty(session):
            if not reset:
                raise DemoCityError(
                    "the database already holds a city; seed with reset (--reset) to replace it"
                )
            _reset(session)
        plan = _plan(np.random.default_rng(seed), scale)
        load_catalog(session)
        _write_areas(session, plan)
        _write_basemap(session, plan)
        _write_doorplates(session, plan, round(DOORPLATES_AT_SCALE_1 * scale))
        assets = _write_sensors(session, plan)
        places = _write_key_places(session, plan, assets)
        _write_cameras(
            session,
            plan,
            round(CAMERAS_AT_SCALE_1 * scale),
            _scaled(PLATFORMS_AT_SCALE_1, scale),
            assets,
            places,
        )
        _write_users(session, plan, int(assets["gas_pipe"]["grid"][0]), demo_passwords)
        return {m.__tablename__: session.scalar(select(func.count()).select_from(m)) for m in _COUNTED}
