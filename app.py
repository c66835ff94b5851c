"""CityOps composition root and command line: builds the Flask server and the Dash app, wires the API,
pages, callbacks and scheduler, connects the ports of independent packages (``wire``: alerts → dispatch)
and registers the scheduler jobs of dispatch, partitions and reports (``scheduled_jobs``, ``_daily_jobs``),
and exposes the CLI of DESIGN §3. Nothing imports this module but entry points (``wsgi``) and tests."""

from __future__ import annotations

import importlib
import json
import os
import secrets
import socket
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial, wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import dash
from dash import html
from flask import Flask, has_request_context, request
from flask_login import current_user
from pydantic import ValidationError

import callbacks  # noqa: F401  (importing it registers every @dash.callback)
from alerts.ports import set_desk
from alerts.review import warning_stats
from api.auth import PAGE_PATHS, PAGE_TEMPLATES, allowed, current_db, init_auth
from api.errors import error_response, register_error_handlers
from api.health import health_bp
from api.login import login_bp
from api.ogc import ogc_bp
from api.open311 import open311_bp
from api.public import public_bp
from api.registry import api_v1
from api.security import install_security
from api.tiles import tiles_bp
from data.areas import city_name
from data.db import Database, DatabaseConfigError, check_connection
from data.partitions import maintain_partitions
from dispatch.desk import DispatchDesk
from dispatch.kpi import SCOPE_HELP
from dispatch.ports import set_warning_stats
from i18n import current_lang, t
from layouts.shell import shell
from settings import Settings, get_settings

if TYPE_CHECKING:
    from alerts.scheduler import Job

HERE = Path(__file__).parent


class StartupError(click.ClickException):
    """A problem that stops the program with one clear line and a non-zero exit."""

    def show(self, file=None) -> None:  # noqa: ANN001
        click.echo(f"cityops: {self.message}", err=True)


def _secret_key(settings: Settings) -> str:
    if settings.secret_key:
        return settings.secret_key
    if settings.demo:
        return secrets.token_hex(32)
    raise StartupError("CITYOPS_SECRET_KEY is not set (it is required outside demo mode)")


#: The overdue-card sweep runs every minute; the outbox every 5 s (notifications reach their channels within
#: about that long of their event, issue 17); the readings' partitions are kept ahead hourly.
SWEEP_S = 60.0
OUTBOX_S = 5.0
PARTITIONS_S = 3600.0


def wire() -> None:
    """Connect the ports of the packages that must not import each other: an alert asks the dispatch loop
    for its incident, notifications and camera streams (``alerts.ports``); the briefing asks alerts for its
    warning statistics (``dispatch.ports``). Idempotent; once per process."""
    set_desk(DispatchDesk())
    set_warning_stats(warning_stats)


def scheduled_jobs(settings: Settings | None = None) -> dict[str, tuple[float, Job]]:
    """The periodic scheduler jobs of dispatch and data (name → (seconds, job)) that ``alerts.scheduler`` runs
    beside its own: the overdue-card sweep, the notification outbox, the readings' partitions (PostgreSQL), the
    live evaluation of real emergency events' plans (issue 18), the daily KPI rollups (issue 21)."""
    from dispatch.emergency_live import evaluate_events
    from dispatch.kpi_rollup import ROLL_S, roll_job
    from dispatch.outbox import outbox_job
    from dispatch.service import sweep_cards

    settings = settings or get_settings()
    keep = timedelta(days=settings.retention_days)
    return {
        "sweep": (SWEEP_S, sweep_cards),
        "outbox": (OUTBOX_S, outbox_job),
        "partitions": (PARTITIONS_S, lambda session, now: maintain_partitions(session, now, keep=keep)),
        "emergency_live": (settings.emergency_live_interval_s, evaluate_events),
        "kpi_rollup": (ROLL_S, roll_job),  # the daily KPI rollups a year's snapshot sums (issue 21)
    }


def create_app(settings: Settings | None = None, db: Database | None = None) -> tuple[Flask, dash.Dash]:
    """Build the Flask server with the API and the Dash app on it."""
    settings = settings or get_settings()
    wire()
    db = db or Database(settings.database_url, settings.database_read_url)
    server = Flask(__name__)
    server.secret_key = _secret_key(settings)
    server.config["MAX_CONTENT_LENGTH"] = 8 * 1024 * 1024
    init_auth(server, db, settings)
    register_error_handlers(server)
    server.register_blueprint(health_bp)
    server.register_blueprint(api_v1)
    server.register_blueprint(login_bp)
    server.register_blueprint(open311_bp)
    server.register_blueprint(ogc_bp)  # OGC API – Features under /ogc
    server.register_blueprint(public_bp)  # the citizens' /report page and /api/v1/public (issue 20)
    server.register_blueprint(tiles_bp)  # the city's own basemap: /tiles (issue 16)

    app = dash.Dash(
        __name__,
        server=server,
        use_pages=True,
        pages_folder="",  # pages are registered by register_pages, not discovered by importing files
        assets_folder=str(HERE / "assets"),
        assets_path_ignore=["vendor"],  # served, not put on every page: video.js loads hls.js on /video only
        serve_locally=True,
        compress=True,
        title=t("app.title", settings.lang),
        update_title=None,
        suppress_callback_exceptions=True,
    )
    app.layout = _layout
    register_pages()
    install_security(server, app, https=settings.https)

    @server.before_request
    def _refuse_unknown_routes():
        # Dash's catch-all page route would answer any unknown /api/… path with the HTML shell.
        if request.path.startswith(("/api/", "/open311/")) and request.blueprint is None:
            return error_response(404, "not_found", f"no route {request.path}")
        # Dash answers a callback it does not know with a 500; an unknown output is bad input: 404.
        if request.path == "/_dash-update-component" and request.method == "POST":
            body = request.get_json(silent=True)
            if not isinstance(body, dict) or body.get("output") not in app.callback_map:
                return error_response(404, "unknown_callback", "no such callback")
        return None

    return server, app


def _page_title(page: str, **_query: str) -> str:
    return t(f"nav.{page}")


def register_pages() -> None:
    """Register every page of ``PAGE_PATHS`` (the one table of paths and access) with its ``layouts``
    module. Registering is idempotent; the layout modules themselves have no import side effects."""
    for path, page in PAGE_PATHS.items():
        module = importlib.import_module(f"layouts.{page}")
        dash.register_page(module.__name__, path=path, name=page, title=partial(_page_title, page),
                           layout=_guarded_layout(page, module.layout), path_template=PAGE_TEMPLATES.get(page))


def _guarded_layout(page: str, layout: Callable[..., object]) -> Callable[..., object]:
    """``layout`` for a user whose role may open ``page``, a refusal for anyone else. Dash's router picks the
    page from the path as it normalises it (``//admin`` is ``admin``) and reads its inputs by position, so
    the check sits on the page the router chose, not on a path the request may spell another way."""

    @wraps(layout)
    def guarded(**query: str) -> object:
        if not allowed(current_user.role if current_user.is_authenticated else None, page):
            return html.Div(t("guard.forbidden"), className="page-forbidden", **{"data-testid": "page-forbidden"})
        notice = _empty_city_notice(page)
        return layout(**query) if notice is None else html.Div([notice, layout(**query)])

    return guarded


#: The pages that tell an empty city (``serve --no-demo``) what to import first (issue 16).
EMPTY_CITY_PAGES = ("bigscreen", "admin")


def _empty_city_notice(page: str) -> html.Div | None:
    """A line saying what to import first, on ``EMPTY_CITY_PAGES`` while the database holds no city."""
    if page not in EMPTY_CITY_PAGES or not has_request_context() or not current_db().is_empty():
        return None
    return html.Div(t("city_setup.empty_city"), className="empty-city", **{"data-testid": "empty-city"})


def _layout():
    user = current_user if current_user.is_authenticated else None
    nav = [(path, f"nav.{page}") for path, page in PAGE_PATHS.items()
           if user and allowed(user.role, page) and "/" not in path[1:]]  # sub-pages: linked from their page
    return shell(
        username=user.display_name if user else None,
        role=user.role if user else None,
        lang=current_lang(),
        nav=nav,
        page_container=dash.page_container,
        city=_city_name(),
    )


def _city_name() -> str | None:
    """The city's own name for the title bar (from its imported areas), read per page load: it is one row."""
    if not has_request_context():
        return None
    with current_db().uow() as session:
        return city_name(session)


# --- command line -------------------------------------------------------------------------------


def _database(settings: Settings) -> Database:
    try:
        db = Database(settings.database_url, settings.database_read_url)
        check_connection(db.engine)
    except DatabaseConfigError as exc:
        raise StartupError(str(exc)) from None
    return db


def _settings() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        field = "CITYOPS_" + str(first["loc"][0]).upper()
        raise StartupError(f"{field} is invalid: {first['msg']}") from None


def _ensure_port_free(host: str, port: int) -> None:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise StartupError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


@click.group(invoke_without_command=True)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """CityOps: the city operations command centre. With no command: serve the demo."""
    wire()
    if ctx.invoked_subcommand is None:
        os.environ.setdefault("CITYOPS_DEMO", "1")
        get_settings.cache_clear()
        ctx.invoke(serve)


#: Open connections the embedded server keeps (waitress's default is 100): every video-wall screen and
#: every grid worker's phone holds a keep-alive connection, and a command centre has hundreds of them —
#: past the limit waitress stops accepting, and the next phone waits forever (bench/bench_load.py).
CONNECTION_LIMIT = 2000
#: How the embedded server serves: its connection limit, and poll() instead of select(), which cannot watch a
#: socket numbered 1024 or more — with select() the 1,000th phone's connection crashed the whole process
#: ("filedescriptor out of range in select()", found by bench_load at 50 screens + 1,000 phones, issue 21).
WAITRESS_OPTIONS: dict[str, Any] = {"threads": 8, "ident": "cityops", "connection_limit": CONNECTION_LIMIT,
                                    "asyncore_use_poll": True}


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8050, show_default=True, type=int)
@click.option("--no-scheduler", is_flag=True, help="Do not run the scheduler in this process.")
@click.option("--no-simulator", is_flag=True, help="Do not run the sensor simulator.")
@click.option("--no-demo", is_flag=True, help="Never seed the demo city: an empty database waits for its imports "
              "(also CITYOPS_DEMO=0).")
def serve(host: str, port: int, no_scheduler: bool, no_simulator: bool, no_demo: bool) -> None:
    """Web server (+ scheduler + simulator unless disabled); migrates and seeds an empty database."""
    from alerts.rules_loader import sync_rule_files
    from alerts.scheduler import start_scheduler
    from data.demo import DEMO_LOGINS
    from dispatch.demo_history import DEFAULT_DAYS, seed_demo

    settings = _settings()
    _ensure_port_free(host, port)
    db = _database(settings)
    db.migrate()
    if db.is_empty() and not (no_demo or demo_refused(settings)):
        click.echo(t("cli.seeding_with_history", settings.lang, days=DEFAULT_DAYS))
        seed_demo(db, demo_passwords=settings.demo, history_days=DEFAULT_DAYS)
    elif db.is_empty():
        click.echo(t("city_setup.empty_city", settings.lang))
    with db.uow() as s:
        sync_rule_files(s, HERE / "alerts" / "rules")
        _sync_plans(s)
    server, _ = create_app(settings, db)
    handle = None
    if not no_scheduler:
        handle = start_scheduler(db, simulator=not no_simulator, holder=f"{socket.gethostname()}:{os.getpid()}",
                                 daily=_daily_jobs(), jobs=scheduled_jobs(settings))
    click.echo(t("cli.listening", settings.lang, url=f"http://{host}:{port}/"))
    if settings.demo:
        for name, password in DEMO_LOGINS.items():
            click.echo(f"  {name} / {password}")
    from waitress import serve as waitress_serve

    try:
        waitress_serve(server, host=host, port=port, **WAITRESS_OPTIONS)
    finally:
        if handle is not None:
            handle.shutdown()


def _sync_plans(session: Any) -> None:
    """Store the shipped emergency plans (``dispatch/plans/*.yaml``, issue 18) after the rules they name; a
    plan that does not validate is reported on stderr and skipped."""
    from dispatch.emergency_plans import sync_plan_files

    for problem in sync_plan_files(session)[1]:
        click.echo(f"emergency plan not loaded: {problem}", err=True)


def demo_refused(settings: Settings) -> bool:
    """True when CITYOPS_DEMO was set to a false value (``CITYOPS_DEMO=0``): never seed the demo city.
    Unset, ``serve`` seeds an empty database as before (DESIGN §3)."""
    return "demo" in settings.model_fields_set and not settings.demo


def _daily_jobs() -> dict[str, Callable[[Database, datetime], object]]:
    """The scheduler's daily jobs: yesterday's briefing written to the reports folder (DESIGN §3)."""
    from reports.archive import write_daily_reports

    return {"daily_report": write_daily_reports}


@cli.command()
def worker() -> None:
    """The scheduler alone (rules, overdue sweep, retention, scheduled reports)."""
    from alerts.rules_loader import sync_rule_files
    from alerts.scheduler import run_worker

    settings = _settings()
    db = _database(settings)
    db.migrate()
    with db.uow() as s:
        sync_rule_files(s, HERE / "alerts" / "rules")
        _sync_plans(s)
    run_worker(db, daily=_daily_jobs(), jobs=scheduled_jobs(settings))


@cli.command()
@click.option("--scale", default=1.0, show_default=True, type=click.FloatRange(0.001, 10))
@click.option("--seed", "seed_", default=42, show_default=True, type=int)
@click.option("--reset", is_flag=True, help="Delete everything first (required on a non-empty database).")
@click.option("--history-days", default=365, show_default=True, type=click.IntRange(0, 3650),
              help="Also write the incidents of the last N days (0 = none).")
def seed(scale: float, seed_: int, reset: bool, history_days: int) -> None:
    """Generate the demo city deterministically, with the incidents of its last --history-days days."""
    from data.demo import DemoCityError
    from dispatch.demo_history import DemoHistoryError, seed_demo

    settings = _settings()
    db = _database(settings)
    db.migrate()
    try:
        counts = seed_demo(db, scale=scale, seed=seed_, reset=reset, demo_passwords=settings.demo,
                           history_days=history_days)
    except (DemoCityError, DemoHistoryError) as exc:
        raise StartupError(str(exc)) from None
    for table, n in counts.items():
        click.echo(f"{table}\t{n}")


def _parse_time(value: str | None, default: datetime) -> datetime:
    if not value:
        return default
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not an ISO-8601 time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=get_settings().zone)


@cli.command()
@click.option("--from", "from_", help="Start of the cohort (ISO-8601; default: today 00:00 local).")
@click.option("--to", "to", help="End of the cohort (ISO-8601; default: tomorrow 00:00 local).")
@click.option("--district", help=f"Only this {SCOPE_HELP['district']}.")
@click.option("--street", help=f"Only this {SCOPE_HELP['street']}.")
@click.option("--community", help=f"Only this {SCOPE_HELP['community']}.")
@click.option("--grid", help=f"Only this {SCOPE_HELP['grid']}.")
@click.option("--department", help=f"Only this {SCOPE_HELP['department']}.")
@click.option("--category", help=f"Only this {SCOPE_HELP['category']}.")
@click.option("--source", help=f"Only this {SCOPE_HELP['source']}.")
@click.option("--previous", is_flag=True, help="Add the snapshot of the equally long period before.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def kpi(from_: str | None, to: str | None, previous: bool, as_json: bool, **scope: str | None) -> None:
    """The KPI snapshot of DESIGN §7 (the same answer as GET /api/v1/kpi with the same arguments)."""
    from api.errors import ApiError
    from api.v1 import kpi_answer
    from dispatch.kpi import UnknownFilter

    settings = _settings()
    db = _database(settings)
    db.migrate()
    try:
        with db.uow() as s:
            snapshot = kpi_answer(s, {"from": from_, "to": to, "previous": "1" if previous else "0", **scope})
    except (ApiError, UnknownFilter) as exc:
        raise StartupError(exc.message) from None
    if as_json:
        click.echo(json.dumps(snapshot, ensure_ascii=False, indent=2, default=str))
        return

    def text(value: object) -> str:  # an undefined rate (null in JSON) shows as "—", never 0 % or NaN
        if value is None:
            return "—"
        return json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else str(value)

    before = snapshot.pop("previous", None)
    for key, value in snapshot.items():
        click.echo(f"{key}\t{text(value)}" + (f"\t{text(before[key])}" if before else ""))


@cli.command()
@click.argument("kind", type=click.Choice(["daily", "weekly"]))
@click.option("--date", "day", help="A day in the period (YYYY-MM-DD; default: yesterday / last week).")
@click.option("--format", "fmt", type=click.Choice(["pdf", "xlsx"]), default="pdf", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write it.")
def report(kind: str, day: str | None, fmt: str, out: Path | None) -> None:
    """The daily or weekly briefing (日调度、周通报) as PDF or XLSX; prints the file written."""
    from datetime import date

    from reports.archive import default_day, write_report

    settings = _settings()
    try:
        when = date.fromisoformat(day) if day else default_day(kind)
    except ValueError:
        raise click.BadParameter(f"not a date YYYY-MM-DD: {day!r}", param_hint="--date") from None
    db = _database(settings)
    db.migrate()
    try:
        path = write_report(db, kind, when, fmt, out=out)
    except OSError as exc:
        raise StartupError(f"cannot write the report: {exc.strerror}: {exc.filename}") from None
    click.echo(str(path))


@cli.command("report-monthly")
@click.option("--month", help="YYYY-MM (default: last month).")
@click.option("--format", "fmt", type=click.Choice(["pdf", "xlsx"]), default="pdf", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write it.")
def report_monthly(month: str | None, fmt: str, out: Path | None) -> None:
    """The monthly report (月报, issue 20): KPIs, hotline, sources and out-of-hours, trends; prints the file."""
    from datetime import date, datetime, timedelta

    from reports.monthly import write_monthly

    settings = _settings()
    today = datetime.now(settings.zone).date()  # the display zone's (CITYOPS_TZ) today
    try:
        day = date.fromisoformat(f"{month}-01") if month else today.replace(day=1) - timedelta(days=1)
    except ValueError:
        raise click.BadParameter(f"not a month YYYY-MM: {month!r}", param_hint="--month") from None
    db = _database(settings)
    db.migrate()
    click.echo(str(write_monthly(db, day, fmt, out=out)))


@cli.command("report-urgent")
@click.argument("code")
@click.option("--format", "fmt", type=click.Choice(["pdf", "xlsx"]), default="pdf", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Where to write it.")
def report_urgent(code: str, fmt: str, out: Path | None) -> None:
    """The urgent report (快报, issue 20) of one incident: facts, timeline, status; prints the file."""
    from domain.errors import DomainError
    from reports.monthly import write_urgent

    db = _database(_settings())
    db.migrate()
    try:
        click.echo(str(write_urgent(db, code, fmt, out=out)))
    except DomainError as exc:
        raise StartupError(str(exc)) from None


@cli.command("import")
@click.argument("kind", type=click.Choice(["areas", "doorplates", "grids", "cameras", "sensors", "key-places",
                                           "resources", "departments", "categories", "users", "incidents", "pack",
                                           "rota", "basemap"]))
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--crs", help="The file's coordinate system: EPSG:4326 (default), gcj02, EPSG:4490 (CGCS2000), "
              "EPSG:4513–4554 (its Gauss–Krüger zones), EPSG:3857 or any EPSG code.")
@click.option("--layer", help="The layer of a GeoPackage (the sheet of an XLSX).")
@click.option("--dry-run", is_flag=True, help="Print the report and write nothing.")
@click.option("--prune", is_flag=True, help="Delete (users: disable) what the database holds and the file does not.")
@click.option("--category-map", type=click.Path(dir_okay=False, path_type=Path),
              help="incidents: a CSV of two columns, the old system's category code and ours.")
@click.option("--style", type=click.Path(dir_okay=False, path_type=Path),
              help="basemap: the MapLibre style JSON of vector tiles (sprite files beside it are taken too).")
@click.option("--name", help="basemap: its name in /tiles/NAME/… (default: the file's name).")
def import_(kind: str, file: Path, crs: str | None, layer: str | None, dry_run: bool, prune: bool,
            category_map: Path | None, style: Path | None, name: str | None) -> None:
    """Import a GeoJSON/GPKG/Shapefile/CSV/XLSX file; re-importing updates by code. Prints what was added,
    changed, unchanged and missing from the file, and every rejected row's reason. `import pack DIR` imports
    the folder DIR described by its city.yaml, all files in one transaction. `import rota FILE` imports the duty
    rota (date, shift, post, username), all or nothing."""
    from data.importers import ImportFileError, import_file
    from dispatch.city_import import TABLE_KINDS, import_table
    from dispatch.city_pack import import_pack
    from dispatch.duty import import_rota
    from dispatch.history_import import import_incidents, read_category_map

    if kind == "basemap" or style or name:
        if kind == "basemap" and any((crs, layer, dry_run, prune, category_map)):
            raise click.BadParameter("not for `import basemap`", param_hint="--crs/--layer/--dry-run/--prune")
        return _import_basemap(kind, file, style, name)
    if category_map is not None and kind != "incidents":
        raise click.BadParameter("only for `import incidents`", param_hint="--category-map")
    if (dry_run or prune) and kind == "incidents":
        raise click.BadParameter("not for `import incidents`", param_hint="--dry-run/--prune")
    if kind == "rota" and (prune or crs):
        raise click.BadParameter("not for `import rota` (a re-import replaces entries by day, shift and post)",
                                 param_hint="--prune/--crs")
    if kind == "pack" and (prune or crs or layer):
        raise click.BadParameter("not for `import pack` (city.yaml gives each file's crs and layer)",
                                 param_hint="--prune/--crs/--layer")
    db = _database(_settings())
    db.migrate()
    try:
        mapping = read_category_map(category_map) if category_map is not None else None
        if kind == "incidents":
            result = import_incidents(db, file, category_map=mapping)
        elif kind == "pack":
            result = import_pack(db, file, dry_run=dry_run)
        elif kind == "rota":
            result = import_rota(db, file, sheet=layer, dry_run=dry_run)
        elif kind in TABLE_KINDS:
            result = import_table(db, kind, file, sheet=layer, dry_run=dry_run, prune=prune)
        else:
            result = import_file(db, kind, file, crs=crs, layer=layer, dry_run=dry_run, prune=prune)
    except ImportFileError as exc:
        raise StartupError(f"{file.name}: {exc}; nothing was imported") from None
    for line in result.lines():
        click.echo(line)


def _import_basemap(kind: str, file: Path, style: Path | None, name: str | None) -> None:
    """`import basemap FILE [--style STYLE.json] [--name NAME]`: an MBTiles/PMTiles tile set into
    CITYOPS_BASEMAPS_DIR (data/basemap.py), audited; the big screen draws the last one imported."""
    from admin.audit import audit
    from data.basemap import BasemapError, import_basemap, label_font

    if kind != "basemap":
        raise click.BadParameter("only for `import basemap`", param_hint="--style/--name")
    settings = _settings()
    db = _database(settings)
    db.migrate()
    with db.uow() as session:
        try:
            entry = import_basemap(file, root=Path(settings.basemaps_dir), style=style, name=name,
                                   font=label_font(settings.basemap_font), audit=partial(audit, session, None))
        except BasemapError as exc:
            raise StartupError(f"{exc}; nothing was imported") from None
    click.echo(f"basemap {entry['name']}: {entry['container']} {entry['format']}, zoom {entry['minzoom']}–"
               f"{entry['maxzoom']}, served at /tiles/{entry['name']}/{{z}}/{{x}}/{{y}}")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--speed", type=click.FloatRange(min=0.001), help="Replay N times faster than real time "
              "(default: all at once).")
@click.option("--keep-open", is_flag=True, help="Leave the drill's alerts open at the end.")
@click.option("--plan", "plan_id", help="Respond with this emergency plan (issue 18): open the exercise event where "
              "its start conditions hold, activate it and raise its level as the drill's alerts say.")
@click.option("--as", "username", default="admin", show_default=True, help="Who acts in the plan's response.")
def drill(file: Path, speed: float | None, keep_open: bool, plan_id: str | None, username: str) -> None:
    """Replay a CSV of readings (sensor_id,ts,value) as an exercise (演练): alerts and incidents marked
    Exercise and excluded from KPIs."""
    from alerts.drill import DrillFileError, run_drill

    db = _database(_settings())
    db.migrate()
    step = _plan_drill_step(db, plan_id, username, file.stem) if plan_id else None
    try:
        if step is None:
            counts = run_drill(db, file, speed=speed, close=not keep_open)
        else:  # the plan is stepped between the drill's readings (at once: a very high speed)
            counts = run_drill(db, file, speed=speed or 1e9, close=not keep_open, sleep=step)
    except DrillFileError as exc:
        raise StartupError(str(exc)) from None
    if step is not None:
        step(0)
        click.echo(f"event\t{step.report()}")
    for key in ("readings", "fired", "resolved", "incidents", "closed_at_end"):
        click.echo(f"{key}\t{counts.get(key, 0)}")
    for row in counts["rejected"]:
        where = f"line {row['line']}" if row["line"] else "file"
        click.echo(f"  rejected {where}: {row['reason']}")


class _PlanDrillStep:
    """The sleep hook of a drill with ``--plan``: waits as the replay asks, then steps the plan's response
    (``dispatch.emergency.drill_step``) in a unit of work of its own."""

    def __init__(self, db: Database, plan_id: str, user_id: int, title: str) -> None:
        self.db, self.plan_id, self.user_id, self.title = db, plan_id, user_id, title

    def __call__(self, seconds: float) -> None:
        import time

        from data.models import User
        from dispatch.emergency import drill_step

        time.sleep(seconds)
        with self.db.uow() as session:
            drill_step(session, session.get(User, self.user_id), plan_id=self.plan_id, title=self.title)

    def report(self) -> str:
        """The drill event's code, level and how many tasks are late, or ``none`` when no event was opened."""
        from dispatch.emergency import drill_report, latest_exercise_event

        with self.db.uow() as session:
            event = latest_exercise_event(session, self.plan_id)
            if event is None:
                return "none"
            report = drill_report(session, event.id)
            return f"{event.code}\tlevel {event.level}\tlate tasks {len(report['late'])}"


def _plan_drill_step(db: Database, plan_id: str, username: str, title: str) -> _PlanDrillStep:
    from sqlalchemy import select

    from data.models import User
    from dispatch.emergency import WRITE_ROLES
    from dispatch.emergency_plans import latest

    with db.uow() as session:
        user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
        if user is None or user.role not in WRITE_ROLES:
            raise StartupError(f"--as {username}: an active admin or operator is needed")
        _sync_plans(session)
        if latest(session, plan_id) is None:
            raise StartupError(f"--plan {plan_id}: no such plan (is it in dispatch/plans?)")
        return _PlanDrillStep(db, plan_id, user.id, title)


@cli.group()
def users() -> None:
    """Users and API tokens."""


@users.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["admin", "operator", "leader", "handler", "worker"]))
@click.option("--grid", help="The unit grid code of a worker.")
@click.option("--department", help="The department code of a handler.")
@click.option("--area", help="The district or street code an operator or leader is scoped to.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def users_add(name: str, role: str, grid: str | None, department: str | None, area: str | None,
              password_stdin: bool) -> None:
    """Add a user."""
    from data.accounts import AccountError, create_user
    from data.areas import AreaScopeError, area_scope

    password = sys.stdin.readline().rstrip("\n") if password_stdin else None
    if password_stdin and not password:
        raise StartupError("an empty password was given on standard input")
    db = _database(_settings())
    db.migrate()
    try:
        with db.uow() as s:
            user = create_user(s, name, role, password=password, grid_code=grid, department_code=department)
            user.area_code = area_scope(s, area) if area else None
    except (AccountError, AreaScopeError) as exc:
        raise StartupError(str(exc)) from None
    click.echo(f"user {name} ({role}) added" + (f", area {area}" if area else ""))


@users.command("activate")
@click.argument("name")
def users_activate(name: str) -> None:
    """Set the password of an imported user NAME with their one-time activation code: standard input holds the
    code on its first line and the new password on its second."""
    from dispatch.city_import import activate_user

    code = sys.stdin.readline().strip()
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        raise StartupError("give the activation code and then the new password on standard input")
    _change_user(name, lambda s, user: activate_user(s, user.username, code, password))
    click.echo(f"user {name} activated")


@users.command("token")
@click.argument("name")
def users_token(name: str) -> None:
    """Print a new API token for NAME, alone on the last line."""
    from data.accounts import issue_token, user_by_name

    db = _database(_settings())
    with db.uow() as s:
        user = user_by_name(s, name)
        if user is None:
            raise StartupError(f"no active user {name!r}")
        token = issue_token(s, user)
    click.echo(token)


@cli.command("open311-key")
@click.argument("name")
def open311_key(name: str) -> None:
    """Print a new Open311 api_key for the client application NAME, alone on the last line (it only
    creates and reads Open311 requests; revoke it by id through /api/v1/tokens)."""
    from data.accounts import AccountError, issue_open311_key

    db = _database(_settings())
    db.migrate()
    try:
        with db.uow() as s:
            key = issue_open311_key(s, name)
    except AccountError as exc:
        raise StartupError(str(exc)) from None
    click.echo(f"Open311 key for {name.strip()} (shown once):")
    click.echo(key)


@cli.command("doorplate-qr")
@click.argument("community")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The PDF to write.")
def doorplate_qr(community: str, out: Path) -> None:
    """Write a printable sheet of QR codes, one per doorplate of COMMUNITY (code or name), each opening
    <CITYOPS_PUBLIC_URL>/report?doorplate=CODE (issue 20)."""
    from dispatch.service import InvalidInput
    from reports.doorplate_qr import qr_sheet_pdf

    settings = _settings()
    db = _database(settings)
    db.migrate()
    try:
        with db.uow() as s:
            pdf, count = qr_sheet_pdf(s, community, settings.public_url, settings.lang)
    except InvalidInput as exc:
        raise StartupError(exc.message) from None
    out.write_bytes(pdf)
    click.echo(f"{count} doorplate QR codes → {out}")


def _change_user(name: str, change: Callable[..., object], *args: object) -> None:
    """Apply ``change(session, user, *args)`` to the user NAME (active or not); one clear line on error."""
    from data.accounts import AccountError, any_user_by_name

    db = _database(_settings())
    db.migrate()
    try:
        with db.uow() as s:
            change(s, any_user_by_name(s, name), *args)
    except AccountError as exc:
        raise StartupError(str(exc)) from None


@users.command("unlock")
@click.argument("name")
def users_unlock(name: str) -> None:
    """Forget the failed sign-ins of NAME from every address (its sign-in is no longer slowed down)."""
    from data.accounts import unlock_sign_in

    _change_user(name, lambda s, user: unlock_sign_in(s, user.username))
    click.echo(f"user {name} unlocked")


@users.command("password")
@click.argument("name")
def users_password(name: str) -> None:
    """Set the password of NAME from standard input; ends every session of NAME."""
    from data.accounts import set_password

    _change_user(name, set_password, sys.stdin.readline().rstrip("\n"))
    click.echo(f"password of {name} changed; signed out everywhere")


@users.command("role")
@click.argument("name")
@click.argument("role")
def users_role(name: str, role: str) -> None:
    """Give NAME another role; ends every session of NAME."""
    from data.accounts import set_role

    _change_user(name, set_role, role)
    click.echo(f"user {name} is now {role}")


@users.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="Enable the user again instead.")
def users_disable(name: str, enable: bool) -> None:
    """Disable NAME (it cannot sign in and its sessions and tokens stop working), or enable it again."""
    from data.accounts import set_active

    _change_user(name, set_active, enable)
    click.echo(f"user {name} {'enabled' if enable else 'disabled'}")


@cli.group("db")
def db_group() -> None:
    """Schema management."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Alembic upgrade to head."""
    db = _database(_settings())
    db.migrate()
    click.echo("schema at head")


def main() -> None:
    """Run the CLI, turning configuration errors into one clear line."""
    try:
        cli.main(standalone_mode=True)
    except DatabaseConfigError as exc:
        click.echo(f"cityops: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
