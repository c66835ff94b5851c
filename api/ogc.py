"""OGC API – Features Part 1 (Core, GeoJSON) under /ogc (DESIGN §4): the city's layers for GIS tools
(QGIS, ArcGIS, GDAL's OAPIF driver) — landing page, its OpenAPI 3.0 definition (/ogc/api), conformance,
collections, paged items, single items.

Access is the layers API's: a bearer token (or a session) of a role that sees the big-screen map
(``api.layers.LAYER_ROLES``); incidents follow the scope rule of ``/api/v1/incidents``
(``dispatch.service.visible_to``) and only open ones with public fields are served. No personal data:
doorplates carry no contacts nor household figures, cameras no stream URLs.

Paging: ``limit`` (default 10, at most 10,000; more is read as 10,000, as Part 1 asks) and ``offset``.
The ``next`` link also carries ``after``, the last feature's key, and the query then starts after that key
on the primary-key index (keyset paging), so every page of a 118,000-doorplate read costs the same;
``offset`` alone (a hand-written URL) skips rows on the same index. Errors are OGC exceptions
``{"code", "description"}`` with 400/401/403/404/406, never a 500 for bad input.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from api.auth import current_db
from api.errors import ApiError
from api.layers import LAYER_ROLES, parse_bbox
from api.registry import actor
from data.models import utcnow
from dispatch.features import COLLECTIONS, Bbox, Collection

log = logging.getLogger(__name__)
ogc_bp = Blueprint("ogc", __name__, url_prefix="/ogc")

DEFAULT_LIMIT = 10
MAX_LIMIT = 10_000
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)
JSON, GEOJSON = "application/json", "application/geo+json"
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.0"
#: Query parameters each resource understands (Part 1: an unknown one is a 400).
ITEMS_PARAMS = frozenset({"f", "limit", "bbox", "offset", "after"})
OTHER_PARAMS = frozenset({"f"})
FORMATS = frozenset({"json", "geojson"})



class OgcError(Exception):
    """An OGC API exception: HTTP ``status``, an OGC/OWS ``code``, an English ``description``."""

    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description


def _exception(status: int, code: str, description: str) -> Response:
    response = jsonify({"code": code, "description": description, "status": status})
    response.status_code = status
    return response


@ogc_bp.errorhandler(OgcError)
def _ogc_error(exc: OgcError) -> Response:
    return _exception(exc.status, exc.code, exc.description)


@ogc_bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    status = exc.code or 500
    return _exception(status, exc.name.replace(" ", ""), exc.description or exc.name)


@ogc_bp.errorhandler(Exception)
def _server_error(exc: Exception) -> Response:
    log.exception("unhandled error on %s", request.full_path, exc_info=exc)
    return _exception(500, "ServerError", "the server failed; the error was logged")


# --- request checks -------------------------------------------------------------------------------


@ogc_bp.before_request
def _check_request() -> None:
    """Sign-in and role as the layers API; then the query parameters and the wanted format."""
    if not current_user.is_authenticated:
        raise OgcError(401, "Unauthorized", "send a valid bearer token or sign in")
    if current_user.role not in LAYER_ROLES:
        raise OgcError(403, "Forbidden", f"role {current_user.role!r} may not read the layers")
    if request.url_rule is None:
        return
    known = ITEMS_PARAMS if request.endpoint == "ogc.items" else OTHER_PARAMS
    unknown = sorted(set(request.args) - known)
    if unknown:
        raise OgcError(400, "InvalidParameterValue", f"unknown query parameter {unknown[0]!r}")
    wanted = request.args.get("f")
    if wanted is not None and wanted not in FORMATS:
        raise OgcError(400, "InvalidParameterValue", "f must be json (the only encoding served)")
    if request.accept_mimetypes and not request.accept_mimetypes.best_match([JSON, GEOJSON, OPENAPI_TYPE]):
        raise OgcError(406, "NotAcceptable", "only application/json and application/geo+json are served")


def _collection(collection_id: str) -> Collection:
    collection = COLLECTIONS.get(collection_id)
    if collection is None:
        raise OgcError(404, "NotFound", f"no collection {collection_id!r}; see /ogc/collections")
    return collection


def natural(raw: str | None) -> int | None:
    """``raw`` as a whole number when it is one (ASCII digits, at most 18 of them: within 64 bits), else None."""
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _limit() -> int:
    raw = request.args.get("limit", "")
    if raw == "":
        return DEFAULT_LIMIT
    significant = raw.lstrip("0")
    if not (raw.isascii() and raw.isdigit()) or not significant:
        raise OgcError(400, "InvalidParameterValue", f"limit must be an integer from 1 to {MAX_LIMIT}")
    # Part 1: a limit above the maximum is no error, the maximum applies (however many digits it has)
    return MAX_LIMIT if len(significant) > len(str(MAX_LIMIT)) else min(int(significant), MAX_LIMIT)


def _offset() -> int:
    offset = natural(request.args.get("offset", "0"))
    if offset is None:
        raise OgcError(400, "InvalidParameterValue", "offset must be a non-negative integer")
    return offset


def _bbox() -> Bbox | None:
    raw = request.args.get("bbox")
    if raw is None:
        return None
    parts = raw.split(",")
    if not raw.strip():
        raise OgcError(400, "InvalidParameterValue", "bbox is empty: give minlon,minlat,maxlon,maxlat")
    if len(parts) == 6:  # with heights: a city is flat, the vertical bounds are not needed
        parts = [parts[0], parts[1], parts[3], parts[4]]
    try:
        return parse_bbox(",".join(parts))
    except ApiError as exc:
        raise OgcError(400, "InvalidParameterValue", f"{exc.message} (or six with heights)") from None


def _after(collection: Collection) -> Any:
    raw = request.args.get("after")
    if raw is None:
        return None
    if not collection.integer_keys:
        return raw
    after = natural(raw)
    if after is None:
        raise OgcError(400, "InvalidParameterValue", "after must be the integer id of a feature")
    return after


# --- resources ------------------------------------------------------------------------------------


def _url(endpoint: str, **values: Any) -> str:
    return url_for(endpoint, _external=True, **values)


def _link(href: str, rel: str, kind: str = JSON, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": kind}
    return {**link, "title": title} if title else link


def _answer(body: dict[str, Any], kind: str = JSON) -> Response:
    response = jsonify(body)
    response.content_type = kind
    return response


@ogc_bp.get("", strict_slashes=False)
def landing() -> Response:
    """The landing page: what this service is and where its parts are."""
    return _answer({
        "title": "CityOps layers (OGC API – Features)",
        "description": "The city's places, devices and open incidents for GIS tools.",
        "links": [
            _link(_url("ogc.landing"), "self", title="this document"),
            _link(_url("ogc.api_definition"), "service-desc", OPENAPI_TYPE, "the definition of this API"),
            _link(_url("ogc.conformance"), "conformance", title="conformance classes"),
            _link(_url("ogc.collections"), "data", title="the collections"),
        ],
    })


def _openapi() -> dict[str, Any]:
    """The OpenAPI 3.0 definition of /ogc (Part 1's oas30 conformance class)."""
    def param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
        return {"name": name, "in": where, "required": where == "path", "schema": schema,
                "description": description, **({"style": "form", "explode": False} if name == "bbox" else {})}

    def answer(description: str, kind: str = JSON) -> dict[str, Any]:
        return {"description": description, "content": {kind: {"schema": {"type": "object"}}}}

    failures = {str(code): answer(text) for code, text in (
        (400, "bad parameter"), (401, "no valid bearer token"), (403, "role may not read the layers"),
        (404, "no such collection or feature"), (406, "only JSON is served"))}
    collection = param("collectionId", "path", {"type": "string", "enum": list(COLLECTIONS)}, "collection id")
    fmt = param("f", "query", {"type": "string", "enum": sorted(FORMATS)}, "the encoding (JSON only)")

    def get(summary: str, params: list[dict[str, Any]], kind: str = JSON) -> dict[str, Any]:
        return {"get": {"summary": summary, "parameters": [*params, fmt],
                        "responses": {"200": answer(summary, kind), **failures}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "CityOps layers (OGC API – Features)", "version": "1.0.0"},
        "servers": [{"url": _url("ogc.landing").rstrip("/")}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {
            "/": get("The landing page", []),
            "/conformance": get("The conformance classes", []),
            "/collections": get("The collections", []),
            "/collections/{collectionId}": get("One collection", [collection]),
            "/collections/{collectionId}/items": get("A page of features", [
                collection,
                param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                         "default": DEFAULT_LIMIT}, "features per page"),
                param("bbox", "query", {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number"}},
                      "minlon,minlat,maxlon,maxlat (CRS84)"),
                param("offset", "query", {"type": "integer", "minimum": 0}, "features to skip"),
                param("after", "query", {"type": "string"}, "the id after which the page starts (next links)"),
            ], GEOJSON),
            "/collections/{collectionId}/items/{featureId}": get("One feature", [
                collection, param("featureId", "path", {"type": "string"}, "feature id")], GEOJSON),
        },
    }


@ogc_bp.get("/api")
def api_definition() -> Response:
    return _answer(_openapi(), OPENAPI_TYPE)


@ogc_bp.get("/conformance")
def conformance() -> Response:
    return _answer({"conformsTo": list(CONFORMANCE)})


def _describe(session: Session, collection: Collection) -> dict[str, Any]:
    items = _url("ogc.items", collection_id=collection.id)
    body: dict[str, Any] = {
        "id": collection.id, "title": collection.title, "description": collection.description,
        "itemType": "feature", "crs": [CRS84],
        "links": [_link(_url("ogc.collection", collection_id=collection.id), "self"),
                  _link(items, "items", GEOJSON, f"{collection.title} as GeoJSON")],
    }
    box = collection.extent(session, actor())
    if box is not None:
        body["extent"] = {"spatial": {"bbox": [box], "crs": CRS84}}
    return body


@ogc_bp.get("/collections")
def collections() -> Response:
    with current_db().read_uow() as session:
        described = [_describe(session, c) for c in COLLECTIONS.values()]
    return _answer({"links": [_link(_url("ogc.collections"), "self")], "collections": described})


@ogc_bp.get("/collections/<collection_id>")
def collection(collection_id: str) -> Response:
    found = _collection(collection_id)
    with current_db().read_uow() as session:
        return _answer(_describe(session, found))


def _page_url(collection: Collection, **values: Any) -> str:
    return _url("ogc.items", collection_id=collection.id, **{k: v for k, v in values.items() if v is not None})


@ogc_bp.get("/collections/<collection_id>/items")
def items(collection_id: str) -> Response:
    """A page of features: ``limit``, ``bbox``, ``offset`` (and ``after`` from a ``next`` link)."""
    found = _collection(collection_id)
    limit, offset, bbox, after = _limit(), _offset(), _bbox(), _after(found)
    with current_db().read_uow() as session:
        matched, features = found.page(session, actor(), bbox, limit=limit, offset=offset, after=after)
    raw_bbox = request.args.get("bbox")
    links = [_link(_page_url(found, limit=limit, offset=offset or None, bbox=raw_bbox, after=after), "self",
                   GEOJSON, "this page"),
             _link(_url("ogc.collection", collection_id=found.id), "collection", JSON, "the collection")]
    if features and offset + len(features) < matched:
        links.append(_link(_page_url(found, limit=limit, offset=offset + len(features), bbox=raw_bbox,
                                     after=features[-1]["id"]), "next", GEOJSON, "the next page"))
    if offset > 0 and after is None:
        links.append(_link(_page_url(found, limit=limit, offset=max(offset - limit, 0) or None, bbox=raw_bbox),
                           "prev", GEOJSON, "the previous page"))
    return _answer({"type": "FeatureCollection", "features": features, "numberMatched": matched,
                    "numberReturned": len(features), "timeStamp": utcnow().isoformat().replace("+00:00", "Z"),
                    "links": links}, GEOJSON)


@ogc_bp.get("/collections/<collection_id>/items/<fid>")
def item(collection_id: str, fid: str) -> Response:
    found = _collection(collection_id)
    key: Any = natural(fid) if found.integer_keys else fid
    with current_db().read_uow() as session:
        feature = found.feature(session, actor(), key)
    if feature is None:
        raise OgcError(404, "NotFound", f"no feature {fid!r} in {found.id!r}")
    feature["links"] = [_link(_url("ogc.item", collection_id=found.id, fid=fid), "self", GEOJSON),
                        _link(_url("ogc.collection", collection_id=found.id), "collection")]
    return _answer(feature, GEOJSON)


@ogc_bp.route("/<path:rest>")
def unknown(rest: str) -> Response:
    """Anything else under /ogc: an OGC 404 (not the web app's page)."""
    raise OgcError(404, "NotFound", f"no resource /ogc/{rest}")
