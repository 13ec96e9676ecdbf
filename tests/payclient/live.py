"""A real HTTP server around the test app, and a proxy that drops connections.

``live_url`` serves the ``app`` fixture's app with werkzeug's threaded server
on 127.0.0.1 (a port the OS picks), so the client under test talks HTTP to
the real backend on the real database engine, as the apps do.

A test must leave nothing talking to that server: at its end ``live_url``
waits until no request is in flight (an order's event stream ends within a
couple of seconds of its client closing it) and no order watcher thread is
left, and fails the test otherwise. A request still running would hold its
database locks into the next test's ``clean_database``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from dataclasses import dataclass

import pytest
from werkzeug.serving import make_server

from backend.extensions import db


class InFlight:
    """Knows which requests the server is handling: a request counts from the moment its connection is
    accepted until the thread serving it is done (whether or not werkzeug closed the response: after a
    client drops a stream it may not)."""

    def __init__(self, app):
        self.app = app
        self.requests: dict[int, str] = {}
        self._changed = threading.Condition()

    def __call__(self, environ, start_response):
        with self._changed:
            self.requests[threading.get_ident()] = f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}"
        return self.app(environ, start_response)

    def track(self, server) -> None:
        """Count each of ``server``'s request threads (socketserver's ``process_request_thread``)."""
        serve_one = server.process_request_thread

        def counted(request, client_address):
            with self._changed:
                self.requests[threading.get_ident()] = f"a request from {client_address}"
            try:
                serve_one(request, client_address)
            finally:
                with self._changed:
                    self.requests.pop(threading.get_ident(), None)
                    self._changed.notify_all()

        server.process_request_thread = counted

    def wait_idle(self, timeout: float) -> list[str]:
        """Wait up to ``timeout`` seconds for no request to be in flight; return those still running."""
        with self._changed:
            self._changed.wait_for(lambda: not self.requests, timeout)
            return sorted(self.requests.values())


def watcher_threads() -> list[str]:
    """The names of the order watchers (``payclient.api.watch_order`` threads the apps start) still running."""
    return [t.name for t in threading.enumerate() if t.name.startswith("order-") and t.name.endswith("-events")]


class LiveServer:
    def __init__(self, app):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.in_flight = InFlight(app)
        self.server = make_server("127.0.0.1", 0, self.in_flight, threaded=True)
        self.in_flight.track(self.server)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def _live_servers():
    servers: dict[int, LiveServer] = {}
    yield servers
    for s in servers.values():
        s.stop()


@pytest.fixture
def live_url(app, _live_servers):
    """The base URL (``…/api/v1``) of a real server for this test's app (empty tables, reference data)."""
    server = _live_servers.get(id(app))
    if server is None:
        server = _live_servers[id(app)] = LiveServer(app)
    db.session.rollback()
    yield server.url
    left = server.in_flight.wait_idle(timeout=10)
    watchers = watcher_threads()
    assert not left and not watchers, (
        f"the test left requests in flight {left} or order watchers running {watchers}: stop them at its end")


def settle():
    """End the test thread's read transaction (SQLite: an open read would block the server's writers)."""
    db.session.rollback()


# ---------------------------------------------------------------- a proxy that loses answers


def _read_http_message(sock: socket.socket, first: bytes = b"") -> bytes:
    """Read one HTTP/1.1 message with a Content-Length body (or none) from ``sock``."""
    data = first
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return head + b"\r\n\r\n" + body
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@dataclass
class DroppingProxy:
    """Forwards each request to ``upstream_port``; for the first ``drop`` requests that start with
    ``match`` it waits for the
    server's full answer, then closes the client's connection without passing the answer on — the
    server has done the work, the client never hears of it."""

    upstream_port: int
    drop: int = 1
    match: bytes = b"POST /api/v1/payments "  # only answers to requests starting like this are lost
    #: Drop before the server sees the request, with a reset (as a server closing a kept-alive connection
    #: under the client's next request does): the client gets no answer and nothing was done.
    before_server: bool = False

    def __post_init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        self.forwarded = 0
        self.keys: list[str] = []  # Idempotency-Key of each matching request, in arrival order
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def _serve(self):
        self.listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket):
        with client:
            while True:
                request = _read_http_message(client)
                if not request:
                    return
                if request.startswith(self.match):
                    head = request.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                    self.keys += [h.split(":", 1)[1].strip() for h in head if h.lower().startswith("idempotency-key:")]
                if self.before_server and self.dropped < self.drop and request.startswith(self.match):
                    self.dropped += 1
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return  # closing with linger 0 sends a reset
                with socket.create_connection(("127.0.0.1", self.upstream_port)) as up:
                    up.sendall(request)
                    answer = _read_http_message(up)
                if self.dropped < self.drop and request.startswith(self.match):
                    self.dropped += 1
                    client.shutdown(socket.SHUT_RDWR)
                    return
                self.forwarded += 1
                client.sendall(answer)

    def close(self):
        self._stop.set()
        self.listener.close()
