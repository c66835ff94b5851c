"""The page router behind the access guard (issue 14, finding 8): every role × every page × every way to
spell its path in the router callback (``_pages_content``). Dash's router strips slashes (``//admin`` is
``admin``) and reads its inputs by position (a ``search`` input sent first is its pathname), so whatever a
request says, the layout it gets back holds components of pages its role may open only."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from api.auth import PAGE_PATHS, allowed, page_of_component
from data.accounts import create_user
from data.models import Role
from settings import Settings

ROLES = [r.value for r in Role]
ROUTER = ".._pages_content.children..._pages_store.data.."


@pytest.fixture(scope="module")
def clients(tmp_path_factory) -> Iterator[dict[str, Any]]:
    from app import create_app
    from data.db import Database

    db = Database(f"sqlite:///{tmp_path_factory.mktemp('guard') / 'g.db'}")
    db.migrate()
    with db.uow() as s:
        for role in ROLES:
            create_user(s, f"g-{role}", role, password=f"{role}-password")
    server, _ = create_app(Settings(database_url=str(db.url), secret_key="guard"), db)
    server.testing = True
    signed_in = {}
    for role in ROLES:
        client = server.test_client()
        answer = client.post("/login", data={"username": f"g-{role}", "password": f"{role}-password"})
        assert answer.status_code == 302, answer.data
        signed_in[role] = client
    yield signed_in
    db.dispose()


def spellings(path: str) -> list[tuple[str, str]]:
    """(pathname, search) pairs that name ``path``'s page, or try to."""
    name = path.strip("/")
    return [
        (path, ""),
        ("/" + path, ""),  # //admin
        (path + "/", ""),
        ("/" + name.upper(), ""),
        ("/%" + f"{ord(name[0]):02x}" + name[1:] if name else "/%2f", ""),  # /%61dmin
        ("/./" + name, ""),
        ("/x/../" + name, ""),
        ("/", "?" + path),
        ("/", path),
        ("/worker", path),
        (path + "#/worker", ""),
        ("/worker#" + path, ""),
    ]


def route(client: Any, pathname: str, search: str, *, swapped: bool = False) -> tuple[int, Any]:
    """Call the router as the browser does, or with its two inputs in the other order (the router takes
    them by position, the attacker labels them as it likes)."""
    inputs = [{"id": "_pages_location", "property": "pathname", "value": pathname},
              {"id": "_pages_location", "property": "search", "value": search}]
    if swapped:  # the search input (value: pathname) first, labelled "search"; the pathname input labelled
        inputs = [{**inputs[1], "value": pathname}, {**inputs[0], "value": search}]
    body = {"output": ROUTER, "inputs": inputs, "state": [], "changedPropIds": ["_pages_location.pathname"],
            "outputs": [{"id": "_pages_content", "property": "children"},
                        {"id": "_pages_store", "property": "data"}]}
    answer = client.post("/_dash-update-component", json=body)
    return answer.status_code, answer.get_json(silent=True)


def component_pages(tree: Any) -> set[str]:
    """The pages of every component id in a Dash layout (as JSON)."""
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            cid = node.get("id")
            if isinstance(cid, dict):
                cid = cid.get("type")
            if isinstance(cid, str) and page_of_component(cid) is not None:
                found.add(page_of_component(cid) or "")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def forbidden_pages(role: str, status: int, answer: Any) -> set[str]:
    assert status < 500, status
    if status >= 400 or answer is None:
        return set()
    return {page for page in component_pages(answer) if not allowed(role, page)}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", list(PAGE_PATHS))
def test_the_router_gives_no_role_a_page_it_may_not_open(clients, role, path):
    leaks = []
    for pathname, search in spellings(path):
        for swapped in (False, True):
            status, answer = route(clients[role], pathname, search, swapped=swapped)
            if forbidden_pages(role, status, answer):
                leaks.append((pathname, search, swapped, forbidden_pages(role, status, answer)))
    assert not leaks, leaks


@pytest.mark.parametrize("role", ROLES)
def test_the_router_still_serves_every_page_the_role_may_open(clients, role):
    for path, page in PAGE_PATHS.items():
        status, answer = route(clients[role], path, "")
        if allowed(role, page):
            assert status == 200 and page in component_pages(answer), (role, path, status)


def test_the_reported_bypasses_get_the_refusal_not_the_admin_page(clients):
    # finding 8 as reported: a worker with search="/admin" first, a leader with pathname "//admin"
    status, answer = route(clients["worker"], "/admin", "/worker", swapped=True)
    assert status == 403 or "page-forbidden" in str(answer)
    status, answer = route(clients["leader"], "//admin", "")
    assert status == 403 or "page-forbidden" in str(answer)
    assert "admin" not in component_pages(answer)
