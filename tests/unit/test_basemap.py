"""The city's own basemap (issue 16): MBTiles and PMTiles, raster and vector, imported with
``import basemap`` and served over HTTP under /tiles (tiles, style, glyphs, sprites) to signed-in users only,
with clear refusals for files that are no tile sets and nothing stored then."""

from __future__ import annotations

import gzip
import json
import sqlite3
from pathlib import Path

import mapbox_vector_tile
import pytest
from click.testing import CliRunner
from flask import Flask
from pmtiles.tile import TileType
from sqlalchemy import select

from api.auth import init_auth
from api.errors import register_error_handlers
from api.tiles import tiles_bp
from data.accounts import create_user, issue_token
from data.basemap import BasemapError, active_basemap, import_basemap, label_font, read_registry
from data.db import Database
from data.models import AuditLog
from geo.glyphs import decode_glyphs
from settings import get_settings
from tests.basemap_tiles import (
    mvt_tile,
    png_tile,
    tiles_around,
    vector_style,
    write_mbtiles,
    write_pmtiles,
    write_style,
)

#: A few tiles around a point of a Chinese city at zooms 10–12.
ADDRESSES = tiles_around(117.2, 31.8, (10, 11, 12))
FONT = label_font()
needs_font = pytest.mark.skipif(FONT is None, reason="no CJK font (fonts-noto-cjk) on this machine")


@pytest.fixture
def root(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "basemaps"
    monkeypatch.setenv("CITYOPS_BASEMAPS_DIR", str(folder))
    get_settings.cache_clear()  # settings read before this test (at collection) must not keep the default
    return folder


@pytest.fixture
def client(db: Database, root):
    """A test client of the /tiles blueprint behind the app's sign-in, and a bearer token of a worker."""
    server = Flask(__name__)
    server.secret_key = "test"
    init_auth(server, db)
    register_error_handlers(server)
    server.register_blueprint(tiles_bp)
    with db.uow() as s:
        token = issue_token(s, create_user(s, "w1", "worker"))
    test_client = server.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


def raster_tiles() -> dict[tuple[int, int, int], bytes]:
    return {address: png_tile(*address) for address in ADDRESSES}


def vector_tiles(*, gzipped: bool = True) -> dict[tuple[int, int, int], bytes]:
    return {address: mvt_tile(*address, gzipped=gzipped) for address in ADDRESSES}


# --- raster ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["mbtiles", "pmtiles"])
def test_a_raster_tile_set_is_served_tile_by_tile_with_its_cache_headers(client, root, tmp_path, container):
    tiles = raster_tiles()
    file = (write_mbtiles(tmp_path / "survey.mbtiles", tiles, "png") if container == "mbtiles"
            else write_pmtiles(tmp_path / "survey.pmtiles", tiles, TileType.PNG))
    entry = import_basemap(file, root=root)
    assert (entry["name"], entry["format"], entry["container"]) == ("survey", "png", container)
    assert (entry["minzoom"], entry["maxzoom"]) == (10, 12)
    assert active_basemap(root) == "survey"
    for (z, x, y), data in list(tiles.items())[::5]:
        answer = client.get(f"/tiles/survey/{z}/{x}/{y}")
        assert answer.status_code == 200
        assert answer.mimetype == "image/png"
        assert answer.data == data  # the right tile: MBTiles rows are TMS (y up), the URL is XYZ (y down)
        assert "max-age" in answer.headers["Cache-Control"] and answer.headers["ETag"]
    z, x, y = ADDRESSES[0]
    first = client.get(f"/tiles/survey/{z}/{x}/{y}.png")
    assert first.data == tiles[z, x, y]
    again = client.get(f"/tiles/survey/{z}/{x}/{y}", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and not again.data


def test_a_raster_basemap_without_a_style_gets_a_raster_style_on_this_host(client, root, tmp_path):
    import_basemap(write_mbtiles(tmp_path / "ortho.mbtiles", raster_tiles(), "jpg"), root=root, name="ortho")
    style = client.get("/tiles/ortho/style.json").get_json()
    assert style["version"] == 8
    assert style["sources"]["ortho"]["type"] == "raster"
    assert style["sources"]["ortho"]["tiles"] == ["http://localhost/tiles/ortho/{z}/{x}/{y}"]
    assert [layer["type"] for layer in style["layers"]] == ["raster"]


def test_bad_addresses_are_400_missing_tiles_and_basemaps_404_never_500(client, root, tmp_path):
    import_basemap(write_mbtiles(tmp_path / "survey.mbtiles", raster_tiles(), "png"), root=root)
    for path in ("/tiles/survey/a/1/1", "/tiles/survey/10/-1/3", "/tiles/survey/31/0/0", "/tiles/survey/2/4/0",
                 "/tiles/survey/2/0/4", "/tiles/survey/1/0/0x"):
        answer = client.get(path)
        assert answer.status_code == 400, path
        assert answer.get_json()["error"]["code"] == "bad_tile"
    assert client.get("/tiles/survey/3/1/1").status_code == 404  # a zoom the set does not hold
    assert client.get("/tiles/other/10/1/1").status_code == 404
    assert client.get("/tiles/other/style.json").status_code == 404
    assert client.get("/tiles/survey/sprite.png").status_code == 404  # the style had no sprite


def test_tiles_need_a_signed_in_user(client, root, tmp_path):
    import_basemap(write_mbtiles(tmp_path / "survey.mbtiles", raster_tiles(), "png"), root=root)
    z, x, y = ADDRESSES[0]
    for path in (f"/tiles/survey/{z}/{x}/{y}", "/tiles/survey/style.json", "/tiles/glyphs/Any/0-255.pbf"):
        anonymous = client.get(path, headers={"Authorization": ""})
        assert anonymous.status_code == 401, path  # a 401 (no redirect to the sign-in page), no tile
        assert anonymous.get_json()["error"]["code"] == "unauthorized"


# --- vector ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("container", ["mbtiles", "pmtiles"])
def test_gzipped_vector_tiles_go_out_as_stored_with_content_encoding(client, root, tmp_path, container):
    tiles = vector_tiles()
    file = (write_mbtiles(tmp_path / "city.mbtiles", tiles, "pbf") if container == "mbtiles"
            else write_pmtiles(tmp_path / "city.pmtiles", tiles, TileType.MVT, gzipped=True))
    style = write_style(tmp_path / "style.json", vector_style())
    entry = import_basemap(file, root=root, style=style, font=FONT)
    assert (entry["format"], entry["gzipped"], entry["style"]) == ("pbf", True, True)
    z, x, y = ADDRESSES[4]
    answer = client.get(f"/tiles/city/{z}/{x}/{y}", headers={"Accept-Encoding": "gzip, deflate"})
    assert answer.status_code == 200
    assert answer.mimetype == "application/x-protobuf"
    assert answer.headers["Content-Encoding"] == "gzip"
    assert answer.data == tiles[z, x, y]
    decoded = mapbox_vector_tile.decode(gzip.decompress(answer.data))
    assert {f["properties"]["name"] for f in decoded["place"]["features"]} == {"人民广场", "滨江路", "Harbour"}
    plain = client.get(f"/tiles/city/{z}/{x}/{y}", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    assert set(mapbox_vector_tile.decode(plain.data)) == {"water", "road", "place"}


def test_the_style_points_every_url_at_this_app_and_drops_what_it_cannot_serve(client, root, tmp_path):
    sprites = tmp_path / "styles"
    sprites.mkdir()
    (sprites / "icons.json").write_text(json.dumps({"dot": {"x": 0, "y": 0, "width": 4, "height": 4,
                                                             "pixelRatio": 1}}))
    (sprites / "icons.png").write_bytes(png_tile(0, 0, 0))
    style = write_style(sprites / "style.json", vector_style(sprite="https://sprites.example.invalid/icons"))
    import_basemap(write_mbtiles(tmp_path / "city.mbtiles", vector_tiles(), "pbf"), root=root, style=style,
                   font=FONT)
    served = client.get("/tiles/city/style.json")
    assert served.status_code == 200
    body = served.get_json()
    assert "example.invalid" not in served.get_data(as_text=True)  # no other host left anywhere
    assert body["sources"] == {"city": {"type": "vector", "tiles": ["http://localhost/tiles/city/{z}/{x}/{y}"],
                                        "minzoom": 10, "maxzoom": 12}}
    assert [layer["id"] for layer in body["layers"]] == ["bg", "water", "road", "place-icon", "place-label"]
    assert body["layers"][3]["layout"] == {"icon-image": "dot"}  # its sprite is served
    assert body["glyphs"] == "http://localhost/tiles/glyphs/{fontstack}/{range}.pbf"
    assert body["sprite"] == "http://localhost/tiles/city/sprite"
    assert client.get("/tiles/city/sprite.json").get_json()["dot"]["width"] == 4
    assert client.get("/tiles/city/sprite.png").data == png_tile(0, 0, 0)
    assert client.get("/tiles/city/sprite@2x.png").status_code == 404


@needs_font
def test_glyph_ranges_are_drawn_from_the_local_font_and_kept(client, root):
    latin = client.get("/tiles/glyphs/Noto Sans CJK SC Regular,Arial Unicode MS Regular/0-255.pbf")
    assert latin.status_code == 200 and latin.mimetype == "application/x-protobuf"
    glyphs = {g.id: g for g in decode_glyphs(latin.data).stacks[0].glyphs}
    a = glyphs[ord("A")]
    assert a.width > 5 and a.height > 10 and a.advance > 5
    assert len(a.bitmap) == (a.width + 6) * (a.height + 6)  # the 3-px buffer around the glyph
    assert max(a.bitmap) >= 192 > 64 > min(a.bitmap)  # inside the edge (cutoff 0.25 = 192) and outside
    assert ord(" ") in glyphs and not glyphs[ord(" ")].bitmap
    cjk = client.get("/tiles/glyphs/Noto Sans CJK SC Regular/19968-20223.pbf")
    stack = decode_glyphs(cjk.data).stacks[0]
    assert stack.range == "19968-20223"
    assert ord("人") in {g.id for g in stack.glyphs}
    assert (root / "glyphs" / "19968-20223.pbf").read_bytes() == cjk.data  # drawn once, then served from the file
    for bad in ("0-256", "1-256", "65536-65791", "a-b", "0"):
        answer = client.get(f"/tiles/glyphs/Any/{bad}.pbf")
        assert answer.status_code == 400, bad
        assert answer.get_json()["error"]["code"] == "bad_range"


# --- refusals ----------------------------------------------------------------------------------------


def test_files_that_are_no_tile_sets_are_refused_and_nothing_is_stored(root, tmp_path):
    text = tmp_path / "notes.mbtiles"
    text.write_text("this is not a tile set")
    other_db = tmp_path / "other.mbtiles"
    with sqlite3.connect(other_db) as db:
        db.execute("CREATE TABLE people (name TEXT)")
    empty = write_mbtiles(tmp_path / "empty.mbtiles", {(1, 0, 0): b"x"}, "png")
    with sqlite3.connect(empty) as db:
        db.execute("DELETE FROM tiles")
    broken_pmtiles = tmp_path / "broken.pmtiles"
    broken_pmtiles.write_bytes(b"PMTiles\x03" + b"\x00" * 20)
    vector = write_mbtiles(tmp_path / "vector.mbtiles", vector_tiles(), "pbf")
    not_a_style = write_style(tmp_path / "style.json", {"version": 7, "layers": []})
    raster_style = write_style(tmp_path / "raster.json", {"version": 8, "layers": [], "sources": {
        "ortho": {"type": "raster", "tiles": ["https://example.invalid/{z}/{x}/{y}.png"]}}})
    cases = [
        (text, None, "neither an MBTiles"),
        (other_db, None, "not an MBTiles file"),
        (empty, None, "holds no tiles"),
        (broken_pmtiles, None, "not a readable PMTiles"),
        (vector, None, "--style"),
        (vector, not_a_style, "not a MapLibre style"),
        (vector, raster_style, "has no vector source"),
        (tmp_path / "missing.pmtiles", None, "no such file"),
    ]
    for file, style, reason in cases:
        with pytest.raises(BasemapError, match=reason):
            import_basemap(file, root=root, style=style)
    assert not root.exists() or not any(root.iterdir())
    with pytest.raises(BasemapError, match="basemap name"):
        import_basemap(write_mbtiles(tmp_path / "x.mbtiles", raster_tiles(), "png"), root=root, name="glyphs")


def test_the_cli_imports_a_basemap_audits_it_and_refuses_a_bad_file(db, root, tmp_path, monkeypatch):
    import app

    monkeypatch.setenv("CITYOPS_DATABASE_URL", str(db.engine.url))
    runner = CliRunner()
    bad = tmp_path / "photo.mbtiles"
    bad.write_bytes(b"\xff\xd8\xff\xe0 a jpeg")
    refused = runner.invoke(app.cli, ["import", "basemap", str(bad)])
    assert refused.exit_code != 0
    assert "neither an MBTiles (SQLite) nor a PMTiles file; nothing was imported" in refused.output
    assert read_registry(root) == {"active": None, "basemaps": {}}
    file = write_pmtiles(tmp_path / "Bureau 2026.pmtiles", raster_tiles(), TileType.PNG)
    done = runner.invoke(app.cli, ["import", "basemap", str(file)])
    assert done.exit_code == 0, done.output
    assert "basemap bureau-2026: pmtiles png, zoom 10–12" in done.output
    renamed = runner.invoke(app.cli, ["import", "basemap", str(file), "--name", "ortho"])
    assert renamed.exit_code == 0, renamed.output
    assert set(read_registry(root)["basemaps"]) == {"bureau-2026", "ortho"}
    again = runner.invoke(app.cli, ["import", "basemap", str(write_mbtiles(tmp_path / "o.mbtiles", raster_tiles(),
                                                                          "png")), "--name", "ortho"])
    assert again.exit_code == 0, again.output
    assert sorted(p.name for p in root.iterdir() if p.suffix in (".mbtiles", ".pmtiles")) == [
        "bureau-2026.pmtiles", "ortho.mbtiles"]  # the replaced PMTiles is gone
    assert active_basemap(root) == "ortho"
    assert runner.invoke(app.cli, ["import", "areas", str(file), "--style", str(file)]).exit_code != 0
    assert runner.invoke(app.cli, ["import", "basemap", str(file), "--dry-run"]).exit_code != 0
    with db.uow() as s:
        rows = s.scalars(select(AuditLog).where(AuditLog.action == "basemap.import").order_by(AuditLog.id)).all()
        assert [row.target for row in rows] == ["basemap:bureau-2026", "basemap:ortho", "basemap:ortho"]
        assert rows[0].detail["container"] == "pmtiles"


# --- the city map ------------------------------------------------------------------------------------


def test_the_city_map_draws_an_imported_basemap_under_its_layers(root, tmp_path):
    from callbacks import mapkit
    from tests.unit.city_copies import seeded_template

    db = Database(f"sqlite:///{seeded_template(tmp_path, seed=4)}")
    server = Flask(__name__)
    server.extensions["cityops_db"] = db
    with server.test_request_context("/", base_url="http://screen.city.local:8050"):
        with db.uow() as s:
            before, _, _ = mapkit.build_map_figure(s)
        drawn = {layer.name for layer in before.layout.map.layers}
        assert {"water", "street", "boundary", "district_border"} <= drawn  # today's GeoJSON basemap
        assert not any("tiles" in source for source in before.layout.map.style["sources"].values())
        import_basemap(write_mbtiles(tmp_path / "city.mbtiles", vector_tiles(), "pbf"), root=root,
                       style=write_style(tmp_path / "style.json", vector_style()), font=FONT)
        with db.uow() as s:
            after, _, _ = mapkit.build_map_figure(s)
    db.dispose()
    style = after.layout.map.style
    assert style["sources"]["city"]["tiles"] == ["http://screen.city.local:8050/tiles/city/{z}/{x}/{y}"]
    assert style["glyphs"] == "http://screen.city.local:8050/tiles/glyphs/{fontstack}/{range}.pbf"
    assert "place-label" in [layer["id"] for layer in style["layers"]]  # the place names
    assert not any("icon-image" in layer.get("layout", {}) for layer in style["layers"])  # no sprite: no icons
    scatter = [trace for trace in after.data if trace.type == "scattermap"]
    assert scatter and all(trace.below == "" for trace in scatter)  # the points over the roads and labels
    assert all(trace.below is None for trace in before.data)
    drawn = {layer.name for layer in after.layout.map.layers}
    assert {"boundary", "district_border"} <= drawn and not drawn & {"water", "river", "street", "arterial"}
    assert len(after.data) == len(before.data)  # the data layers are all still drawn, over the tiles


def test_the_label_font_setting_and_no_font_at_all(client, root, tmp_path, monkeypatch):
    face = tmp_path / "fonts.ttc"
    face.write_bytes(b"not read here")
    assert label_font(f"{face}#2") == (str(face), 2)
    assert label_font(str(face)) == (str(face), 0)
    assert label_font(f"{face}#bold") is None
    assert label_font(str(tmp_path / "missing.ttf")) is None
    monkeypatch.setenv("CITYOPS_BASEMAP_FONT", str(tmp_path / "missing.ttf"))
    get_settings.cache_clear()
    answer = client.get("/tiles/glyphs/Any/256-511.pbf")
    assert answer.status_code == 404
    assert "CITYOPS_BASEMAP_FONT" in answer.get_json()["error"]["message"]
