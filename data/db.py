"""Engine, unit of work and schema migration: the one place that makes sessions.

With a read URL (``CITYOPS_DATABASE_READ_URL``, a PostgreSQL streaming replica, issue 21) a second engine
serves ``read_uow()``: the read-heavy paths that tolerate a few seconds of lag (README "Read replica" lists
them). Without one ``read_uow()`` is the primary's unit of work, so nothing changes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from data.files import private_file

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseConfigError(Exception):
    """The database URL is malformed or the database cannot be reached."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _private_sqlite_file(path: Path) -> None:
    """The SQLite file (personal data, password hashes) as 0600 in 0700 folders, created before SQLite opens
    it: SQLite gives its -wal and -shm files the mode of the database file. Anything but a file (a folder)
    is left for SQLite to refuse when it connects."""
    if path.exists() and not path.is_file():
        return
    private_file(path)
    for companion in (path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            private_file(companion)


def make_engine(url: str, setting: str = "CITYOPS_DATABASE_URL") -> Engine:
    """Create the engine for ``url`` (named ``setting`` in errors): SQLite gets WAL, a busy timeout and
    foreign keys."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(f"{setting} is not a database URL: {url!r}") from exc
    if parsed.drivername.startswith("sqlite"):
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                _private_sqlite_file(Path(database))
            except OSError as exc:
                raise DatabaseConfigError(
                    f"cannot create the SQLite file {database} or its folder: {exc.strerror}"
                ) from exc
        engine = create_engine(parsed, connect_args={"timeout": 15, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        return create_engine(parsed, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except Exception as exc:  # unknown driver or dialect
        raise DatabaseConfigError(f"cannot use {setting} {url!r}: {exc}") from exc


def check_connection(engine: Engine) -> None:
    """Raise DatabaseConfigError with one clear line when the database cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        raise DatabaseConfigError(
            f"cannot connect to the database {engine.url.render_as_string()}: {reason}"
        ) from exc


#: How long one measure of the replica's lag is reused (seconds): screens poll every 5 s, per worker.
LAG_CACHE_S = 5.0

#: The lag (seconds) above which the big screen and the console say their data may be behind, and /healthz
#: reports the replica as "lagging".
LAG_NOTICE_S = 10.0

#: The replica's replay lag in seconds: 0 when it has replayed all it received (an idle primary writes
#: nothing, so the age of the last replayed transaction is no lag), 0 on a primary (no recovery).
REPLICA_LAG_SQL = text(
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    " ELSE COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0) END"
)


@contextmanager
def _unit_of_work(sessions: sessionmaker[Session]) -> Iterator[Session]:
    session = sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


class Database:
    """An engine with its session factory; ``uow()`` is the unit of work, ``read_uow()`` the one for reads
    that may lag (on the replica at ``read_url`` when given, else on the primary)."""

    def __init__(self, url: str, read_url: str | None = None) -> None:
        self.url = url
        self.engine = make_engine(url)
        # both session factories name the primary: the replica holds the same data (``database_key``)
        info = {"database": self.engine.url.render_as_string(hide_password=True)}
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self.read_url = read_url or None
        self.read_engine = make_engine(read_url, "CITYOPS_DATABASE_READ_URL") if read_url else self.engine
        self.read_sessions = (sessionmaker(self.read_engine, expire_on_commit=False, info=info) if read_url
                              else self.sessions)
        self._lag: tuple[float, float] | None = None  # (measured at, monotonic; lag in seconds)

    @contextmanager
    def uow(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on error, always closes."""
        with _unit_of_work(self.sessions) as session:
            yield session

    @contextmanager
    def read_uow(self) -> Iterator[Session]:
        """A unit of work for reads that tolerate a few seconds of lag: on the read replica when there is one
        (where any write fails: the replica is read-only), else exactly ``uow()``. Never for a read that
        must see this request's own write, nor for anything that writes."""
        with _unit_of_work(self.read_sessions) as session:
            yield session

    @property
    def has_replica(self) -> bool:
        """True when reads have an engine of their own (``CITYOPS_DATABASE_READ_URL``)."""
        return self.read_engine is not self.engine

    def replica_lag(self) -> float | None:
        """How many seconds the read replica is behind the primary (0 when it has replayed everything it
        received), measured at most every ``LAG_CACHE_S`` seconds; None without a replica. Raises when the
        replica cannot be reached."""
        if not self.has_replica:
            return None
        now = time.monotonic()
        if self._lag is None or now - self._lag[0] >= LAG_CACHE_S:
            with self.read_engine.connect() as conn:
                self._lag = (now, max(0.0, float(conn.execute(REPLICA_LAG_SQL).scalar_one() or 0)))
        return self._lag[1]

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision."""
        check_connection(self.engine)
        with self.engine.begin() as connection:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")

    def is_empty(self) -> bool:
        """True when the schema has no seeded city (no areas)."""
        from sqlalchemy import func, select

        from data.models import Area

        if not inspect(self.engine).has_table("areas"):
            return True
        with self.uow() as session:
            return session.scalar(select(func.count()).select_from(Area)) == 0

    def dispose(self) -> None:
        self.engine.dispose()
        if self.has_replica:
            self.read_engine.dispose()


def database_key(session: Session) -> str:
    """The database ``session`` works on, as the key of per-database caches: the primary's URL for sessions of
    a ``Database`` — on the primary or its read replica alike, which hold the same data, so a cache is not
    built twice nor thrown out as a page's callbacks alternate — else the URL of the session's bind."""
    return session.info.get("database") or session.get_bind().url.render_as_string(hide_password=True)


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
