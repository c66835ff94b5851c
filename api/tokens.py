"""API tokens under /api/v1/tokens: list them (an admin all, others their own) and revoke one.

A token is shown once, when it is issued (``python app.py users token NAME`` or the tokens panel of
/admin; an Open311 key by ``python app.py open311-key NAME``); only its SHA-256 hash is stored, so
neither route can show it again. Open311 keys belong to no user: an admin lists and revokes them. A revoked token stops
working at once: every request looks its hash up among the tokens not revoked.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from pydantic import BaseModel, Field

from api.auth import current_db
from api.errors import ApiError
from api.registry import Param, actor, operation
from data.accounts import TokenKind, TokenNotFound, list_tokens, revoke_token
from data.models import ApiToken
from dispatch.service import to_iso

TOKEN_ID = Param("token_id", "token id", "integer", "path")


class TokenOut(BaseModel):
    """An API token as listed (never the token itself, nor its hash)."""

    id: int
    kind: str = Field(description="api (acts as its user) or open311 (an Open311 client application's api_key)")
    user_id: int | None = Field(description="the owner; null for an Open311 key")
    user: str | None = Field(description="the user name of the token's owner; null for an Open311 key")
    client: str | None = Field(description="the Open311 client application an Open311 key was issued to")
    created_at: str
    last_used_at: str | None
    revoked_at: str | None
    active: bool = Field(description="false once revoked")


def token_to_dict(row: ApiToken) -> dict[str, Any]:
    """The API representation of a token."""
    return {"id": row.id, "kind": row.kind, "user_id": row.user_id,
            "user": row.user.username if row.user is not None else None, "client": row.client,
            "created_at": to_iso(row.created_at),
            "last_used_at": to_iso(row.last_used_at), "revoked_at": to_iso(row.revoked_at),
            "active": row.revoked_at is None}


@operation("/tokens", "GET", summary="API tokens: all for an admin, one's own for everyone else", tag="tokens",
           response=TokenOut, many=True, errors=(401,))
def get_tokens() -> Response:
    with current_db().uow() as session:
        return jsonify([token_to_dict(row) for row in list_tokens(session, actor(), kinds=tuple(TokenKind))])


@operation("/tokens/<int:token_id>", "DELETE", summary="Revoke an API token now (an admin any, others their own)",
           tag="tokens", response=TokenOut, params=(TOKEN_ID,), errors=(401, 404))
def delete_token(token_id: int) -> Response:
    with current_db().uow() as session:
        try:
            row = revoke_token(session, token_id, actor())
        except TokenNotFound:
            raise ApiError(404, "token_not_found", f"no token {token_id}") from None
        return jsonify(token_to_dict(row))
