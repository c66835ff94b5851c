"""HTTPS in the production profile (issue 14): ``scripts/prod`` itself, with a certificate given as the
city's (CITYOPS_TLS_CERT / CITYOPS_TLS_KEY, here one made by ``scripts/tls-cert``), serves exactly that
certificate, answers only over TLS, sends HSTS and the security headers, and signs sessions in with Secure
cookies. A half-given or unreadable certificate stops it with one clear line before anything starts."""

from __future__ import annotations

import os
import secrets
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
import requests

from data.accounts import create_user
from data.db import Database
from tests.stack import ROOT, free_port, healthz, tls_certificate, trusting, wait_for
from tests.unit.test_dispatch_service import make_city

pytestmark = pytest.mark.integration

USER, PASSWORD = "tls-admin", "tls-profile-password"


def _env(db_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "CITYOPS_DATABASE_URL": db_url, "CITYOPS_SECRET_KEY": secrets.token_hex(16),
           "CITYOPS_MQTT_URL": "", "CITYOPS_WEB_WORKERS": "1", "CITYOPS_REPORTS_DIR": str(tmp_path / "reports"),
           "CITYOPS_UPLOADS_DIR": str(tmp_path / "uploads"), **extra}
    for name in ("CITYOPS_DEMO", "CITYOPS_TLS", "CITYOPS_HTTPS"):
        env.pop(name, None)
    return env


@pytest.mark.parametrize(("given", "says"), [
    ({"CITYOPS_TLS_CERT": "{cert}"}, "set both CITYOPS_TLS_CERT and CITYOPS_TLS_KEY"),
    ({"CITYOPS_TLS_CERT": "{tmp}/missing.pem", "CITYOPS_TLS_KEY": "{key}"}, "cannot read the TLS certificate"),
    ({"CITYOPS_TLS_CERT": "{key}", "CITYOPS_TLS_KEY": "{key}"}, "is not a PEM certificate"),
    ({"CITYOPS_TLS_CERT": "{cert}", "CITYOPS_TLS_KEY": "{cert}"}, "is not a PEM private key"),
])
def test_a_bad_certificate_setting_stops_scripts_prod_with_one_clear_line(tmp_path, given, says):
    cert, key = tls_certificate(tmp_path / "tls")
    extra = {name: value.format(cert=cert, key=key, tmp=tmp_path) for name, value in given.items()}
    done = subprocess.run([str(ROOT / "scripts" / "prod")], cwd=ROOT, env=_env("postgresql://x@127.0.0.1/x", tmp_path,
                                                                            **extra),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and says in done.stderr, done.stderr


def test_scripts_prod_serves_https_with_the_city_certificate(pg_db: Database, tmp_path):
    with pg_db.uow() as s:
        make_city(s)  # a city already there: scripts/prod seeds no demo city
        create_user(s, USER, "admin", password=PASSWORD)
    cert, key = tls_certificate(tmp_path / "city-tls")
    port = free_port()
    base = f"https://127.0.0.1:{port}"
    env = _env(str(pg_db.url), tmp_path, CITYOPS_TLS_CERT=str(cert), CITYOPS_TLS_KEY=str(key),
               CITYOPS_HOST="127.0.0.1", CITYOPS_PORT=str(port))
    log = (tmp_path / "prod.log").open("w")
    prod = subprocess.Popen([str(ROOT / "scripts" / "prod")], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        with trusting(cert):
            up = wait_for(lambda: prod.poll() is not None or (healthz(base) or {}).get("scheduler") == "running",
                          timeout=120, step=0.5)
            assert up and prod.poll() is None, (tmp_path / "prod.log").read_text()[-3000:]
            served = ssl.get_server_certificate(("127.0.0.1", port))
            assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(cert.read_text())

            page = requests.get(f"{base}/login", timeout=10)
            assert page.status_code == 200
            assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
            assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
            assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
            login = requests.post(f"{base}/login", data={"username": USER, "password": PASSWORD},
                                  allow_redirects=False, timeout=10)
            assert login.status_code == 302
            assert "Secure" in login.headers["Set-Cookie"] and "HttpOnly" in login.headers["Set-Cookie"]
            assert requests.get(f"{base}/api/v1/kpi", cookies=login.cookies.get_dict(), timeout=30).status_code == 200
        with pytest.raises(requests.ConnectionError):  # the port speaks TLS only
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
    finally:
        if prod.poll() is None:
            os.kill(prod.pid, signal.SIGTERM)
        prod.wait(timeout=60)
        log.close()
    assert prod.returncode == 143, (tmp_path / "prod.log").read_text()[-3000:]
