"""In a real headless Chromium: a vector basemap the test makes (MVT tiles in an MBTiles file, a MapLibre style
with place-name labels and remote URLs) is imported with ``python app.py import basemap``; the big screen draws
it under the data layers — its tiles, its glyphs and its labels from this server — and the page sends not one
request to another host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.basemap_tiles import mvt_tile, tiles_around, vector_style, write_mbtiles, write_style
from tests.e2e.conftest import LiveServer, _embedded_server, login

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

#: The demo city's centre (data/demo.py); the big screen opens on it at about zoom 11–12.
CENTRE = (117.02, 36.67)
SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


@pytest.fixture(scope="module")
def basemap_server(tmp_path_factory) -> Iterator[LiveServer]:
    """A server of its own (its basemaps folder is the test's), a vector basemap imported through the CLI."""
    folder = tmp_path_factory.mktemp("basemap")
    tiles = {address: mvt_tile(*address) for address in tiles_around(*CENTRE, range(9, 15), radius=3)}
    file = write_mbtiles(folder / "bureau.mbtiles", tiles, "pbf")
    style = write_style(folder / "style.json", vector_style())
    with _embedded_server(folder, CITYOPS_BASEMAPS_DIR=str(folder / "basemaps")) as server:
        out = server.cli("import", "basemap", str(file), "--style", str(style))
        assert "basemap bureau: mbtiles pbf" in out
        yield server


def test_the_big_screen_draws_the_city_basemap_with_labels_and_nothing_from_other_hosts(page, basemap_server):
    seen: list[tuple[str, int]] = []
    foreign: list[str] = []

    def record(response) -> None:
        seen.append((response.url, response.status))

    def watch(request) -> None:
        if request.url.startswith(("data:", "blob:")):
            return
        if urlsplit(request.url).hostname not in ("127.0.0.1", "localhost"):
            foreign.append(request.url)

    page.on("request", watch)
    page.on("response", record)
    login(page, basemap_server, "operator", "operator123")
    page.wait_for_selector("[data-testid=city-map] canvas", timeout=30_000)
    # MapLibre under Plotly: wait until the style's place-name layer has drawn labels of the tiles
    page.wait_for_function(
        "() => { const gd = document.querySelector('[data-testid=city-map] .js-plotly-plot');"
        " const sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;"
        " const map = sub && sub.map; if (!map || !map.getLayer('place-label')) return false;"
        " return map.queryRenderedFeatures({layers: ['place-label']}).length > 0; }", timeout=60_000)
    names = page.evaluate(
        "() => { const map = document.querySelector('[data-testid=city-map] .js-plotly-plot')"
        "._fullLayout.map._subplot.map;"
        " return map.queryRenderedFeatures({layers: ['place-label']}).map(f => f.properties.name); }")
    assert {"人民广场", "滨江路"} <= set(names)
    page.wait_for_function(  # and the data points, over it
        "() => { const map = document.querySelector('[data-testid=city-map] .js-plotly-plot')"
        "._fullLayout.map._subplot.map; const ids = map.getStyle().layers.map(l => l.id)"
        ".filter(id => id.startsWith('plotly-trace') && id.endsWith('-circle'));"
        " return ids.some(id => map.queryRenderedFeatures({layers: [id]}).length > 0); }", timeout=30_000)
    page.evaluate(  # the screenshot once MapLibre has painted all that and is idle
        "() => new Promise(done => { const map = document.querySelector('[data-testid=city-map] .js-plotly-plot')"
        "._fullLayout.map._subplot.map; map.once('idle', done); map.triggerRepaint(); })")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "bigscreen_basemap.png"))
    paths = [(urlsplit(url).path, status) for url, status in seen]
    tile_answers = [status for path, status in paths if path.startswith("/tiles/bureau/") and path.count("/") == 5]
    assert tile_answers and 200 in tile_answers, paths[-20:]
    glyphs = {path for path, status in paths if path.startswith("/tiles/glyphs/") and status == 200}
    assert any(path.endswith("/0-255.pbf") for path in glyphs), glyphs
    # (CJK ideographs MapLibre draws with the browser's own font — localIdeographFontFamily — asking for no
    # range; /tiles/glyphs serves those ranges too, for clients that ask: tests/unit/test_basemap.py)
    # the data points are drawn over the basemap and its labels (Plotly puts the grid fill just above the
    # style's water, under its roads and labels)
    order = page.evaluate(
        "() => document.querySelector('[data-testid=city-map] .js-plotly-plot')._fullLayout.map._subplot.map"
        ".getStyle().layers.map(l => l.id)")
    points = [i for i, name in enumerate(order) if name.startswith("plotly-trace") and name.endswith("-circle")]
    assert points and min(points) > order.index("place-label"), order
    assert foreign == [], f"requests left the machine: {foreign[:5]}"
