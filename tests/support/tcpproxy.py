"""A TCP proxy on a loopback port that a test can cut, as psycopg's tests do with theirs: a client
pointed at it loses its server (live connections dropped, new ones refused) while the server itself,
shared by the whole session, stays up."""

from __future__ import annotations

import selectors
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_CHUNK = 1 << 16


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``target``; :meth:`cut` drops and refuses, :meth:`restore` resumes."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._lock = threading.Lock()
        self._accepting = threading.Event()
        self.accepted = 0  # connections forwarded so far

    def start(self) -> TcpProxy:
        self._listen()
        return self

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))  # the same port again after a cut
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accepting.set()
        threading.Thread(target=self._accept, args=(listener,), daemon=True,
                         name=f"tcpproxy-{self.port}-accept").start()

    def _accept(self, listener: socket.socket) -> None:
        while self._accepting.is_set():
            try:
                client, _ = listener.accept()
            except OSError:  # the listener was closed by cut() or close()
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair,), daemon=True,
                             name=f"tcpproxy-{self.port}-pump").start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        peer = {client: upstream, upstream: client}
        with selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ)
            sel.register(upstream, selectors.EVENT_READ)
            try:
                while True:
                    for key, _ in sel.select():
                        sock: socket.socket = key.fileobj  # type: ignore[assignment]
                        data = sock.recv(_CHUNK)
                        if not data:
                            return
                        peer[sock].sendall(data)
            except OSError:  # reset by a peer, or shut down by cut()
                return
            finally:
                self._drop(pair)

    def _drop(self, pair: tuple[socket.socket, socket.socket]) -> None:
        with self._lock:
            self._pairs.discard(pair)
        for sock in pair:
            _shutdown(sock)
            sock.close()

    def cut(self) -> None:
        """Refuse new connections and drop every live one, as a server that went away."""
        self._accepting.clear()
        if self._listener is not None:
            _shutdown(self._listener)  # close() alone would not wake the thread blocked in accept()
            self._listener.close()
            self._listener = None
        with self._lock:
            pairs = list(self._pairs)
        for client, upstream in pairs:
            # The pump thread wakes up to the shutdown and closes both; closing here could hand
            # their descriptor numbers to new sockets while it still polls them.
            _shutdown(client)
            _shutdown(upstream)

    def restore(self) -> None:
        """Accept and forward again, on the same port."""
        if self._listener is None:
            self._listen()

    @contextmanager
    def outage(self) -> Iterator[None]:
        self.cut()
        try:
            yield
        finally:
            self.restore()

    def close(self) -> None:
        self.cut()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # not connected, or already shut down
        pass
