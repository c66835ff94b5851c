"""The domain core of CityOps: enums, state sets, the transition table, the permission table and the
domain refusals. Pure Python: it imports nothing of ours and no SQLAlchemy, Flask or Dash, so every
other layer (geo beside it; data, dispatch, alerts, the web above it) may depend on it.
"""
