"""Air quality as HJ 633-2012 / HJ 663-2013 compute it (issue 13, item 4): a day of six pollutants at three
stations, worked out by hand from the tables, against ``alerts.air``.

Each hour every sensor sends two readings (at :10 and :40) whose mean is the hour's value, so an AQI taken
from a single instantaneous reading would come out differently. Hourly means (µg/m³, CO mg/m³), the same
every hour of the local day except O3:

    station   PM2.5  PM10  SO2  NO2  CO   O3 (local hours)
    A (G1)      70    120   20   50  1.0  180 at 10-17, 40 otherwise
    B (G1)     100    160   40   70  1.4  220 at 12-19, 60 otherwise
    C (G2)      40     80   12   30  0.6   80 all day
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta

import pytest
from sqlalchemy import delete, select

from alerts.air import (
    UnknownArea,
    city_daily_aqi,
    city_hourly_aqi,
    scope_condition,
    station_daily_aqi,
    station_hourly_aqi,
)
from alerts.ingest import ingest_readings
from callbacks.bigscreen import panels
from data.models import Asset, Grid, Reading, Sensor, utcnow
from i18n import t
from settings import get_settings
from tests.unit.test_bigscreen import app_context, city, template  # noqa: F401  (fixtures)
from tests.unit.test_dispatch_service import make_city

DAY = date(2026, 11, 20)
MEANS = {
    "A": {"pm25": 70, "pm10": 120, "so2": 20, "no2": 50, "co": 1.0},
    "B": {"pm25": 100, "pm10": 160, "so2": 40, "no2": 70, "co": 1.4},
    "C": {"pm25": 40, "pm10": 80, "so2": 12, "no2": 30, "co": 0.6},
}
#: Half the spread between the :10 and :40 readings of an hour.
SPREAD = {"pm25": 10, "pm10": 10, "so2": 5, "no2": 10, "co": 0.2, "o3": 10}
GRID = {"A": "G1", "B": "G1", "C": "G2"}


def o3(station: str, hour: int) -> float:
    if station == "A":
        return 180 if 10 <= hour <= 17 else 40
    if station == "B":
        return 220 if 12 <= hour <= 19 else 60
    return 80


def local(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(), get_settings().zone) + timedelta(hours=hour, minutes=minute)


@pytest.fixture
def air_day(db):
    return seed_air_day(db)


def seed_air_day(db):
    """The three stations of the module docstring and their day of readings, in ``db``."""
    with db.uow() as s:
        make_city(s)
        grids = dict(s.execute(select(Grid.code, Grid.id)).all())
        for station in MEANS:
            asset = Asset(code=f"ST-{station}", name=f"站 {station}", kind="air_station", family="air",
                          lon=117.005, lat=36.605)
            s.add(asset)
            s.flush()
            for pollutant in (*MEANS[station], "o3"):
                s.add(Sensor(id=f"{station}-{pollutant}", kind=f"air_{pollutant}", family="air", name=pollutant,
                             unit="µg/m³", lon=117.005, lat=36.605, asset_id=asset.id,
                             grid_id=grids[GRID[station]]))
        s.flush()
        rows = []
        for station, means in MEANS.items():
            for hour in range(24):
                for pollutant, mean in {**means, "o3": o3(station, hour)}.items():
                    for minute, sign in ((10, -1), (40, 1)):
                        rows.append({"sensor_id": f"{station}-{pollutant}", "ts": local(hour, minute).isoformat(),
                                     "value": round(mean + sign * SPREAD[pollutant], 3)})
        assert not ingest_readings(s, rows, now=utcnow()).rejected
    return db


def test_hourly_aqi_per_station_and_for_the_city_from_one_hour_means(air_day):
    # Hour 14:00-15:00 local. Hourly AQI: PM by the 24-hour limits, SO2/NO2/CO/O3 by the 1-hour ones.
    # A: PM2.5 70 → 50+(100-50)/(75-35)·(70-35) = 93.75 → 94; PM10 120 → 50+50/100·70 = 85;
    #    SO2 20 → 50/150·20 = 6.67 → 7; NO2 50 → 50/100·50 = 25; CO 1.0 → 50/5·1 = 10;
    #    O3 180 → 50+50/40·20 = 75.                                        AQI 94, primary PM2.5
    # B: PM2.5 100 → 100+50/40·25 = 131.25 → 132; PM10 160 → 100+50/100·10 = 105; SO2 40 → 13.3 → 14;
    #    NO2 70 → 35; CO 1.4 → 14; O3 220 → 100+50/100·20 = 110.            AQI 132, primary PM2.5
    # C: PM2.5 40 → 50+50/40·5 = 56.25 → 57; PM10 80 → 50+50/100·30 = 65; SO2 12 → 4; NO2 30 → 15;
    #    CO (0.4 + 0.8)/2 = 0.6 → 50/5·0.6 = 6 (not 7: the mean is kept to 0.1 mg/m³);
    #    O3 80 → 50/160·80 = 25.                                           AQI 65, primary PM10
    # City = the stations' means: PM2.5 70 → 94, PM10 120 → 85, SO2 24 → 8, NO2 50 → 25, CO 1.0 → 10,
    #    O3 (180+220+80)/3 = 160 → 50.                                      AQI 94, primary PM2.5
    with air_day.uow() as s:
        stations = station_hourly_aqi(s, local(14), local(15))
        city = city_hourly_aqi(s, local(14), local(15))
    assert [(h.station.code, h.result.aqi, h.result.primary) for h in stations] == [
        ("ST-A", 94, ["pm25"]), ("ST-B", 132, ["pm25"]), ("ST-C", 65, ["pm10"])]
    assert stations[0].result.iaqi == {"pm25": 94, "pm10": 85, "so2": 7, "no2": 25, "co": 10, "o3": 75}
    assert stations[1].result.iaqi == {"pm25": 132, "pm10": 105, "so2": 14, "no2": 35, "co": 14, "o3": 110}
    assert stations[2].result.iaqi == {"pm25": 57, "pm10": 65, "so2": 4, "no2": 15, "co": 6, "o3": 25}
    (hour,) = city
    assert hour.hour == local(14) and hour.stations == 3
    assert (hour.result.aqi, hour.result.category, hour.result.primary) == (94, 2, ["pm25"])
    assert hour.result.iaqi == {"pm25": 94, "pm10": 85, "so2": 8, "no2": 25, "co": 10, "o3": 50}


def test_daily_aqi_from_24_hour_means_and_the_maximum_8_hour_ozone(air_day):
    # Daily AQI: 24-hour limits, O3 by its daily maximum 8-hour moving mean (windows ending 08:00-24:00).
    # A: O3 8h max = the window 10-17 = 180 → 100+50/55·20 = 118.18 → 119; PM2.5 94, PM10 85,
    #    SO2 20 → 20, NO2 50 → 50+50/40·10 = 62.5 → 63, CO 1.0 → 50/2·1 = 25.    AQI 119, O3, 轻度污染 (3)
    # B: O3 8h max = the window 12-19 = 220 → 150+50/50·5 = 155; PM2.5 132, PM10 105, SO2 40,
    #    NO2 70 → 50+50/40·30 = 87.5 → 88, CO 1.4 → 35.                          AQI 155, O3, 中度污染 (4)
    # C: O3 80 → 50/100·80 = 40; PM2.5 57, PM10 65, SO2 12, NO2 30 → 37.5 → 38, CO 0.6 → 15. AQI 65, PM10
    # City: hourly O3 means (reported as integers, HJ 663) 60 (0-9, 20-23), 320/3 = 106.67 → 107
    #    (10-11), 160 (12-17), 340/3 = 113.33 → 113 (18-19); the best 8-hour windows are 11-18
    #    (107 + 6·160 + 113)/8 = 147.5 → 148 (half to even) and 12-19 (6·160 + 2·113)/8 = 148.25 → 148:
    #    148 → 50+50/60·48 = 90. PM2.5 70 → 94, PM10 120 → 85, SO2 24 → 24, NO2 50 → 63, CO 1.0 → 25.
    #                                                                           AQI 94, PM2.5, 良 (2)
    with air_day.uow() as s:
        stations = station_daily_aqi(s, DAY)
        city = city_daily_aqi(s, DAY)
    assert [(d.station.code, d.result.aqi, d.result.category, d.result.primary) for d in stations] == [
        ("ST-A", 119, 3, ["o3"]), ("ST-B", 155, 4, ["o3"]), ("ST-C", 65, 2, ["pm10"])]
    assert stations[0].means["o3"] == 180
    assert stations[0].result.iaqi == {"pm25": 94, "pm10": 85, "so2": 20, "no2": 63, "co": 25, "o3": 119}
    assert stations[1].result.iaqi == {"pm25": 132, "pm10": 105, "so2": 40, "no2": 88, "co": 35, "o3": 155}
    assert stations[2].result.iaqi == {"pm25": 57, "pm10": 65, "so2": 12, "no2": 38, "co": 15, "o3": 40}
    assert city.stations == 3 and city.means["o3"] == 148
    assert (city.result.aqi, city.result.category, city.result.primary) == (94, 2, ["pm25"])
    assert city.result.iaqi == {"pm25": 94, "pm10": 85, "so2": 24, "no2": 63, "co": 25, "o3": 90}


def test_the_aqi_follows_an_area_or_a_set_of_grids(air_day):
    with air_day.uow() as s:
        only_c = scope_condition(s, grids=["G2"])
        (hour,) = city_hourly_aqi(s, local(14), local(15), only_c)
        assert (hour.stations, hour.result.aqi, hour.result.primary) == (1, 65, ["pm10"])
        everything = scope_condition(s, area="D1S1")  # the street holding both grids
        assert city_hourly_aqi(s, local(14), local(15), everything)[0].stations == 3
        assert city_daily_aqi(s, DAY, only_c).result.aqi == 65
        with pytest.raises(UnknownArea):
            scope_condition(s, area="NOPE")


def test_a_day_with_too_few_hours_has_no_daily_value(air_day):
    # Station C loses its data from 18:00: 18 hourly means are fewer than the 20 a 24-hour mean needs, and
    # only the 8-hour windows starting 0-12 keep 6 hours: 13 valid windows, fewer than the 14 the daily
    # maximum needs (GB 3095-2012 Table 4). No daily AQI for C; A and B are untouched.
    with air_day.uow() as s:
        s.execute(delete(Reading).where(Reading.sensor_id.like("C-%"), Reading.ts >= local(18)))
        by_code = {d.station.code: d for d in station_daily_aqi(s, DAY)}
    assert by_code["ST-C"].means == {} and by_code["ST-C"].result is None
    assert by_code["ST-A"].result.aqi == 119


def test_the_big_screen_shows_the_hourly_aqi_of_one_hour_means_per_station_and_for_the_city(app_context):  # noqa: F811
    # The demo city's air station sends PM2.5 at 60 and then 100 µg/m³ in the last hour (others low):
    # the 1-hour mean 80 gives 100+50/40·5 = 106.25 → 107 (轻度污染, PM2.5), where the latest reading
    # alone (100) would have given 132.
    now = utcnow().replace(microsecond=0)
    hour = now.replace(minute=0, second=0) - timedelta(hours=1)
    low = {"air_pm10": 40.0, "air_so2": 10.0, "air_no2": 20.0, "air_co": 0.4, "air_o3": 50.0}
    with app_context.uow() as s:
        air = s.execute(select(Sensor.id, Sensor.kind, Sensor.asset_id).where(Sensor.family == "air")).all()
        rows = []
        for sensor_id, kind, _ in air:
            for ts, pm25 in ((hour + timedelta(minutes=10), 60.0), (hour + timedelta(minutes=40), 100.0)):
                rows.append({"sensor_id": sensor_id, "ts": ts.isoformat(), "value": low.get(kind, pm25)})
        ingest_readings(s, rows, now=now)
        station_names = set(s.scalars(select(Asset.name).where(Asset.id.in_({a for *_, a in air}))))
    outputs = panels.refresh_panels(1, "month", None, 1.0)
    text = json.dumps(outputs[4].to_plotly_json(), default=lambda o: o.to_plotly_json(), ensure_ascii=False)
    assert '"children": "107"' in text and t("screen.aqi.cat.3") in text
    assert t("screen.pollutant.pm25") in text and '"children": "132"' not in text
    assert '"data-testid": "aqi-stations"' in text and any(name in text for name in station_names)
    assert outputs[5]["data"][0]["y"][-2:] == [107, None]
