"""``GET /api/v1/areas`` (DESIGN §4): the administrative areas of the city — city, districts, streets and
communities — as ``code, name, level, parent_code``, filtered by ``level`` and ``parent``. Any signed-in
user or bearer token may read them (names and codes of public administrative areas only)."""

from __future__ import annotations

from flask import Response, jsonify, request
from pydantic import BaseModel

from api.auth import current_db
from api.errors import ApiError
from api.registry import Param, choice_arg, operation
from data.areas import area_level, list_areas
from data.models import AreaLevel

LEVELS = tuple(level.value for level in AreaLevel)


class AreaOut(BaseModel):
    """One administrative area."""

    code: str
    name: str
    level: str
    parent_code: str | None


@operation("/areas", "GET", summary="List the administrative areas (city → district → street → community)",
           tag="areas", response=AreaOut, many=True, errors=(401, 404, 422),
           params=(Param("level", "city, district, street or community (comma-separated)"),
                   Param("parent", "only the areas directly under the area with this code")))
def get_areas() -> Response:
    levels = choice_arg("level", LEVELS)
    parent = (request.args.get("parent") or "").strip() or None
    with current_db().uow() as session:
        if parent is not None and area_level(session, parent) is None:
            raise ApiError(404, "not_found", f"no area {parent}")
        return jsonify(list_areas(session, levels=levels, parent=parent))
