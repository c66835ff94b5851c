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
    #: A PostgreSQL streaming replica for the reads that may lag a few seconds (issue 21: the big screen,
    #: KPI and map-layer APIs, briefings; README "Read replica"); unset = every read on ``database_url``.
    database_read_url: str | None = None
    secret_key: str | None = None
    #: The key notification-channel URLs are encrypted with (issue 17); unset = derived from ``secret_key``.
    channel_key: str | None = None
    mqtt_url: str | None = None
    #: The MQTT client id of the feed: one per deployment (the broker keeps its persistent session), so two
    #: CityOps on one broker — or a test stack beside a running one — need different ids.
    mqtt_client_id: str = Field(default="cityops-ingest", min_length=1)
    #: Feed processes sharing the subscription (issue 21, README "MQTT feed"): 1 = one feed in the worker on
    #: ``mqtt_client_id``; K > 1 = K processes ``<mqtt_client_id>-1`` … ``-K`` on an MQTT 5 shared subscription
    #: (at most ``alerts.mqtt.MAX_FEEDS``).
    mqtt_feeds: int = Field(default=1, ge=1, le=8)
    lang: str = Field(default="zh", pattern="^(zh|en)$")
    tz: str = "Asia/Shanghai"
    demo: bool = False
    simulator_interval_s: float = 5.0
    evaluate_interval_s: float = 10.0
    #: Live evaluation of real emergency events (issue 18, ``dispatch.emergency_live``): every this many seconds
    #: each active event's plan conditions are checked against the live alerts and incidents of its area; a
    #: lower or end condition must hold this many minutes without a break before the level goes down.
    emergency_live_interval_s: float = Field(default=30.0, gt=0)
    emergency_hold_minutes: float = Field(default=30.0, ge=0)
    reports_dir: str = "var/reports"
    uploads_dir: str = "var/uploads"
    #: The city's own basemaps (issue 16, ``import basemap``): tile sets, styles, sprites, rendered glyphs,
    #: and the font labels are drawn with (empty: the first Noto Sans CJK / WenQuanYi font found).
    basemaps_dir: str = "var/basemaps"
    basemap_font: str = ""
    #: Browsers reach CityOps over HTTPS only (scripts/prod with TLS sets it): Secure cookies and HSTS.
    https: bool = False
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
    #: A browser session ends after this many minutes without a request (issue 14; 30 = OWASP ASVS 3.3.2
    #: level 2; open pages poll, so only a closed or sleeping browser goes idle) and, at the latest, this
    #: many hours after sign-in.
    session_idle_minutes: float = Field(default=30.0, gt=0)
    session_max_hours: float = Field(default=12.0, gt=0)
    #: A longer or shorter absolute lifetime per role, e.g. CITYOPS_SESSION_ROLE_MAX_HOURS='{"leader": 168}'
    #: for an unattended big screen signed in as a leader, or '{"worker": 10}' for phones.
    session_role_max_hours: dict[str, float] = Field(default_factory=dict)
    #: Whether anyone may read Open311 service requests (GET) without an Open311 ``api_key``.
    open311_public_reads: bool = True
    #: The public side (issue 20): the address citizens reach CityOps at (QR codes on doorplates point to
    #: ``<public_url>/report?doorplate=CODE``), the proof-of-work difficulty of a report (leading zero bits
    #: of SHA-256), the reports one address and one phone may file per hour and the challenges and
    #: tracking look-ups one address may ask for per hour (token buckets: that many at once, refilled over
    #: the hour; raise the address limits where many phones share one carrier-grade NAT address), and the
    #: header the DMZ proxy puts the citizen's address in (empty: the connection's own address).
    public_url: str = "http://127.0.0.1:8050"
    public_pow_bits: int = Field(default=16, ge=0, le=32)
    public_reports_per_hour_ip: int = Field(default=10, ge=1)
    public_reports_per_hour_phone: int = Field(default=5, ge=1)
    public_challenges_per_hour_ip: int = Field(default=60, ge=1)
    public_lookups_per_hour_ip: int = Field(default=600, ge=1)
    public_client_ip_header: str = ""
    #: The share (0..1) of closed hotline orders that get a follow-up call (回访) task: 1 = every order;
    #: below 1 a fixed sample chosen by the order's id (the same orders whichever process closes them).
    hotline_followup_share: float = Field(default=1.0, ge=0, le=1)
    #: Video (issue 19): the media gateway's playback URL for a camera whose stream URL is RTSP, e.g.
    #: ``http://gw:8888/{code}/index.m3u8`` (``{code}`` the camera code, ``{path}`` the RTSP URL's path);
    #: empty = RTSP cameras cannot be played. Its origin, and each of ``video_origins`` (the platforms'
    #: own HLS/MJPEG hosts), is allowed by the pages' Content Security Policy.
    video_gateway: str = ""
    #: The gateway's sub-stream (子码流) template, same placeholders: walls of 9 and 16 cells play it for
    #: gateway cameras (a lower resolution and bit rate); empty = every wall plays the main stream.
    video_gateway_sub: str = ""
    video_origins: list[str] = Field(default_factory=list)
    #: Camera health: every this many seconds each camera's playback URL is probed (``timeout`` seconds
    #: each, ``parallel`` at a time); a camera offline this many minutes files one incident of
    #: ``camera_offline_category`` (the equipment category) per outage.
    camera_probe_seconds: float = Field(default=60.0, gt=0)
    camera_probe_timeout_s: float = Field(default=3.0, gt=0)
    camera_probe_parallel: int = Field(default=64, ge=1, le=1024)
    camera_offline_minutes: float = Field(default=30.0, ge=0)
    camera_offline_category: str = "B0602"
    #: Warning review (issue 17 §5): /admin flags a rule whose false alarms over the last
    #: ``false_alarm_days`` are at least this share (0..1) of at least ``false_alarm_min_reviewed`` reviews.
    false_alarm_rate: float = Field(default=0.3, ge=0, le=1)
    false_alarm_min_reviewed: int = Field(default=5, ge=1)
    false_alarm_days: float = Field(default=30.0, gt=0)

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
        return check_grade_weights(value)

    @field_validator("grade_thresholds")
    @classmethod
    def _ordered_thresholds(cls, value: tuple[float, float]) -> tuple[float, float]:
        return check_grade_thresholds(value)

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
        return {**cls.model_fields["kpi_targets"].default_factory(), **check_kpi_targets(value)}


#: The rates a grade may weigh (each a fraction 0..1; rework counts against) and those a target may be set for
#: (higher is better).
GRADE_KPIS = frozenset({"closure_rate", "on_time_closure_rate", "handling_rate", "filing_rate", "rework_rate",
                        "std_closure_rate", "std_on_time_closure_rate"})
TARGET_KPIS = GRADE_KPIS - {"rework_rate"}


def check_grade_weights(value: dict[str, float]) -> dict[str, float]:
    """The grade weights, checked: known rates, each weight in [-1, 1], the positive ones summing to more
    than 0 (the score is divided by their sum). ValueError says what is wrong."""
    unknown = sorted(set(value) - GRADE_KPIS)
    if unknown:
        raise ValueError(f"unknown KPI {unknown[0]!r} (use rates: {', '.join(sorted(GRADE_KPIS))})")
    for key, weight in value.items():
        if not -1.0 <= weight <= 1.0:
            raise ValueError(f"{key}: a weight lies in [-1, 1], not {weight}")
    if not any(weight > 0 for weight in value.values()):
        raise ValueError("at least one weight must be positive")
    return value


def check_grade_thresholds(value: tuple[float, float]) -> tuple[float, float]:
    """The (A from, B from) score thresholds, checked: 0 <= B <= A (scores reach 1 at best, so an A above 1
    means no grade A)."""
    a_from, b_from = value
    if not 0.0 <= b_from <= a_from:
        raise ValueError(f"grade thresholds need 0 <= B <= A, not A {a_from}, B {b_from}")
    return a_from, b_from


def check_kpi_targets(value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
    """KPI targets (key → (amber below, red below)), checked: known rates, 0 <= red <= amber <= 1."""
    unknown = sorted(set(value) - TARGET_KPIS)
    if unknown:
        raise ValueError(f"no target for KPI {unknown[0]!r} (use rates: {', '.join(sorted(TARGET_KPIS))})")
    for key, (amber, red) in value.items():
        if not 0.0 <= red <= amber <= 1.0:
            raise ValueError(f"{key}: targets need 0 <= red <= amber <= 1, not amber {amber}, red {red}")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests call ``get_settings.cache_clear()``)."""
    return Settings()
