"""The public side's guards under real concurrency on PostgreSQL 15 (issue 20): many web workers taking
tokens from one bucket never spend more than it holds, and a proof-of-work nonce is spent exactly once
however many requests race for it."""

from __future__ import annotations

import threading
from collections.abc import Callable

from data.models import utcnow
from dispatch import citizen
from dispatch.service import InvalidInput

WORKERS = 12


def _race(db, attempt: Callable[[object], bool]) -> int:
    """Run ``attempt(session)`` in WORKERS threads released together, each in its own unit of work;
    returns how many succeeded."""
    start, wins, lock = threading.Barrier(WORKERS), [], threading.Lock()

    def run() -> None:
        start.wait()
        try:
            with db.uow() as session:
                ok = attempt(session)
        except InvalidInput:
            ok = False
        with lock:
            wins.append(ok)

    threads = [threading.Thread(target=run) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(wins)


def test_concurrent_workers_never_take_more_tokens_than_the_bucket_holds_on_postgres(pg_db):
    now = utcnow()
    with pg_db.uow() as session:
        assert citizen.take_token(session, "report:ip:203.0.113.5", 5, now) is None  # the bucket exists: 4 left
    taken = _race(pg_db, lambda s: citizen.take_token(s, "report:ip:203.0.113.5", 5, now) is None)
    assert taken == 4


def test_a_nonce_is_spent_exactly_once_under_a_race_on_postgres(pg_db):
    now = utcnow()
    with pg_db.uow() as session:
        challenge = citizen.issue_challenge(session, 4, now)
    counter = citizen.solve(challenge.nonce, challenge.difficulty)

    def redeem(session) -> bool:
        citizen.redeem_challenge(session, challenge.nonce, counter, now)
        return True

    assert _race(pg_db, redeem) == 1
