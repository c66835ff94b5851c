"""Alembic environment: runs migrations on the connection handed over by data.db, or on the URL."""

from alembic import context
from sqlalchemy import create_engine

from data.models import Base
from data.partitions import include_name
from data.spatial import include_object

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite", include_object=include_object,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=target_metadata,
                          render_as_batch=conn.dialect.name == "sqlite", include_object=include_object,
                          include_name=include_name)
        with context.begin_transaction():
            context.run_migrations()


run_migrations()
