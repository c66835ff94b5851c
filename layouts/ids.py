"""Every Dash component id, in one place. The prefix before the first '-' names the page the
component belongs to; the access guard (api/auth.py) authorizes callbacks by that prefix."""

# --- shell (every signed-in user) ---
SHELL_CLOCK = "shell-clock"
SHELL_CLOCK_TICK = "shell-clock-tick"

# --- big screen (/) ---
BIGSCREEN_MAP = "bigscreen-map"
BIGSCREEN_TICK = "bigscreen-tick"
BIGSCREEN_KPI_VALUE = "bigscreen-kpi-value"  # pattern-matching: {"type": BIGSCREEN_KPI_VALUE, "key": k}
#: A tile's change line and its parts' chips (alert levels, sources), addressed like its value.
BIGSCREEN_KPI_CHANGE = "bigscreen-kpi-change"
BIGSCREEN_KPI_PARTS = "bigscreen-kpi-parts"
#: The keys (DESIGN §7) of the big screen's KPI tiles, in display order.
BIGSCREEN_TILE_KEYS = ("closure_rate", "on_time_closure_rate", "open", "red_cards", "yellow_cards", "reported",
                       "alerts_firing", "by_source")
BIGSCREEN_ALERT_LIST = "bigscreen-alert-list"
BIGSCREEN_INCIDENT_LIST = "bigscreen-incident-list"
BIGSCREEN_UPDATED = "bigscreen-updated"
BIGSCREEN_DUTY = "bigscreen-duty"  # who is on duty now (issue 17 §4)
BIGSCREEN_MAP_VERSION = "bigscreen-map-version"
BIGSCREEN_DENSE = "bigscreen-dense"  # Store: doorplate and camera arrays, sent once (callbacks/mapkit.py)
BIGSCREEN_VIEW = "bigscreen-view"  # Store: the map's view {west, south, east, north, zoom}, set by assets/map.js
# the city map (issue 3): layers, legend, drill-down, search, details, video wall
BIGSCREEN_LIVE_DIGEST = "bigscreen-live-digest"  # Store: digests of the live map parts the browser holds
BIGSCREEN_LIVE = "bigscreen-live"  # Store: every open incident and firing alert, patched with deltas (mapkit)
BIGSCREEN_LIVE_HELD = "bigscreen-live-held"  # Store: the digest of what BIGSCREEN_LIVE holds
BIGSCREEN_LAYERS = "bigscreen-layers"  # the layer switcher (Checklist of mapstyle.LAYERS)
BIGSCREEN_GRID_METRIC = "bigscreen-grid-metric"  # what colours the grids: open | cards | workload
BIGSCREEN_LEGEND = "bigscreen-legend"
BIGSCREEN_AREA_DISTRICT = "bigscreen-area-district"  # drill-down: city → district → street → community → grid
BIGSCREEN_AREA_STREET = "bigscreen-area-street"
BIGSCREEN_AREA_COMMUNITY = "bigscreen-area-community"
BIGSCREEN_AREA_GRID = "bigscreen-area-grid"
BIGSCREEN_SCOPE = "bigscreen-scope"  # Store: {"level", "id", "district"} of the chosen area, None = city
BIGSCREEN_SEARCH = "bigscreen-search"
BIGSCREEN_SEARCH_GO = "bigscreen-search-go"
BIGSCREEN_SEARCH_RESULTS = "bigscreen-search-results"
BIGSCREEN_SEARCH_HIT = "bigscreen-search-hit"  # pattern-matching: {"type": BIGSCREEN_SEARCH_HIT, "kind", "key"}
BIGSCREEN_SELECTED = "bigscreen-selected"  # Store: {"kind", "id"} of the object whose detail is shown
BIGSCREEN_DETAIL = "bigscreen-detail"
BIGSCREEN_VIDEOWALL = "bigscreen-videowall"
BIGSCREEN_VIDEOWALL_CLOSE = "bigscreen-videowall-close"
BIGSCREEN_PATROL_SOURCE = "bigscreen-patrol-source"  # area | saved
BIGSCREEN_PATROL_INTERVAL = "bigscreen-patrol-interval"  # seconds
BIGSCREEN_PATROL_PLAY = "bigscreen-patrol-play"
BIGSCREEN_PATROL_TICK = "bigscreen-patrol-tick"
BIGSCREEN_PATROL_LIST = "bigscreen-patrol-list"  # Store: the cameras of the rotation
BIGSCREEN_PATROL_SAVED = "bigscreen-patrol-saved"  # Store (browser local storage): the saved camera ids
BIGSCREEN_PATROL_SAVE = "bigscreen-patrol-save"
BIGSCREEN_PATROL_CLEAR = "bigscreen-patrol-clear"
BIGSCREEN_PATROL_SCREEN = "bigscreen-patrol-screen"
# the video-wall panels (issue 6): trends, rankings, lifeline and environment, at a slower cadence
BIGSCREEN_SLOW_TICK = "bigscreen-slow-tick"
BIGSCREEN_SCALE = "bigscreen-scale"  # Store: the screen's width / 1920 (set in the browser; chart fonts)
BIGSCREEN_PANEL_DIGEST = "bigscreen-panel-digest"  # Store: digests of the panel contents the browser holds
BIGSCREEN_TREND_24H = "bigscreen-trend-24h"
BIGSCREEN_TREND_30D = "bigscreen-trend-30d"
BIGSCREEN_RANK_PERIOD = "bigscreen-rank-period"  # today | month
BIGSCREEN_RANK_CATEGORIES = "bigscreen-rank-categories"
BIGSCREEN_RANK_DEPARTMENTS = "bigscreen-rank-departments"
BIGSCREEN_AQI = "bigscreen-aqi"
BIGSCREEN_AQI_TREND = "bigscreen-aqi-trend"
BIGSCREEN_FAMILIES = "bigscreen-families"
BIGSCREEN_WARNINGS = "bigscreen-warnings"  # warning statistics of the ranking period (issue 17 §5)

# --- console, worker, briefing, admin pages (added below by their authors) ---

# console (/console): the operator desk
CONSOLE_TICK = "console-tick"
CONSOLE_REPLICA_LAG = "console-replica-lag"  # issue 21: the read replica lags
CONSOLE_BOOT = "console-boot"  # a Store whose initial load fills the filter and department options
CONSOLE_FILTER_STATE = "console-filter-state"
CONSOLE_FILTER_CARD = "console-filter-card"
CONSOLE_FILTER_SOURCE = "console-filter-source"
CONSOLE_QUEUE = "console-queue"
CONSOLE_SELECT = "console-select"  # pattern-matching: {"type": CONSOLE_SELECT, "id": incident_id}
CONSOLE_SELECTED = "console-selected"  # Store: the selected incident id
CONSOLE_INCIDENT = "console-incident"  # Store: {"id", "version"} of the incident shown in the detail
CONSOLE_DETAIL = "console-detail"
CONSOLE_ACTIONS = "console-actions"
CONSOLE_ACTION = "console-action"  # pattern-matching: {"type": CONSOLE_ACTION, "action": a}
CONSOLE_DEPARTMENT = "console-department"
CONSOLE_NOTE = "console-note"
CONSOLE_MESSAGE = "console-message"
CONSOLE_RESULT = "console-result"  # Store: bumped after every action so the queue and detail reload
CONSOLE_FORM = "console-form"  # the action form, hidden until an incident is selected
CONSOLE_DEPARTMENT_ROW = "console-department-row"  # hidden unless dispatch is possible
# console, issue 5: more filters, bulk actions, postpone/merge fields, photos, map, notifications
CONSOLE_FILTER_CATEGORY = "console-filter-category"
CONSOLE_FILTER_GRID = "console-filter-grid"
CONSOLE_FILTER_DEPARTMENT = "console-filter-department"
CONSOLE_CHECK = "console-check"  # pattern-matching checklist: {"type": CONSOLE_CHECK, "id": incident_id}
CONSOLE_BULK = "console-bulk"  # pattern-matching: {"type": CONSOLE_BULK, "action": a}
CONSOLE_BULK_BAR = "console-bulk-bar"
CONSOLE_VERSIONS = "console-versions"  # Store: {incident_id: version} of the queue rows shown
CONSOLE_QUEUE_SHOWN = "console-queue-shown"  # Store: the fingerprint of the queue as last drawn
CONSOLE_HOURS = "console-hours"  # postpone: hours
CONSOLE_TARGET = "console-target"  # merge: the original incident's code
CONSOLE_ASSIGNEE = "console-assignee"  # dispatch: operator override of the assignee
CONSOLE_ASSISTING = "console-assisting"  # dispatch: assisting departments (协办, issue 17 §2)
CONSOLE_TASK_RETURN = "console-task-return"  # pattern-matching: {"type", "department": code} (issue 17 §2)
CONSOLE_EXTRA_ROW = "console-extra-row"
CONSOLE_MAP = "console-map"
CONSOLE_NOTICE_BADGE = "console-notice-badge"
CONSOLE_NOTICES = "console-notices"
CONSOLE_NOTICE_READ = "console-notice-read"
CONSOLE_RATING = "console-rating"  # pattern-matching: {"type": CONSOLE_RATING, "value": satisfaction}
CONSOLE_NOTICES_PANEL = "console-notices-panel"
CONSOLE_MAP_BOX = "console-map-box"
# the console's alert inbox (告警研判)
CONSOLE_ALERTS = "console-alerts"  # the list of open alerts
CONSOLE_ALERTS_LEVEL = "console-alerts-level"
CONSOLE_ALERTS_FAMILY = "console-alerts-family"
CONSOLE_ALERTS_AREA = "console-alerts-area"
CONSOLE_ALERTS_MESSAGE = "console-alerts-message"
CONSOLE_ALERTS_RESULT = "console-alerts-result"  # Store: counts actions so the list reloads after one
CONSOLE_ALERT_ACTION = "console-alerts-action"  # pattern-matching: {"type", "action": ack|silence|incident, "alert"}
CONSOLE_ALERT_ROW = "console-alert-row"  # test id of an inbox row (not a component id)
CONSOLE_ALERT_REVIEW = "console-alerts-review"  # pattern-matching Dropdown: {"type", "action": "review", "alert"}

# worker (/worker): the grid worker's phone
WORKER_TASKS = "worker-tasks"
WORKER_REFRESH = "worker-refresh"
WORKER_TICK = "worker-tick"
WORKER_VERSIONS = "worker-versions"  # Store: {incident_id: version} of the cards shown
WORKER_TASKS_SHOWN = "worker-tasks-shown"  # Store: the fingerprint of the task cards as last drawn
WORKER_ACTION = "worker-action"  # pattern-matching: {"type": WORKER_ACTION, "id": incident_id, "action": a}
WORKER_NOTE = "worker-note"  # pattern-matching: {"type": WORKER_NOTE, "id": incident_id}
WORKER_MESSAGE = "worker-message"
WORKER_RESULT = "worker-result"  # Store: bumped after every action so the task list reloads
# worker, issue 5: photos on resolve and the patrol report (巡查上报)
WORKER_PHOTO = "worker-photo"  # pattern-matching Upload: {"type": WORKER_PHOTO, "id": incident_id}
WORKER_PHOTO_DATA = "worker-photo-data"  # pattern-matching Store: the photo shrunk in the browser
WORKER_PATROL_TOGGLE = "worker-patrol-toggle"
WORKER_PATROL_FORM = "worker-patrol-form"
WORKER_PATROL_CATEGORY = "worker-patrol-category"
WORKER_PATROL_NOTE = "worker-patrol-note"
WORKER_PATROL_PHOTO = "worker-patrol-photo"
WORKER_PATROL_PHOTO_DATA = "worker-patrol-photo-data"
WORKER_PATROL_LOCATE = "worker-patrol-locate"
WORKER_PATROL_MAP = "worker-patrol-map"
WORKER_PATROL_MAP_BOX = "worker-patrol-map-box"  # the map is rendered only when the form opens
WORKER_PATROL_POINT = "worker-patrol-point"  # Store: {"lon", "lat", "source": device|map}
WORKER_PATROL_WHERE = "worker-patrol-where"
WORKER_PATROL_SUBMIT = "worker-patrol-submit"
WORKER_PATROL_PREVIEW = "worker-patrol-preview"
WORKER_PHOTO_PREVIEW = "worker-photo-preview"  # pattern-matching Img: {"type": ..., "id": incident_id}

# hotline (/hotline): the 12345 hotline seat
HOTLINE_CALLER = "hotline-caller"
HOTLINE_PHONE = "hotline-phone"
HOTLINE_CONTENT = "hotline-content"
HOTLINE_CATEGORY = "hotline-category"
HOTLINE_ADDRESS = "hotline-address"  # Dropdown of matching doorplates
HOTLINE_MODE = "hotline-mode"
HOTLINE_ANSWER = "hotline-answer"
HOTLINE_SUBMIT = "hotline-submit"
HOTLINE_MESSAGE = "hotline-message"
HOTLINE_RESULT = "hotline-result"
HOTLINE_RECENT = "hotline-recent"
HOTLINE_BOOT = "hotline-boot"
# after the call (issue 20): replies (统一回复), follow-up calls (回访), the chase ledger (催办台账)
HOTLINE_REPLY_ORDER = "hotline-reply-order"  # Dropdown of closed orders awaiting their reply
HOTLINE_REPLY_TEXT = "hotline-reply-text"
HOTLINE_REPLY_SUBMIT = "hotline-reply-submit"
HOTLINE_FOLLOWUPS = "hotline-followups"  # the pending follow-up calls
HOTLINE_FOLLOWUP_ORDER = "hotline-followup-order"  # Dropdown of orders with a pending follow-up call
HOTLINE_FOLLOWUP_RESULT = "hotline-followup-result"  # not_reached | satisfied | basically_satisfied | dissatisfied
HOTLINE_FOLLOWUP_REASON = "hotline-followup-reason"
HOTLINE_FOLLOWUP_REOPEN = "hotline-followup-reopen"
HOTLINE_FOLLOWUP_SUBMIT = "hotline-followup-submit"
HOTLINE_CHASES = "hotline-chases"  # the chase ledger by department
HOTLINE_FIGURES = "hotline-figures"  # this month's hotline figures (DESIGN §7 ``hotline``), a tile each
HOTLINE_CHASE = "hotline-chase"  # pattern-matching button: {"type": HOTLINE_CHASE, "code": order code}

# briefing (/briefing): the leader's KPIs against the previous period
BRIEFING_PERIOD = "briefing-period"
BRIEFING_RANGE = "briefing-range"
BRIEFING_KPIS = "briefing-kpis"
BRIEFING_DEPARTMENTS = "briefing-departments"
BRIEFING_DAY = "briefing-day"  # the reference day of a day/week/month/quarter period
BRIEFING_CUSTOM = "briefing-custom"  # the date range of a custom period
BRIEFING_TILES = "briefing-tiles"
BRIEFING_TREND = "briefing-trend"
BRIEFING_GRIDS = "briefing-grids"
BRIEFING_CATEGORIES = "briefing-categories"
BRIEFING_HOTSPOTS = "briefing-hotspots"
BRIEFING_OVERDUE = "briefing-overdue"
BRIEFING_HOTLINE = "briefing-hotline"
BRIEFING_WARNINGS = "briefing-warnings"
BRIEFING_PDF = "briefing-pdf"
BRIEFING_XLSX = "briefing-xlsx"
BRIEFING_DOWNLOAD = "briefing-download"
BRIEFING_ARCHIVE = "briefing-archive"

# video wall (/video, issue 19): layouts 1/4/9/16, a camera picker, the cells (each data-testid="video-cell")
VIDEO_LAYOUT = "video-layout"  # RadioItems: 1 | 4 | 9 | 16 cells
VIDEO_CAMERAS = "video-cameras"  # Store: the camera code of each cell (None = empty)
VIDEO_PICK = "video-pick"  # Dropdown: search cameras by code or name
VIDEO_CELL_CHOICE = "video-cell-choice"  # Dropdown: which cell the picked camera goes to
VIDEO_PUT = "video-put"
VIDEO_CLEAR = "video-clear"
VIDEO_MESSAGE = "video-message"
VIDEO_WALL = "video-wall"
VIDEO_PLAN = "video-plan"  # Dropdown: the shared patrol plans (轮巡预案)
VIDEO_PLAN_RUN = "video-plan-run"  # run / pause the chosen plan
VIDEO_PLAN_TICK = "video-plan-tick"  # Interval: one page of the plan per dwell time
VIDEO_PLAN_STATE = "video-plan-state"  # Store: {"name", "cameras", "dwell_s", "step"} of the running plan
VIDEO_PLAN_NAME = "video-plan-name"  # save the wall's cameras as a plan: name and dwell time
VIDEO_PLAN_DWELL = "video-plan-dwell"
VIDEO_PLAN_SAVE = "video-plan-save"
VIDEO_PLAN_MESSAGE = "video-plan-message"
VIDEO_SNAP_KIND = "video-snap-kind"  # RadioItems: snapshots go to an incident or an emergency event
VIDEO_SNAP_TARGET = "video-snap-target"  # Input: the incident code or event id (read by assets/video_tools.js)
VIDEO_SNAP_MESSAGE = "video-snap-message"  # written by assets/video_tools.js
VIDEO_LIST = "video-list"  # the cameras found by the picker, draggable into a cell
VIDEO_DROP = "video-drop"  # Store: {"code", "cell", "at"} of a camera dropped on a cell (set by video_tools.js)
VIDEO_MAP = "video-map"  # Graph: where each playing camera is

# admin (/admin): users, departments, categories, rules, audit log (read-only)
ADMIN_REFRESH = "admin-refresh"
ADMIN_USERS = "admin-users"
ADMIN_USERS_FILTER = "admin-users-filter"  # text: username, display name or grid code
ADMIN_USERS_PAGE = "admin-users-page"  # pattern-matching pager buttons: {"type": ADMIN_USERS_PAGE, "page": n}
ADMIN_DEPARTMENTS = "admin-departments"
ADMIN_CATEGORIES = "admin-categories"
ADMIN_RULES = "admin-rules"
ADMIN_AUDIT = "admin-audit"

# admin categories (/admin, issue 5): categories with per-severity limits, working hours and holidays
ADMIN_CATEGORIES_PICK = "admin-categories-pick"
ADMIN_CATEGORIES_FORM = "admin-categories-form"  # pattern-matching fields: {"type": ..., "field": name}
ADMIN_CATEGORIES_SAVE = "admin-categories-save"
ADMIN_CATEGORIES_MESSAGE = "admin-categories-message"
ADMIN_CATEGORIES_WEEK = "admin-categories-week"
ADMIN_CATEGORIES_HOLIDAYS = "admin-categories-holidays"
ADMIN_CATEGORIES_CAL_SAVE = "admin-categories-cal-save"
ADMIN_CATEGORIES_RESULT = "admin-categories-result"

# admin rules (/admin, issue 4): list, create/edit as YAML/JSON text, enable/disable, delete
ADMIN_RULES_LIST = "admin-rules-list"
ADMIN_RULES_PICK = "admin-rules-pick"
ADMIN_RULES_TEXT = "admin-rules-text"
ADMIN_RULES_ENABLED = "admin-rules-enabled"
ADMIN_RULES_SAVE = "admin-rules-save"
ADMIN_RULES_DELETE = "admin-rules-delete"
ADMIN_RULES_MESSAGE = "admin-rules-message"
ADMIN_RULES_CHANGED = "admin-rules-changed"

# admin security (/admin, issue 7): API tokens (list, revoke, issue once) and the audit-log search
ADMIN_TOKENS_LIST = "admin-tokens-list"
ADMIN_TOKENS_REVOKE = "admin-tokens-revoke"  # pattern-matching: {"type": ADMIN_TOKENS_REVOKE, "id": token_id}
ADMIN_TOKENS_USER = "admin-tokens-user"  # the user a new token is issued for
ADMIN_TOKENS_ISSUE = "admin-tokens-issue"
ADMIN_TOKENS_NEW = "admin-tokens-new"  # the new token, shown once
ADMIN_TOKENS_MESSAGE = "admin-tokens-message"
ADMIN_TOKENS_CHANGED = "admin-tokens-changed"  # Store: bumped after every change so the list reloads
ADMIN_AUDIT_USER = "admin-audit-user"
ADMIN_AUDIT_ACTION = "admin-audit-action"
ADMIN_AUDIT_TARGET = "admin-audit-target"
ADMIN_AUDIT_RANGE = "admin-audit-range"  # DatePickerRange: local days, both inclusive
ADMIN_AUDIT_SEARCH = "admin-audit-search"
ADMIN_AUDIT_PAGE = "admin-audit-page"  # pattern-matching pager buttons: {"type": ADMIN_AUDIT_PAGE, "page": n}
# admin sign-in and sessions (/admin, issue 14): unlock a throttled name, end every session of a user
ADMIN_SESSIONS_USER = "admin-sessions-user"
ADMIN_SESSIONS_UNLOCK = "admin-sessions-unlock"
ADMIN_SESSIONS_END = "admin-sessions-end"
ADMIN_SESSIONS_MESSAGE = "admin-sessions-message"
# admin duty rota (/admin, issue 17 §4): list a week, add and remove entries
ADMIN_DUTY_WEEK = "admin-duty-week"  # DatePickerSingle: the first local day of the week shown
ADMIN_DUTY_LIST = "admin-duty-list"
ADMIN_DUTY_DAY = "admin-duty-day"
ADMIN_DUTY_SHIFT = "admin-duty-shift"
ADMIN_DUTY_POST = "admin-duty-post"
ADMIN_DUTY_USER = "admin-duty-user"
ADMIN_DUTY_ADD = "admin-duty-add"
ADMIN_DUTY_REMOVE = "admin-duty-remove"  # pattern-matching: {"type": ADMIN_DUTY_REMOVE, "id": entry_id}
ADMIN_DUTY_MESSAGE = "admin-duty-message"
ADMIN_DUTY_CHANGED = "admin-duty-changed"  # Store: bumped after every change so the list reloads

# admin sub-pages (issue 16): /admin/people, /admin/city, /admin/settings, /admin/import (all admin-only); each id's
# prefix is its page (``admin_people-…`` belongs to /admin/people), the links between them are /admin's
ADMIN_NAV = "admin-nav"  # the links between /admin and its sub-pages
ADMIN_PEOPLE_PICK = "admin_people-pick"  # the user to edit (empty: a new user)
ADMIN_PEOPLE_FORM = "admin_people-form"  # pattern-matching fields: {"type": ..., "field": name}
ADMIN_PEOPLE_SAVE = "admin_people-save"
ADMIN_PEOPLE_DISABLE = "admin_people-disable"
ADMIN_PEOPLE_ENABLE = "admin_people-enable"
ADMIN_PEOPLE_RESET = "admin_people-reset"  # a new one-time activation code
ADMIN_PEOPLE_CODE = "admin_people-code"  # the activation code, shown once
ADMIN_PEOPLE_MESSAGE = "admin_people-message"
ADMIN_PEOPLE_CHANGED = "admin_people-changed"  # Store: bumped after every change so the options reload
ADMIN_CITY_LIST = "admin_city-list"  # the departments
ADMIN_CITY_PICK = "admin_city-pick"
ADMIN_CITY_FORM = "admin_city-form"  # pattern-matching fields: {"type": ..., "field": name}
ADMIN_CITY_SAVE = "admin_city-save"
ADMIN_CITY_MESSAGE = "admin_city-message"
ADMIN_CITY_CHANGED = "admin_city-changed"
ADMIN_SETTINGS_FORM = "admin_settings-form"  # filled by its callback with the settings in force
ADMIN_SETTINGS_VALUE = "admin_settings-value"  # pattern-matching: {"type": ..., "key": setting, "item": "kpi.bound"}
ADMIN_SETTINGS_SAVE = "admin_settings-save"  # pattern-matching: {"type": ..., "key": setting}
ADMIN_SETTINGS_RESET = "admin_settings-reset"  # pattern-matching: {"type": ..., "key": setting}
ADMIN_SETTINGS_WEEK = "admin_settings-week"
ADMIN_SETTINGS_HOLIDAYS = "admin_settings-holidays"
ADMIN_SETTINGS_CALENDAR_SAVE = "admin_settings-calendar-save"
ADMIN_SETTINGS_MESSAGE = "admin_settings-message"
ADMIN_SETTINGS_CHANGED = "admin_settings-changed"
ADMIN_IMPORT_UPLOAD = "admin_import-upload"
ADMIN_IMPORT_FILE = "admin_import-file"  # the name of the picked file
ADMIN_IMPORT_KIND = "admin_import-kind"
ADMIN_IMPORT_CRS = "admin_import-crs"
ADMIN_IMPORT_LAYER = "admin_import-layer"
ADMIN_IMPORT_DRY_RUN = "admin_import-dry-run"
ADMIN_IMPORT_RUN = "admin_import-run"
ADMIN_IMPORT_REPORT = "admin_import-report"
# /admin/plans (issue 18 §1): the emergency plans' editor, admin-only like the other sub-pages
ADMIN_PLANS_LIST = "admin_plans-list"  # every plan with its versions
ADMIN_PLANS_PICK = "admin_plans-pick"  # the plan to open
ADMIN_PLANS_VERSION = "admin_plans-version"  # its version to open (the newest by default)
ADMIN_PLANS_TEXT = "admin_plans-text"  # the YAML document being edited
ADMIN_PLANS_CHECK = "admin_plans-check"
ADMIN_PLANS_SAVE = "admin_plans-save"
ADMIN_PLANS_DOWNLOAD = "admin_plans-download"  # the button
ADMIN_PLANS_FILE = "admin_plans-file"  # dcc.Download: the opened version's YAML
ADMIN_PLANS_MESSAGE = "admin_plans-message"
ADMIN_PLANS_CHANGED = "admin_plans-changed"  # Store: bumped after every save so the list and versions reload
# /admin/channels (issue 17 §3): the notification channels (Apprise URLs), admin-only like the other sub-pages
ADMIN_CHANNELS_LIST = "admin_channels-list"  # every channel, its URL masked, a delete button each
ADMIN_CHANNELS_DELETE = "admin_channels-delete"  # pattern type: {"type": ..., "id": channel id}
ADMIN_CHANNELS_CONFIRM = "admin_channels-confirm"  # ConfirmDialog: delete the channel asked for?
ADMIN_CHANNELS_PENDING = "admin_channels-pending"  # Store: the id of the channel the dialog asks about
ADMIN_CHANNELS_NAME = "admin_channels-name"
ADMIN_CHANNELS_KIND = "admin_channels-kind"  # department, user or duty_post
ADMIN_CHANNELS_TARGET = "admin_channels-target"  # its code, user name or post (options follow the kind)
ADMIN_CHANNELS_URL = "admin_channels-url"  # a password input: the secret is never sent back
ADMIN_CHANNELS_LEVEL = "admin_channels-level"
ADMIN_CHANNELS_ADD = "admin_channels-add"
ADMIN_CHANNELS_MESSAGE = "admin_channels-message"
ADMIN_CHANNELS_CHANGED = "admin_channels-changed"  # Store: bumped after every change so the list reloads
# the emergency command board /command/<event> (issue 18): every id starts with ``command-``
COMMAND_EVENT = "command-event"  # Store: the event id of the board
COMMAND_TICK = "command-tick"  # Interval: the board's refresh
COMMAND_DIGESTS = "command-digests"  # Store: a digest per section, so a tick sends only what changed
COMMAND_HEADER = "command-header"
COMMAND_MAP = "command-map"
COMMAND_TASKS = "command-tasks"
COMMAND_TIMELINE = "command-timeline"
COMMAND_DUTY = "command-duty"
COMMAND_KPIS = "command-kpis"
COMMAND_RESOURCES = "command-resources"
COMMAND_CAMERAS = "command-cameras"
COMMAND_SENSORS = "command-sensors"  # the sensors worth watching with their last hour, and the area's alert counts
COMMAND_EVENTS = "command-events"  # the list of events on /command without one
COMMAND_LIST_TICK = "command-list-tick"  # Interval: the refresh of the list of events

# /trends (issue 20): the trend analysis — rising categories, hot spots, repeated addresses
TRENDS_END = "trends-end"
TRENDS_BODY = "trends-body"
TRENDS_MONTHLY_PDF = "trends-monthly-pdf"
TRENDS_MONTHLY_XLSX = "trends-monthly-xlsx"
BIGSCREEN_HOTLINE = "bigscreen-hotline"  # the big screen's hotline panel (issue 20), drawn by the live refresh
