"""Air quality the way HJ 633-2012 and HJ 663-2013 compute it, from the hourly rollups of the readings.

Per station (an air-station asset; a pollutant sensor without one is its own station): the hourly AQI
from each pollutant's **1-hour mean** concentration; the daily AQI from the **24-hour means** (of the
day's hourly means, valid with at least 20 of them) and, for O3, the day's **maximum 8-hour moving mean**
(the 8-hour means ending at 08:00 … 24:00 local time, each valid with at least 6 hourly means, the
maximum valid with at least 14 of them) — GB 3095-2012 §8 and HJ 663-2013 give these validity rules.
The city (or an area's) value of an hour is the arithmetic mean of its stations' hourly means (HJ 663);
its daily value follows from that hourly series by the same steps as a station's. Every concentration is
kept at the precision HJ 663-2013 reports it (``alerts.aqi.reported``) before its IAQI is worked out.

Everything reads ``data.readings.hourly_points`` (``reading_rollups`` ⊕ raw readings not rolled up yet,
the same query on PostgreSQL and SQLite).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from alerts.aqi import MIN_HOURS_8H, MIN_HOURS_24H, MIN_WINDOWS_8H, AqiResult, aqi, reported
from alerts.evaluator import AQI_POLLUTANTS
from data.areas import grids_under
from data.models import Area, Asset, Grid, Sensor
from data.readings import hourly_points
from settings import get_settings

#: Sensor kind → pollutant key of ``alerts.aqi`` (the kinds the ``aqi`` rules judge).
POLLUTANT_OF_KIND = AQI_POLLUTANTS
HOUR = timedelta(hours=1)
#: The 8-hour windows of a day start at local hours 0 … 16 (ending at 08:00 … 24:00).
O3_WINDOW_STARTS = range(17)

Means = dict[str, float]  # pollutant → concentration


class UnknownArea(LookupError):
    """An area code that names no area."""


@dataclass(frozen=True)
class Station:
    """Where air is measured: the station asset's code and name (or the lone sensor's id and name)."""

    code: str
    name: str


@dataclass(frozen=True)
class HourlyAqi:
    """The hourly AQI of a station, or of the city / an area when ``station`` is None."""

    station: Station | None
    #: Start of the hour (UTC); the 1-hour means are of [hour, hour + 1 h).
    hour: datetime
    means: Means
    result: AqiResult
    #: Stations averaged (1 for a station).
    stations: int


@dataclass(frozen=True)
class DailyAqi:
    """The daily AQI of a station, or of the city / an area when ``station`` is None, for a local day."""

    station: Station | None
    day: date
    #: 24-hour means; ``o3`` is the maximum 8-hour moving mean. Pollutants without valid data are absent.
    means: Means
    result: AqiResult | None
    stations: int


def scope_condition(
    session: Session,
    *,
    area: str | None = None,
    grids: Collection[str] | None = None,
    grid_ids: Collection[int] | None = None,
) -> ColumnElement[bool] | None:
    """The sensors of an area (district/street/community code), of unit grids by code, or by id; every one
    given must hold; None for the whole city. Raises UnknownArea for an area code that names no area."""
    conditions: list[ColumnElement[bool]] = []
    if area is not None:
        area_id = session.scalar(select(Area.id).where(Area.code == area))
        if area_id is None:
            raise UnknownArea(f"no area {area!r}")
        conditions.append(Sensor.grid_id.in_(grids_under(area_id)))
    if grids is not None:
        conditions.append(Sensor.grid_id.in_(select(Grid.id).where(Grid.code.in_(list(grids)))))
    if grid_ids is not None:
        conditions.append(Sensor.grid_id.in_(list(grid_ids)))
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined = combined & condition
    return combined


def _air_sensors(where: ColumnElement[bool] | None) -> Select[Any]:
    query = select(Sensor.id).where(Sensor.kind.in_(list(POLLUTANT_OF_KIND)))
    return query if where is None else query.where(where)


def station_hourly_means(
    session: Session, start: datetime, end: datetime, where: ColumnElement[bool] | None = None
) -> dict[Station, dict[datetime, Means]]:
    """Each station's 1-hour mean per pollutant, per UTC hour from the hour of ``start`` to ``end``.

    A station with two sensors of one pollutant gets the mean of all their readings of the hour."""
    ids = _air_sensors(where)
    stations: dict[str, tuple[Station, str]] = {}
    for sensor_id, kind, sensor_name, asset_code, asset_name in session.execute(
        select(Sensor.id, Sensor.kind, Sensor.name, Asset.code, Asset.name)
        .outerjoin(Asset, Asset.id == Sensor.asset_id)
        .where(Sensor.id.in_(ids))
    ):
        station = Station(asset_code, asset_name) if asset_code else Station(sensor_id, sensor_name)
        stations[sensor_id] = (station, POLLUTANT_OF_KIND[kind])
    sums: dict[Station, dict[datetime, dict[str, list[float]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(lambda: [0.0, 0.0]))
    )
    for sensor_id, points in hourly_points(session, ids, start, end).items():
        station, pollutant = stations[sensor_id]
        for point in points:
            acc = sums[station][point.bucket][pollutant]
            acc[0] += point.total
            acc[1] += point.count
    return {
        station: {hour: {p: reported(p, total / count) for p, (total, count) in by_p.items()}
                  for hour, by_p in hours.items()}
        for station, hours in sums.items()
    }


def _mean_over_stations(per_station: Iterable[Means]) -> tuple[Means, int]:
    """Per pollutant, the mean over the stations that measured it; and how many stations there were."""
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    n = 0
    for means in per_station:
        n += 1
        for pollutant, value in means.items():
            sums[pollutant][0] += value
            sums[pollutant][1] += 1
    return {p: reported(p, total / count) for p, (total, count) in sums.items()}, n


def city_hourly_means(stations: Mapping[Station, Mapping[datetime, Means]]) -> dict[datetime, tuple[Means, int]]:
    """Per hour, the city's (or area's) concentration of each pollutant — the mean of its stations' 1-hour
    means (HJ 663) — and the number of stations that reported in that hour."""
    hours = sorted({hour for by_hour in stations.values() for hour in by_hour})
    return {
        hour: _mean_over_stations(by_hour[hour] for by_hour in stations.values() if hour in by_hour)
        for hour in hours
    }


def station_hourly_aqi(
    session: Session, start: datetime, end: datetime, where: ColumnElement[bool] | None = None
) -> list[HourlyAqi]:
    """The hourly AQI (``averaging="1h"``) of every station, by station code then hour."""
    per_station = station_hourly_means(session, start, end, where)
    return [
        HourlyAqi(station, hour, means, aqi(means, averaging="1h"), 1)
        for station in sorted(per_station, key=lambda s: s.code)
        for hour, means in sorted(per_station[station].items())
    ]


def city_hourly_aqi(
    session: Session, start: datetime, end: datetime, where: ColumnElement[bool] | None = None
) -> list[HourlyAqi]:
    """The hourly AQI of the city (or of the stations ``where`` selects), oldest hour first."""
    city = city_hourly_means(station_hourly_means(session, start, end, where))
    return [HourlyAqi(None, hour, means, aqi(means, averaging="1h"), n) for hour, (means, n) in city.items()]


def _local_day(day: date) -> tuple[datetime, datetime]:
    zone = get_settings().zone
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)


def daily_means(hourly: Mapping[datetime, Means], day_start: datetime) -> Means:
    """The 24-hour means of a local day from its hourly means (keys: UTC hour starts), O3 as the maximum
    8-hour moving mean; a pollutant without enough valid hours is left out."""
    hours = [day_start + i * HOUR for i in range(24)]
    pollutants = {p for means in hourly.values() for p in means}
    daily: Means = {}
    for pollutant in sorted(pollutants):
        series = [hourly.get(hour, {}).get(pollutant) for hour in hours]
        if pollutant == "o3":
            windows = []
            for first in O3_WINDOW_STARTS:
                values = [v for v in series[first : first + 8] if v is not None]
                if len(values) >= MIN_HOURS_8H:
                    windows.append(reported(pollutant, sum(values) / len(values)))
            if len(windows) >= MIN_WINDOWS_8H:
                daily[pollutant] = max(windows)
        else:
            values = [v for v in series if v is not None]
            if len(values) >= MIN_HOURS_24H:
                daily[pollutant] = reported(pollutant, sum(values) / len(values))
    return daily


def _daily(station: Station | None, day: date, means: Means, stations: int) -> DailyAqi:
    return DailyAqi(station, day, means, aqi(means, averaging="24h") if means else None, stations)


def station_daily_aqi(session: Session, day: date, where: ColumnElement[bool] | None = None) -> list[DailyAqi]:
    """The daily AQI (``averaging="24h"``) of every station for the local day ``day`` (``CITYOPS_TZ``)."""
    start, end = _local_day(day)
    per_station = station_hourly_means(session, start, end, where)
    return [_daily(station, day, daily_means(per_station[station], start), 1)
            for station in sorted(per_station, key=lambda s: s.code)]


def city_daily_aqi(session: Session, day: date, where: ColumnElement[bool] | None = None) -> DailyAqi:
    """The daily AQI of the city (or of the stations ``where`` selects) for the local day ``day``."""
    start, end = _local_day(day)
    per_station = station_hourly_means(session, start, end, where)
    city = city_hourly_means(per_station)
    return _daily(None, day, daily_means({hour: means for hour, (means, _) in city.items()}, start),
                  len(per_station))


#: Hourly values older than this are not "current" (the big screen's AQI).
AIR_FRESH = timedelta(hours=2)


@dataclass(frozen=True)
class AirNow:
    """The air of the city or an area now: its newest hourly AQI within ``AIR_FRESH`` (None: no fresh hour),
    its hourly AQI since a moment (hour start, UTC → AQI), and each station's newest fresh hour, worst first."""

    latest: HourlyAqi | None
    hourly: dict[datetime, int]
    stations: list[HourlyAqi]


def air_now(session: Session, now: datetime, since: datetime, *, grid_ids: Collection[int] | None = None,
            fresh: timedelta = AIR_FRESH) -> AirNow:
    """The city's (or the unit grids' ``grid_ids``) hourly AQI from 1-hour means (HJ 633-2012) from ``since``
    to ``now``: the newest hour within ``fresh``, every hour's AQI, and each station's newest hour."""
    where = None if grid_ids is None else scope_condition(session, grid_ids=grid_ids)
    city = city_hourly_aqi(session, since, now, where)
    oldest = now - fresh
    latest = max((h for h in city if h.hour + HOUR > oldest), key=lambda h: h.hour, default=None)
    newest: dict[str, HourlyAqi] = {}
    for h in station_hourly_aqi(session, oldest, now, where):  # by station, then hour: the last one wins
        newest[h.station.code if h.station else ""] = h
    stations = sorted(newest.values(), key=lambda h: (-h.result.aqi, h.station.name if h.station else ""))
    return AirNow(latest, {h.hour: h.result.aqi for h in city}, stations)
