"""The production profile (README "Production profile", issue 8) as real processes for tests: a fresh
PostgreSQL database, gunicorn web workers on ``wsgi:server`` and exactly one ``python app.py worker``, as
``scripts/prod`` starts them, each logging to a file of its own, stopped together.

Used by ``tests/integration/test_production_profile.py`` (which starts the processes one at a time to
watch the scheduler lease) and by the browser tests' ``live_server`` under ``CITYOPS_TEST_STACK=production``
(``production_stack``, which starts them all and waits until they serve).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
import requests
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
#: The test PostgreSQL server (its database ``test``) and Mosquitto (scripts/services sets both up).
PG_URL = os.environ.get("CITYOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
MQTT_URL = os.environ.get("CITYOPS_TEST_MQTT", "mqtt://127.0.0.1:1883")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout: float = 10.0, step: float = 0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds have passed; returns its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def _admin_engine(server_url: str) -> Any:
    url = make_url(server_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return create_engine(url, isolation_level="AUTOCOMMIT")


@contextmanager
def fresh_database(server_url: str = PG_URL, prefix: str = "cityops_test") -> Iterator[str]:
    """A new, empty PostgreSQL database ``<prefix>_<random>`` on the server of ``server_url`` (whose own
    database only serves to connect), dropped afterwards with whatever is still connected to it. Yields
    its URL: ``server_url`` with the database name replaced. A whole database rather than a schema, so
    that the app runs in it as in production: default ``search_path``, PostGIS (where the migrations
    create it) in ``public``."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = _admin_engine(server_url)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def discard_mqtt_session(broker_url: str, client_id: str) -> None:
    """Make the broker forget the persistent session of ``client_id`` (connect once with a clean session)."""
    from alerts.mqtt import BrokerAddress

    broker = BrokerAddress.parse(broker_url)
    cleaner = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    if broker.username:
        cleaner.username_pw_set(broker.username, broker.password)
    cleaner.connect(broker.host, broker.port)
    cleaner.loop_start()
    cleaner.disconnect()
    cleaner.loop_stop()


def gunicorn_args(bind: str, workers: int, *options: str) -> list[str]:
    """``python`` arguments of the web tier as ``scripts/prod`` runs it: gunicorn with ``workers`` web
    workers on ``wsgi:server`` at ``bind`` (``options``: more gunicorn options, e.g. the access log)."""
    return ["-m", "gunicorn", "--workers", str(workers), "--bind", bind, *options, "wsgi:server"]


def tls_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost made by ``scripts/tls-cert`` (as ``scripts/prod``
    makes one) in ``folder``: ``(cert.pem, key.pem)``."""
    subprocess.run([str(ROOT / "scripts" / "tls-cert"), str(folder), "127.0.0.1", "localhost"], check=True,
                   capture_output=True, text=True, timeout=60)
    return folder / "cert.pem", folder / "key.pem"


@contextmanager
def trusting(cert: Path) -> Iterator[None]:
    """This process's HTTPS clients (urllib, requests) trust ``cert`` (and only it) inside the block."""
    names = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
    before = {name: os.environ.get(name) for name in names}
    os.environ.update({name: str(cert) for name in names})
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def healthz(base: str) -> dict[str, Any] | None:
    """The answer of ``GET base/healthz``, or None while nothing answers."""
    try:
        return requests.get(f"{base}/healthz", timeout=5).json()
    except (requests.RequestException, ValueError):
        return None


class Processes:
    """Named ``python`` subprocesses of the repository with one environment, each logging to
    ``folder/<name>.log`` (or piping its output); ``stop`` (and leaving the ``with`` block) ends them all."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.env = dict(env)
        self.procs: dict[str, subprocess.Popen] = {}
        self._files: list[IO[str]] = []

    def start(self, name: str, *args: str, pipe: bool = False) -> subprocess.Popen:
        """Start ``python ARGS`` in the repository as ``name``."""
        if pipe:
            out: Any = subprocess.PIPE
        else:
            out = (self.folder / f"{name}.log").open("w")
            self._files.append(out)
        self.procs[name] = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, text=True)
        return self.procs[name]

    def ended(self, *ignore: str) -> list[str]:
        """The names of the processes that have ended, except ``ignore``."""
        return [name for name, proc in self.procs.items() if name not in ignore and proc.poll() is not None]

    def logs(self, tail: int = 3000) -> str:
        """The end of every log file, for a failure message."""
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-tail:]}"
                         for path in sorted(self.folder.glob("*.log")))

    def until(self, condition: Callable[[], object], what: str, timeout: float = 60,
              ignore: tuple[str, ...] = ()) -> None:
        """Wait for ``condition``; fail with ``what`` and the logs if it does not come or a process (but
        those named in ``ignore``) ends meanwhile."""
        came = wait_for(lambda: self.ended(*ignore) or condition(), timeout, step=0.2)
        if not came or self.ended(*ignore):
            raise AssertionError(f"{what} (ended: {self.ended(*ignore) or 'none'})\n{self.logs()}")

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to every process still running, then wait (SIGKILL after ``timeout`` seconds)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            if proc.stdout is not None:
                proc.stdout.close()
        for out in self._files:
            out.close()
        self._files.clear()

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@contextmanager
def production_stack(folder: Path, env: Mapping[str, str], *, web_workers: int = 2, timeout: float = 90,
                     tls: bool = False) -> Iterator[tuple[str, Processes]]:
    """One ``python app.py worker`` and gunicorn with ``web_workers`` web workers (access log in
    ``gunicorn.log``, no control socket) on a free port, with ``env`` (a migrated database at
    ``CITYOPS_DATABASE_URL``, ``CITYOPS_SECRET_KEY``); yields the base URL and the processes once
    ``/healthz`` is ok and the worker holds the scheduler lease. Stops them all afterwards.

    With ``tls`` gunicorn serves HTTPS with a self-signed certificate (as ``scripts/prod`` without the
    city's certificate), ``CITYOPS_HTTPS=1``, and this process trusts the certificate meanwhile."""
    port = free_port()
    options = ["--access-logfile", "-", "--no-control-socket"]
    trust: AbstractContextManager[None] = nullcontext()
    if tls:
        cert, key = tls_certificate(folder / "tls")
        options += ["--certfile", str(cert), "--keyfile", str(key)]
        env = {**env, "CITYOPS_HTTPS": "1"}
        trust = trusting(cert)
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    with trust, Processes(folder, env) as procs:
        procs.start("worker", "app.py", "worker")
        procs.start("gunicorn", *gunicorn_args(f"127.0.0.1:{port}", web_workers, *options))
        up = {"status": "ok", "db": "ok", "scheduler": "running"}  # (and the replica's lag, with one)
        procs.until(lambda: (healthz(base) or {}).items() >= up.items(),
                    f"the production stack at {base} is not up with a running scheduler", timeout)
        yield base, procs
