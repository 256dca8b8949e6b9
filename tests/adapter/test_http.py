"""Every status-code path of the adapter's HTTP interface, against a real `sru adapter`."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator

import bcrypt
import cramjam
import pytest
import requests

from scripts.pgcluster import PgCluster
from tests.fixtures.adapter import WRITE_HEADERS, AdapterProcess, snappy, write_request
from tests.fixtures.net import free_port
from tests.fixtures.postgres import Database, create_database, drop_database

T0 = 1_700_000_000_000
GOOD = write_request([({"__name__": "sru:cpu_percent", "hostname": "lab1"}, [(T0, 1.0)])])


SMALL = ("--web.max-body-size=4KiB", "--write.max-decoded-size=16KiB")


@pytest.fixture(scope="module")
def small(pg_cluster: PgCluster, pg_templates: dict[str, str],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdapterProcess]:
    """One adapter with small limits for the tests that judge only its answers to their own requests
    (status codes and messages): started once for the module, on a database of its own."""
    db = create_database(pg_cluster, pg_templates, "apache")
    a = AdapterProcess(port=free_port(), log_path=tmp_path_factory.mktemp("adapter-small") / "adapter.log",
                       args=[f"--database-url={db.role_url('data_collector')}", "--web.workers=1", *SMALL])
    try:
        a.start()
        yield a
    finally:
        a.stop()
        if pg_cluster.is_running():
            drop_database(db)


@pytest.fixture
def fresh_small(tsdb_database: Database, adapter_factory: Callable[..., AdapterProcess]) -> AdapterProcess:
    """The same, new for one test: for counting its /metrics."""
    return adapter_factory(tsdb_database.role_url("data_collector"), *SMALL)


def test_accepts_block_and_framed_snappy(small):
    assert small.post(GOOD).status_code == 204
    framed = bytes(cramjam.snappy.compress(GOOD))
    assert small.post(framed, compress=False).status_code == 204
    # Old senders omit the version header: still remote write 1.0.
    hdrs = {k: v for k, v in WRITE_HEADERS.items() if not k.startswith("X-")}
    assert small.post(GOOD, headers=hdrs).status_code == 204


@pytest.mark.parametrize("change, status", [
    ({"Content-Encoding": "gzip"}, 415),
    ({"Content-Encoding": ""}, 415),
    ({"Content-Type": "application/json"}, 415),
    ({"Content-Type": "application/x-protobuf;proto=io.prometheus.write.v2.Request"}, 415),
    ({"X-Prometheus-Remote-Write-Version": "2.0.0"}, 415),
])
def test_unsupported_encodings(small, change, status):
    r = small.post(GOOD, headers={**WRITE_HEADERS, **change})
    assert r.status_code == status, r.text
    assert r.text.strip()


def test_malformed_bodies_are_400_never_500(small):
    assert small.post(b"\x05garbage", compress=False).status_code == 400      # not snappy
    assert small.post(b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", compress=False).status_code == 400
    r = small.post(b"\x0a\x05\x0a\x03\x0a\x01", compress=True)                 # truncated protobuf
    assert r.status_code == 400 and "protobuf" in r.text
    r = small.post(write_request([({"__name__": "sru:cpu_percent"}, [(T0, 1.0)])]))
    assert r.status_code == 400 and "no host" in r.text


def test_size_limits_checked_before_decompressing(small):
    big = snappy(b"\x00" * 8192) + b"\x00" * 4096                           # body over 4 KiB
    assert small.post(big, compress=False).status_code == 413
    # A small body declaring a huge decoded length (varint 1 GiB) is refused unread.
    bomb = bytes([0x80, 0x80, 0x80, 0x80, 0x04]) + b"\x00" * 16
    r = small.post(bomb, compress=False)
    assert r.status_code == 413 and "decoded" in r.text
    framed_bomb = bytes(cramjam.snappy.compress(b"\x00" * 20000))            # decodes to > 16 KiB
    assert small.post(framed_bomb, compress=False).status_code == 413


def test_methods_paths_health_metrics(fresh_small):
    small = fresh_small
    assert requests.get(small.url + "/api/v1/write", timeout=5).status_code == 405
    assert requests.get(small.url + "/nope", timeout=5).status_code == 404
    assert requests.get(small.url + "/healthz", timeout=5).status_code == 200
    small.post(GOOD)
    text = requests.get(small.url + "/metrics", timeout=5).text
    for name in ("sru_adapter_requests_total", "sru_adapter_samples_received_total",
                 "sru_adapter_samples_written_total", "sru_adapter_rows_upserted_total",
                 "sru_adapter_batch_duration_seconds_bucket", "sru_adapter_pool_connections"):
        assert name in text
    assert small.metric("sru_adapter_requests_total", handler="/api/v1/write", code="204") == 1
    # GOOD's label sets are cached: the estimated bytes are the key plus 512 per entry.
    assert small.metric("sru_adapter_label_cache_bytes") > 512


def test_database_down_is_503_with_retry_after(adapter_factory):
    dead = f"postgresql://sru_t_collector@127.0.0.1:{free_port()}/nowhere"
    a = adapter_factory(dead, "--db.pool-timeout=1s", wait_healthy=False)
    r = a.post(GOOD)
    assert r.status_code == 503 and int(r.headers["Retry-After"]) > 0
    assert requests.get(a.url + "/healthz", timeout=10).status_code == 503


def test_bearer_token(tsdb_database, adapter_factory, tmp_path):
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    a = adapter_factory(tsdb_database.role_url("data_collector"), f"--web.bearer-token-file={token}")
    assert a.post(GOOD).status_code == 401
    assert a.post(GOOD, headers={**WRITE_HEADERS, "Authorization": "Bearer wrong"}).status_code == 401
    assert a.post(GOOD, headers={**WRITE_HEADERS, "Authorization": "Bearer s3cret-token"}).status_code == 204
    assert requests.get(a.url + "/metrics", timeout=5).status_code == 401


def test_basic_auth_from_web_config(tsdb_database, adapter_factory, tmp_path):
    cfg = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
    cfg.write_text(f"basic_auth_users:\n  prometheus: '{hashed}'\n")
    a = adapter_factory(tsdb_database.role_url("data_collector"), f"--web.config.file={cfg}")

    def auth(user: str, pw: str) -> dict[str, str]:
        return {**WRITE_HEADERS, "Authorization": "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()}

    assert a.post(GOOD).status_code == 401
    assert a.post(GOOD, headers=auth("prometheus", "bad")).status_code == 401
    assert a.post(GOOD, headers=auth("nobody", "pw")).status_code == 401
    assert a.post(GOOD, headers=auth("prometheus", "pw")).status_code == 204


def test_collector_role_cannot_delete(tsdb_database, adapter_factory):
    """The adapter runs as data_collector: it may write usage rows but never delete them."""
    import psycopg

    adapter_factory(tsdb_database.role_url("data_collector")).post(GOOD)
    with tsdb_database.connect("data_collector") as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM usage_metrics")
