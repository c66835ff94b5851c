"""Issue 13 items 1 and 4 on the real PostgreSQL: the hand-computed air-quality day read from
``reading_rollups`` (half folded by the rollup job, half still raw) and the engine's late-reading path."""

from __future__ import annotations

from sqlalchemy import func, select

from alerts.air import city_daily_aqi, city_hourly_aqi, station_daily_aqi, station_hourly_aqi
from alerts.retention import roll_up_new_readings
from data.models import Reading, ReadingRollup
from tests.unit import test_late_readings
from tests.unit.test_air_quality import DAY, local, seed_air_day


def test_the_air_quality_day_reads_the_same_from_rollups_and_raw_readings_on_postgres(pg_db):
    seed_air_day(pg_db)
    with pg_db.uow() as s:
        total = s.scalar(select(func.count()).select_from(Reading))
        assert roll_up_new_readings(s, max_ids=total // 2)["readings"] == total // 2  # the rest stays raw
        assert s.scalar(select(func.count()).select_from(ReadingRollup)) > 0
    with pg_db.uow() as s:
        hourly = [(h.station.code, h.result.aqi) for h in station_hourly_aqi(s, local(14), local(15))]
        assert hourly == [("ST-A", 94), ("ST-B", 132), ("ST-C", 65)]
        assert [h.result.aqi for h in city_hourly_aqi(s, local(14), local(15))] == [94]
        assert [(d.station.code, d.result.aqi) for d in station_daily_aqi(s, DAY)] == [
            ("ST-A", 119), ("ST-B", 155), ("ST-C", 65)]
        city = city_daily_aqi(s, DAY)
        assert (city.result.aqi, city.means["o3"]) == (94, 148)


def test_an_inhibited_red_alert_is_filed_once_its_sensor_is_back_on_postgres(pg_db):
    test_late_readings.test_an_alert_inhibited_while_it_fired_is_filed_at_its_peak_once_the_sensor_is_back(pg_db)
