"""The embedded server (``python app.py serve``) keeps serving with more than a thousand connections open:
every video-wall screen and every grid worker's phone holds one (issue 21's load bench at 50 screens +
1,000 phones crashed it while it watched its sockets with select())."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request

from waitress.server import create_server

from app import WAITRESS_OPTIONS

IDLE_CONNECTIONS = 1100  # past select()'s limit of socket numbers below 1024


def _hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_more_than_a_thousand_open_connections_do_not_stop_the_server():
    server = create_server(_hello, host="127.0.0.1", port=0, **WAITRESS_OPTIONS)
    port = server.effective_port
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    idle = []
    try:
        for _ in range(IDLE_CONNECTIONS):
            idle.append(socket.create_connection(("127.0.0.1", port)))
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len(server._map) < IDLE_CONNECTIONS:  # accepted, watched
            time.sleep(0.05)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
            assert answer.read() == b"ok"
        assert thread.is_alive()
    finally:
        for connection in idle:
            connection.close()
        server.close()
