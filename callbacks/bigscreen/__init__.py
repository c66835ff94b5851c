"""The big screen (/): its callbacks by concern — the map and drill-down (``citymap``), the 5-s live refresh of
tiles, lists and live colours (``live``), the 15-s panels (``panels``), selection, search and the detail card
(``detail``), the video wall's patrol rotation (``patrol``). Importing this package registers them all; the
area scope, the periods and the digests they share are ``scope``, ``periods`` and ``changes``."""

from callbacks.bigscreen import citymap, detail, live, panels, patrol  # noqa: F401  (registers the callbacks)
