"""Shell callbacks: the wall clock in the title bar (clientside: it never reaches the server)."""

from dash import Input, Output, clientside_callback

from layouts import ids

clientside_callback(
    """function(_) { return new Date().toLocaleString(document.documentElement.lang || undefined); }""",
    Output(ids.SHELL_CLOCK, "children"),
    Input(ids.SHELL_CLOCK_TICK, "n_intervals"),
)
