"""Browser-test fixtures: a real CityOps server and headless Debian Chromium.

The server is ``python app.py serve`` on a seeded SQLite file, or with ``CITYOPS_TEST_STACK=production`` the
production profile (``tests/stack.py``): a fresh PostgreSQL database on ``CITYOPS_TEST_PG``'s server, gunicorn
web workers, one scheduler worker, Mosquitto at ``CITYOPS_TEST_MQTT``."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from tests import stack
from tests.e2e.accounts import cheap_demo_passwords

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--no-first-run", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]


#: ``production``: the browser suite runs against the production profile (README "Production profile"):
#: a fresh PostgreSQL database, gunicorn web workers, one scheduler worker, Mosquitto. Otherwise the
#: embedded ``python app.py serve`` on SQLite.
STACK = os.environ.get("CITYOPS_TEST_STACK", "embedded")
#: With ``production``: a streaming replica of ``CITYOPS_TEST_PG``'s cluster (``scripts/replica``) the stack
#: reads from (``CITYOPS_DATABASE_READ_URL``, issue 21); unset = every read on the primary.
REPLICA = os.environ.get("CITYOPS_TEST_REPLICA", "")


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``python app.py ARGS`` against the server's database; returns stdout."""
        done = subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout


def _seed(env: dict[str, str]) -> None:
    """A small demo city, its accounts with the demo passwords the tests sign in with; no history (the
    tests count the incidents they make)."""
    LiveServer("", {**env, "CITYOPS_DEMO": "1"}).cli("seed", "--scale", "0.05", "--history-days", "0")


@contextmanager
def _embedded_server(folder: Path, **extra_env: str) -> Iterator[LiveServer]:
    """``python app.py serve`` on a seeded SQLite file, scheduler on, simulator off (``extra_env``: more
    CITYOPS_* settings, e.g. a test's own CITYOPS_BASEMAPS_DIR)."""
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{folder / 'cityops.db'}", "CITYOPS_DEMO": "1",
           "CITYOPS_SECRET_KEY": "e2e-secret", "CITYOPS_LANG": "zh", "CITYOPS_UPLOADS_DIR": str(folder / "uploads"),
           **extra_env}
    _seed(env)
    cheap_demo_passwords(LiveServer("", env))  # the sign-ins at the test cost (tests/e2e/accounts.py)
    port = stack.free_port()
    with stack.Processes(folder, env) as procs:
        procs.start("server", "app.py", "serve", "--port", str(port), "--no-simulator")
        server = LiveServer(f"http://127.0.0.1:{port}", env)
        procs.until(lambda: (stack.healthz(server.url) or {}).get("status") == "ok",
                    "the server does not answer /healthz")
        yield server


@contextmanager
def _production_stack(folder: Path) -> Iterator[LiveServer]:
    """The production profile on a fresh PostgreSQL database (migrated, demo city seeded): gunicorn with two
    web workers on ``wsgi:server`` serving HTTPS (a self-signed certificate, as scripts/prod makes), one
    ``python app.py worker`` holding the scheduler lease and taking the MQTT feed from Mosquitto under a
    client id of its own; no demo mode."""
    with stack.fresh_database(stack.PG_URL, "cityops_e2e") as url:
        client_id = f"cityops-e2e-{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "CITYOPS_DATABASE_URL": url, "CITYOPS_SECRET_KEY": secrets.token_hex(32),
               "CITYOPS_LANG": "zh", "CITYOPS_UPLOADS_DIR": str(folder / "uploads"),
               "CITYOPS_REPORTS_DIR": str(folder / "reports"), "CITYOPS_MQTT_URL": stack.MQTT_URL,
               "CITYOPS_MQTT_CLIENT_ID": client_id}
        env.pop("CITYOPS_DEMO", None)
        _seed(env)
        if REPLICA:  # reads on the streaming replica of the cluster, once it holds the seeded city (issue 21)
            env["CITYOPS_DATABASE_READ_URL"] = _replica_of(url)
        try:
            with stack.production_stack(folder, env, web_workers=2, tls=True) as (base, _procs):
                yield LiveServer(base, env)
        finally:
            stack.discard_mqtt_session(stack.MQTT_URL, client_id)


def _replica_of(url: str) -> str:
    """``url`` (a database on the primary) on the replica at ``REPLICA``, after the replica has replayed
    what the seed wrote (it replicates the whole cluster, new databases included)."""
    replica = make_url(REPLICA)
    read_url = make_url(url).set(host=replica.host, port=replica.port).render_as_string(hide_password=False)
    primary, standby = (create_engine(make_url(u).set(drivername="postgresql+psycopg")) for u in (url, read_url))
    try:
        with primary.connect() as conn:
            written = conn.execute(text("SELECT pg_current_wal_lsn()")).scalar_one()

        def replayed() -> bool:
            try:
                with standby.connect() as conn:
                    return bool(conn.execute(text("SELECT pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"),
                                             {"lsn": written}).scalar_one())
            except DBAPIError:  # the new database not replayed yet
                return False

        if not stack.wait_for(replayed, timeout=60):
            raise RuntimeError(f"the replica at {REPLICA} does not catch up with the primary")
    finally:
        primary.dispose()
        standby.dispose()
    return read_url


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A real CityOps on a small seeded demo city (scale 0.05, demo passwords), scheduler on, simulator off:
    ``python app.py serve`` on SQLite, or the production stack with ``CITYOPS_TEST_STACK=production``."""
    folder = tmp_path_factory.mktemp("e2e")
    if STACK not in ("embedded", "production"):
        raise RuntimeError(f"CITYOPS_TEST_STACK must be embedded or production, not {STACK!r}")
    with (_production_stack if STACK == "production" else _embedded_server)(folder) as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("chromium is not installed: run scripts/services (apt-get install chromium)")
    with sync_playwright() as p:
        # the production stack serves HTTPS with a self-signed certificate (tests/stack.py)
        extra = ["--ignore-certificate-errors"] if STACK == "production" else []
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS + extra, headless=True)
        yield _TrustingBrowser(b) if STACK == "production" else b
        b.close()


class _TrustingBrowser:
    """The browser whose every context also trusts the stack's self-signed certificate in its own requests
    (``page.request``: the launch flag covers only what the pages load)."""

    def __init__(self, browser: object) -> None:
        self._browser = browser

    def new_context(self, **options: object) -> object:
        options.setdefault("ignore_https_errors", True)
        return self._browser.new_context(**options)

    def __getattr__(self, name: str) -> object:
        return getattr(self._browser, name)


@pytest.fixture
def page(browser) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="zh-CN")
    pg = context.new_page()
    yield pg
    context.close()


def login(page, server: LiveServer, username: str, password: str) -> None:
    """Sign in through the real login form."""
    page.goto(f"{server.url}/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()
    page.wait_for_load_state("domcontentloaded")
