"""Typed settings, read once from CITYOPS_* environment variables (the only place that reads them)."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every runtime setting of CityOps; see DESIGN §3."""

    model_config = SettingsConfigDict(env_prefix="CITYOPS_", extra="ignore")

    database_url: str = "sqlite:///var/cityops.db"
    secret_key: str | None = None
    mqtt_url: str | None = None
    #: The MQTT client id of the feed: one per deployment (the broker keeps its persistent session), so two
    #: CityOps on one broker — or a test stack beside a running one — need different ids.
    mqtt_client_id: str = Field(default="cityops-ingest", min_length=1)
    lang: str = Field(default="zh", pattern="^(zh|en)$")
    tz: str = "Asia/Shanghai"
    demo: bool = False
    simulator_interval_s: float = 5.0
    evaluate_interval_s: float = 10.0
    reports_dir: str = "var/reports"
    uploads_dir: str = "var/uploads"
    #: Raw readings older than this are rolled up into hourly aggregates and deleted.
    retention_days: float = Field(default=30.0, gt=0)
    #: Local hour (0–23) at which the scheduler writes yesterday's daily report.
    daily_report_hour: int = Field(default=8, ge=0, le=23)
    #: Weights of the A/B/C grade of departments and grids in the briefing (KPI key → weight; each KPI is
    #: a fraction 0..1, a negative weight counts against), e.g. CITYOPS_GRADE_WEIGHTS='{"closure_rate": 1}'.
    grade_weights: dict[str, float] = Field(
        default_factory=lambda: {"closure_rate": 0.4, "on_time_closure_rate": 0.4, "rework_rate": -0.2}
    )
    #: Score thresholds of grade A and grade B (A at or above the first, B at or above the second).
    grade_thresholds: tuple[float, float] = (0.85, 0.7)

    @field_validator("tz")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("grade_weights")
    @classmethod
    def _known_kpis(cls, value: dict[str, float]) -> dict[str, float]:
        known = {"closure_rate", "on_time_closure_rate", "handling_rate", "filing_rate", "rework_rate",
                 "std_closure_rate", "std_on_time_closure_rate"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown KPI {unknown[0]!r} (use rates: {', '.join(sorted(known))})")
        if not any(weight > 0 for weight in value.values()):
            raise ValueError("at least one weight must be positive")
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The display time zone."""
        return ZoneInfo(self.tz)

    #: Targets of the big screen's rate tiles (issue 6): KPI key → (amber below, red below) as fractions 0..1;
    #: a tile turns amber below the first and red below the second. Keys not given keep their defaults,
    #: e.g. CITYOPS_KPI_TARGETS='{"closure_rate": [0.97, 0.9]}'. Only rates where higher is better.
    kpi_targets: dict[str, tuple[float, float]] = Field(
        default_factory=lambda: {"closure_rate": (0.95, 0.90), "on_time_closure_rate": (0.90, 0.80)}
    )

    @field_validator("kpi_targets")
    @classmethod
    def _valid_targets(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        rates = {"closure_rate", "on_time_closure_rate", "handling_rate", "filing_rate", "std_closure_rate",
                 "std_on_time_closure_rate"}
        unknown = sorted(set(value) - rates)
        if unknown:
            raise ValueError(f"no target for KPI {unknown[0]!r} (use rates: {', '.join(sorted(rates))})")
        for key, (amber, red) in value.items():
            if not 0.0 <= red <= amber <= 1.0:
                raise ValueError(f"{key}: targets need 0 <= red <= amber <= 1, not amber {amber}, red {red}")
        defaults = cls.model_fields["kpi_targets"].default_factory()
        return {**defaults, **value}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
