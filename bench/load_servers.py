"""The servers under ``bench_load.py`` (issue 21): the embedded default and the production profile.

- ``embedded``: ``python app.py serve`` (one process: waitress, the scheduler and the simulator) on a SQLite
  city, as ``python app.py`` runs.
- ``production``: what ``scripts/prod`` starts, with TLS off (``CITYOPS_TLS=off``): one ``python app.py
  worker`` (the scheduler; no simulator, no MQTT feed here) and ``gunicorn --workers N wsgi:server`` with
  the same options as the script, on a PostgreSQL city. The processes are started directly rather than
  through the script so that the bench picks its own port and control socket (``var/gunicorn.ctl`` is one
  path per checkout) and needs no ``scripts/setup`` run; the city is a fresh copy (``CREATE DATABASE …
  TEMPLATE``) of a seeded one, dropped at the end.

Both count the CPU time of every process they started (gunicorn's master and workers, the scheduler
worker) and, on PostgreSQL, of the database's backends (``pg_stat_activity``), so that the figure is the
whole server's cost and not one process's.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

ROOT = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid: int, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (plus its reaped children's when ``children``); 0 once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / TICK


def proc_rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0.0


def descendants(root: int) -> list[int]:
    """``root`` and every process below it (from /proc's parent ids)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(parents.get(pid, []))
    return found


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far (/proc/stat), for the machine's CPU share."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Usage:
    """What the server's processes used in a window: CPU seconds by part, RSS at the end (MB, summed)."""

    cpu: dict[str, float]
    rss_mb: float


@dataclass
class Server:
    """The app under test on ``port``: ``start()``, ``snapshot()`` CPU, ``stop()``."""

    profile: str
    url: str
    env: dict[str, str]
    logdir: Path
    web_workers: int = 3
    web_threads: int = 1
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=600)
        if done.returncode:
            raise RuntimeError(f"app.py {' '.join(args)}: exit {done.returncode}: {done.stderr[-2000:]}")
        return done.stdout

    def _spawn(self, name: str, argv: list[str]) -> None:
        with (self.logdir / f"{name}.log").open("w") as out:
            self.procs[name] = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def start(self) -> None:
        port = self.url.rsplit(":", 1)[1]
        if self.profile == "embedded":
            self._spawn("serve", [sys.executable, "app.py", "serve", "--port", port])
        else:  # the processes of scripts/prod (TLS off), each with its own log
            self._spawn("worker", [sys.executable, "app.py", "worker"])
            threads = ["--threads", str(self.web_threads)] if self.web_threads > 1 else []  # gthread workers
            self._spawn("gunicorn", [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(self.web_workers),
                                     *threads, "--bind", f"127.0.0.1:{port}", "--access-logfile", "-",
                                     "--control-socket", str(self.logdir / "gunicorn.ctl"), "wsgi:server"])
        deadline = time.monotonic() + 180
        while True:
            try:
                health = requests.get(f"{self.url}/healthz", timeout=2)
                if health.ok and (self.profile == "embedded" or health.json().get("scheduler") == "running"):
                    return
            except requests.RequestException:
                pass
            ended = [name for name, proc in self.procs.items() if proc.poll() is not None]
            if ended or time.monotonic() > deadline:
                raise RuntimeError(f"{ended or 'timeout'}: {self.log_text()[-3000:]}")
            time.sleep(0.5)

    def log_text(self) -> str:
        return "".join((self.logdir / f"{name}.log").read_text(errors="replace") for name in self.procs)

    def _pg_backends(self) -> list[int]:
        with psycopg.connect(self.env["CITYOPS_DATABASE_URL"], autocommit=True) as conn:
            return [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")]

    def snapshot(self) -> dict[str, dict[int, float]]:
        """CPU seconds so far of every process, by part (``web``, ``worker``, ``postgres``), keyed by pid."""
        parts: dict[str, dict[int, float]] = {}
        for name, proc in self.procs.items():
            part = "worker" if name == "worker" else "web"
            tree = descendants(proc.pid)
            parts.setdefault(part, {}).update(
                {pid: proc_cpu_seconds(pid, children=pid == proc.pid) for pid in tree})
        if self.env["CITYOPS_DATABASE_URL"].startswith("postgresql"):
            parts["postgres"] = {pid: proc_cpu_seconds(pid) for pid in self._pg_backends()}
        return parts

    def usage(self, before: dict[str, dict[int, float]]) -> Usage:
        """CPU used since ``before`` (a process started since counts whole; one ended since is lost) and RSS."""
        after = self.snapshot()
        cpu = {part: sum(seconds - before.get(part, {}).get(pid, 0.0) for pid, seconds in pids.items())
               for part, pids in after.items()}
        rss = sum(proc_rss_mb(pid) for part in ("web", "worker") for pid in after.get(part, {}))
        return Usage(cpu, rss)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


# --- PostgreSQL cities --------------------------------------------------------------------------


def pg_admin(server: str, sql: str) -> None:
    """Run one statement on the server's maintenance database (``server``: ``postgresql://user@host:port``)."""
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def pg_copy(server: str, template: str, name: str) -> str:
    """A fresh database ``name``, a copy of ``template``; its SQLAlchemy URL."""
    pg_admin(server, f'DROP DATABASE IF EXISTS "{name}"')
    pg_admin(server, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return f"{server}/{name}"


def pg_drop(server: str, name: str) -> None:
    pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
