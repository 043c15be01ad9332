"""A real HTTP server on 127.0.0.1 that plays NXCloud, call by call, for tests where connections,
timeouts or concurrency are the subject (``responses`` covers the wire format).

Each incoming request is answered by the next scripted ``Behaviour`` (or the default one).
``disable_nagle_algorithm`` keeps answers sub-millisecond: without it, Python's http.server
stalls ~40 ms per response (Nagle meets delayed ACK) and every timing would be a lie.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.processes import free_port


@dataclass
class Behaviour:
    """How to answer one request.

    kind: ``json`` (status + body), ``raw`` (status + raw bytes), ``hang`` (read the request,
    never answer until the server stops), ``drop`` (read the request, close the socket),
    ``slow`` (answer after ``delay`` seconds).
    """

    kind: str = "json"
    status: int = 200
    body: Any = field(default_factory=lambda: {"code": 0, "message": "success", "data": None})
    delay: float = 0.0
    content_type: str = "application/json"


OK = Behaviour()


def result(code: int, message: str = "", data: Any = None) -> Behaviour:
    return Behaviour(body={"code": code, "message": message or f"code {code}", "data": data})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int


class LoopbackNXCloud:
    """``with LoopbackNXCloud() as server:`` then ``server.base_url`` goes in NXWA_ONBOARDING."""

    def __init__(self, default: Behaviour = OK, hold: float = 0.0) -> None:
        self.default = default
        self.hold = hold  # seconds every answer waits (to widen race windows)
        self.script: deque[Behaviour] = deque()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connections: set[int] = set()
        self.on_request: Callable[[Received], Behaviour | None] | None = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.path, dict(self.headers.items()), body, self.client_address[1])
                with outer.lock:
                    outer.received.append(received)
                    outer.connections.add(self.client_address[1])
                    behaviour = outer.script.popleft() if outer.script else None
                if behaviour is None and outer.on_request is not None:
                    behaviour = outer.on_request(received)
                behaviour = behaviour or outer.default
                if outer.hold:
                    time.sleep(outer.hold)
                if behaviour.kind == "hang":
                    outer.stopping.wait(60)
                    self.close_connection = True
                    return
                if behaviour.kind == "drop":
                    self.close_connection = True
                    with suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if behaviour.delay:
                    time.sleep(behaviour.delay)
                if behaviour.kind == "raw":
                    payload = (
                        behaviour.body if isinstance(behaviour.body, bytes) else str(behaviour.body).encode()
                    )
                else:
                    payload = json.dumps(behaviour.body).encode()
                # A client that gave up (read timeout) has closed its end: that is the point of
                # the "slow" behaviour, not an error worth printing.
                with suppress(BrokenPipeError, ConnectionResetError):
                    self.send_response(behaviour.status)
                    self.send_header("Content-Type", behaviour.content_type)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def push(self, *behaviours: Behaviour) -> None:
        with self.lock:
            self.script.extend(behaviours)

    def calls(self, action: str | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if action is None or r.path.endswith("/" + action)]

    def __enter__(self) -> LoopbackNXCloud:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def closed_port() -> int:
    """A local port with nothing listening (connection refused)."""
    return free_port()


@contextmanager
def loopback(**kwargs: Any) -> Iterator[LoopbackNXCloud]:
    with LoopbackNXCloud(**kwargs) as server:
        yield server
