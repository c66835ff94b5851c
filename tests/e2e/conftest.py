"""Browser-test fixtures: a real CityOps server (subprocess, seeded SQLite) and headless Debian Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-quic", "--no-first-run", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
]


@dataclass
class LiveServer:
    url: str
    env: dict[str, str]

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``python app.py ARGS`` against the server's database; returns stdout."""
        done = subprocess.run([sys.executable, "app.py", *args], cwd=ROOT, env=self.env, input=stdin,
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def live_server(tmp_path_factory) -> Iterator[LiveServer]:
    """``python app.py serve`` on a small seeded demo city, scheduler on, simulator off."""
    folder = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{folder / 'cityops.db'}", "CITYOPS_DEMO": "1",
           "CITYOPS_SECRET_KEY": "e2e-secret", "CITYOPS_LANG": "zh",
           "CITYOPS_UPLOADS_DIR": str(folder / "uploads")}
    port = _free_port()
    server = LiveServer(f"http://127.0.0.1:{port}", env)
    server.cli("seed", "--scale", "0.05")
    log = open(folder / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "app.py", "serve", "--port", str(port), "--no-simulator"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError((folder / "server.log").read_text()) from None
                time.sleep(0.3)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise RuntimeError("chromium is not installed: run scripts/services (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


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
