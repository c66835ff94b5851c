"""The title-bar clock shows the time in the display zone (``CITYOPS_TZ``) in the interface language: the page
carries both, and ``assets/clock.js`` formats with them whatever zone the browser's machine is in."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, session

from layouts import ids
from layouts.shell import shell
from settings import get_settings

CLOCK_JS = Path(__file__).resolve().parents[2] / "assets" / "clock.js"
NODE = shutil.which("node")


@pytest.fixture
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("CITYOPS_TZ", "Europe/Berlin")
    get_settings.cache_clear()
    yield "Europe/Berlin"
    get_settings.cache_clear()


def _find(component: Any, component_id: str) -> Any:
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if child is not None and not isinstance(child, str) and (found := _find(child, component_id)) is not None:
            return found
    return None


@pytest.mark.parametrize(("lang", "locale"), [("zh", "zh-CN"), ("en", "en-US")])
def test_the_clock_carries_the_display_zone_and_the_interface_language(zone, lang, locale):
    server = Flask(__name__)
    server.secret_key = "test"
    with server.test_request_context("/"):
        session["lang"] = lang
        frame = shell(username="u", role="operator", lang=lang, nav=[], page_container=None)
    clock = _find(frame, ids.SHELL_CLOCK)
    attributes = clock.to_plotly_json()["props"]
    assert attributes["data-tz"] == zone and attributes["data-lang"] == locale


def _clock_text(lang: str, tz: str, utc_iso: str, machine_zone: str) -> str:
    script = f"console.log(require({json.dumps(str(CLOCK_JS))}).clockText({json.dumps(lang)}, {json.dumps(tz)}, " \
             f"new Date({json.dumps(utc_iso)})))"
    done = subprocess.run([NODE, "-e", script], capture_output=True, text=True, check=True, timeout=30,
                          env={**os.environ, "TZ": machine_zone})
    return done.stdout.strip()


@pytest.mark.skipif(NODE is None, reason="node is not installed")
def test_the_clock_formats_in_the_given_zone_and_language_not_the_machines():
    # 06:00:05 UTC is 14:00:05 in Beijing and 01:00:05 in New York, whatever the machine's own zone
    assert _clock_text("zh-CN", "Asia/Shanghai", "2026-12-06T06:00:05Z", "America/Los_Angeles") \
        == "2026年12月6日 14:00:05"
    assert _clock_text("en-US", "America/New_York", "2026-12-06T06:00:05Z", "Asia/Shanghai") \
        == "Dec 6, 2026, 01:00:05"
