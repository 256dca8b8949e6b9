"""The TCP proxy the outage tests cut: it forwards, drops live connections and refuses new ones while
cut, and forwards again on the same port once restored."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.tcpproxy import TcpProxy


def test_cut_drops_and_refuses_then_restore_forwards(pg_cluster, tcp_proxy) -> None:
    proxy: TcpProxy = tcp_proxy(pg_cluster.host, pg_cluster.port)
    url = pg_cluster.url(port=proxy.port)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        with proxy.outage():
            with pytest.raises(psycopg.OperationalError):
                conn.execute("SELECT 1")
            with pytest.raises(psycopg.OperationalError, match="refused"):
                psycopg.connect(url, connect_timeout=5)
        # The server itself never went away.
        assert pg_cluster.is_running()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 2").fetchone() == (2,)
    assert proxy.accepted == 2
