"""`dsync sample`'s HTTP edge against hostile little servers: one that refuses the size at
once and closes without reading the body, one that never says `100 Continue`."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from dsync.shell.sample import Unreachable, send

BIG = b"x" * (4 * 1024 * 1024)  # far beyond what socket buffers absorb


def _head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


@contextmanager
def _server(handle: Callable[[socket.socket], None]) -> Iterator[str]:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            handle(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/workos"
    finally:
        thread.join(timeout=30)
        listener.close()


def _refuse_at_once(conn: socket.socket) -> None:
    """Answer 413 on the headers and close with the body unread (the kernel resets)."""
    _head(conn)
    conn.sendall(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 9\r\n\r\ntoo large")
    conn.shutdown(socket.SHUT_WR)


def _no_continue(conn: socket.socket) -> None:
    """An old server: never sends 100 Continue, answers after reading the whole body."""
    head = _head(conn)
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    received = len(head.split(b"\r\n\r\n", 1)[1])
    while received < length:
        received += len(conn.recv(65536))
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")


def test_a_size_refused_before_the_body_is_read_is_reported_not_a_broken_pipe() -> None:
    with _server(_refuse_at_once) as url:
        assert send(url, {}, BIG) == (413, "too large")


def test_a_server_without_100_continue_still_gets_the_body() -> None:
    with _server(_no_continue) as url:
        assert send(url, {}, BIG) == (200, "ok")


def test_nothing_listening_is_unreachable() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(Unreachable, match="cannot reach"):
        send(f"http://127.0.0.1:{port}/webhooks/workos", {}, b"{}")
