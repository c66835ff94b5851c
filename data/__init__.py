"""Persistence: the model, engine and unit of work, repositories, migrations, demo city, importers."""
