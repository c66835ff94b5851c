"""Engine, unit of work and schema migration: the one place that makes sessions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, inspect
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


def make_engine(url: str) -> Engine:
    """Create the engine for ``url``: SQLite gets WAL, a busy timeout and foreign keys."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise DatabaseConfigError(f"CITYOPS_DATABASE_URL is not a database URL: {url!r}") from exc
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
        raise DatabaseConfigError(f"cannot use CITYOPS_DATABASE_URL {url!r}: {exc}") from exc


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


class Database:
    """An engine with its session factory; ``uow()`` is the unit of work."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def uow(self) -> Iterator[Session]:
        """One unit of work: commits on success, rolls back on error, always closes."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

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


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at our migrations, independent of the working directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg
