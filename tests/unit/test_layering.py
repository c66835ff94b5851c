"""The edges build no queries (DESIGN §2): api/ and callbacks/ call the query and service functions of
dispatch/, alerts/, admin/ and data/ and never select(), execute, scalar(s)(select(...)) or query() a
session themselves — nor write a model themselves (session.add/delete)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EDGES = ("api", "callbacks")

#: A query built or run at the edge.
QUERY = re.compile(r"(?<!def )(?<![\w.])select\(|\bsession\.execute\(|\.scalars?\(\s*select\("
                   r"|\bsession\.query\(|\bsql\.text\(")
#: A write of a model at the edge: the services do that.
WRITE = re.compile(r"\b(?:db_)?session\.(?:add|add_all|delete|merge)\(")

#: Files still allowed to query, each with why. The goal is none: remove an entry when its queries
#: have moved (the listed files belong to the briefing work of issue 15, which was still moving them).
QUERY_ALLOWED: dict[str, str] = {
    "callbacks/briefing.py": "the briefing map's points (moving to dispatch.briefing with the briefing work)",
}

#: Edge writes still allowed: the sign-in audit rows (written before there is a signed-in actor).
WRITE_ALLOWED: dict[str, str] = {
    "api/auth.py": "sign-in throttling and password audit rows, written before a session exists",
    "api/registry.py": "the generic audit row of a request that wrote without one (H1 removes it)",
}


def _edge_files() -> list[Path]:
    return sorted(p for edge in EDGES for p in (ROOT / edge).rglob("*.py"))


def _hits(pattern: re.Pattern[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in _edge_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                found.setdefault(path.relative_to(ROOT).as_posix(), []).append(f"{number}: {line.strip()}")
    return found


def test_the_patterns_catch_what_they_are_meant_to():
    for line in ("rows = session.execute(query)", "x = session.scalar(select(Grid.code))",
                 "q = select(User)", "session.scalars(\n select(A))".replace("\n", ""), "session.query(User)"):
        assert QUERY.search(line), line
    for line in ("plans = patrol_plans(session)", "options = session.get('lang')", "reselect(x)",
                 "def select(click):", "query.select()"):
        assert not QUERY.search(line), line
    assert WRITE.search("session.add(AuditLog())") and WRITE.search("db_session.delete(row)")
    assert not WRITE.search("session.get('x')")


@pytest.mark.parametrize(("pattern", "allowed", "what"), [
    (QUERY, QUERY_ALLOWED, "queries"),
    (WRITE, WRITE_ALLOWED, "writes models"),
])
def test_api_and_callbacks_build_no_queries_and_write_no_models(pattern, allowed, what):
    hits = _hits(pattern)
    offending = {path: lines for path, lines in hits.items() if path not in allowed}
    assert not offending, f"api/ and callbacks/ must not do this themselves ({what}): {offending}"
