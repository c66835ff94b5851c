"""Shell callbacks: the wall clock in the title bar, drawn in the browser (``assets/clock.js``) in the zone and
language the server wrote on the clock (``layouts/shell.py``); it never reaches the server."""

from dash import ClientsideFunction, Input, Output, State, clientside_callback

from layouts import ids

clientside_callback(
    ClientsideFunction(namespace="cityops_shell", function_name="clock"),
    Output(ids.SHELL_CLOCK, "children"),
    Input(ids.SHELL_CLOCK_TICK, "n_intervals"),
    State(ids.SHELL_CLOCK, "id"),
)
