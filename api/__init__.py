"""HTTP API: the /api/v1 blueprint, Open311 and /healthz.

Importing the package imports every module that declares /api/v1 routes, so the blueprint is complete
before any server registers it (Flask refuses routes added to a blueprint after its registration).
"""

from api import (  # noqa: F401
    alert_review,
    cameras,
    channels,
    duty,
    events,
    feeds,
    hotline,
    layers,
    notify,
    reports,
    tokens,
    v1,
)
