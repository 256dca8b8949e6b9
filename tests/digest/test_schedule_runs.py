"""The schedule as `sru optimize --every` runs it (digest.run.scheduled after each pass) under a
clock that is passed in: nothing before Monday 07:00, the week's digest at 07:00, nothing more that
week, and after a missed Monday the missed period once. And the command line: previews, and errors
that name the option."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from digest import config as dconfig
from digest.run import scheduled
from tests.digest.conftest import write_config
from tests.digest.sinks import HttpSink, SmtpSink
from tests.support.proc import sru

UTC = UTC


def test_schedule_sends_each_period_once_and_catches_up_once(tsdb_database, smtp_sink: SmtpSink, http_sink: HttpSink,
                                                             tmp_path: Path) -> None:
    with tsdb_database.connect() as conn:
        conn.execute("INSERT INTO systems (hostname) VALUES ('lab-01')")
    http_sink.posts.clear()
    cfg = dconfig.load(str(write_config(tmp_path, smtp_sink, http_sink, emails=0, slacks=0)))
    monday = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)      # a Monday; the clock is ours, not the machine's
    clock = [monday - timedelta(days=3)]
    step = scheduled(lambda: tsdb_database.connect("digest_sender", autocommit=True), cfg, clock=lambda: clock[0])

    def tick(at: datetime) -> list[str]:
        clock[0] = at
        before = len(http_sink.posts)
        step()
        return [p.body["period"]["first_day"] for p in http_sink.posts[before:]]

    # first start on a Friday: the period that ended last Monday is caught up, once
    assert tick(monday - timedelta(days=3)) == ["2026-11-23"]
    assert tick(monday - timedelta(minutes=1)) == []
    assert tick(monday) == ["2026-11-30"]
    assert tick(monday + timedelta(hours=1)) == []
    assert tick(monday + timedelta(days=6, hours=23)) == []
    # the optimizer was down over the next Monday: the missed week goes out once when it is back
    assert tick(monday + timedelta(days=9)) == ["2026-12-07"]
    assert tick(monday + timedelta(days=9, minutes=5)) == []
    with tsdb_database.connect() as conn:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE state = 'sent') FROM digest_deliveries"
                            ).fetchone() == (3, 3)


def test_optimize_every_sends_the_digest(tsdb_database, smtp_sink: SmtpSink, http_sink: HttpSink,
                                         tmp_path: Path) -> None:
    """The wiring of `sru optimize --every … --digest.config`: after its first pass the loop has sent
    the digest (an empty fleet: the pass is instant) and written the metrics file."""
    import subprocess
    import sys

    from tests.fixtures.net import wait_for

    with tsdb_database.connect() as conn:
        conn.execute("INSERT INTO systems (hostname) VALUES ('lab-01')")
        conn.execute("DO $$BEGIN CREATE ROLE sru_t_optdigest LOGIN IN ROLE analyst, digest_sender; "
                     "EXCEPTION WHEN duplicate_object THEN NULL; END$$")
    http_sink.posts.clear()
    config = write_config(tmp_path, smtp_sink, http_sink, emails=0, slacks=0)
    prom = tmp_path / "digest.prom"
    proc = subprocess.Popen([sys.executable, "-m", "sru.cli", "optimize", "--every", "1h", "--digest.config", str(config),
                             "--digest.metrics-textfile", str(prom), "--database-url",
                             tsdb_database.cluster.url(tsdb_database.name, "sru_t_optdigest")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: prom.exists(), 60, "the digest step of sru optimize --every", process=proc)
    finally:
        proc.kill()
        proc.wait()
    assert [p.path for p in http_sink.posts] == ["/hook/0"]
    assert 'sru_digest_deliveries{state="sent"} 1.0' in prom.read_text()


def test_command_line(tsdb_database, tmp_path: Path) -> None:
    with tsdb_database.connect() as conn:
        conn.execute("INSERT INTO systems (hostname) VALUES ('lab-01')")
    url = tsdb_database.role_url("analyst")   # a preview only reads
    out = tmp_path / "digest.html"
    r = sru("digest", "--preview", "--database-url", url, "--now", "2026-12-07T08:00Z", "-o", str(out))
    assert r.returncode == 0, r.stderr
    html = out.read_text()
    assert "Mon 30 Nov – Sun 06 Dec 2026" in html and 'src="data:image/png;base64,' in html
    r = sru("digest", "--preview", "--format", "text", "--department", "physics", "--database-url", url)
    assert r.returncode == 0 and r.stdout.startswith("Digest for physics"), r.stderr
    r = sru("digest", "--preview", "--department", "x" * 201, "--database-url", url)
    assert r.returncode == 1 and "--department: a department name is 1-200 characters" in r.stderr
    (tmp_path / "bad.yml").write_text("routes: {fleet: [nobody]}\ndestinations: {x: {webhook_url: 'https://x'}}\n")
    r = sru("digest", "--config", str(tmp_path / "bad.yml"), "--database-url", url)
    assert r.returncode == 1 and "routes.fleet[0]: no destination 'nobody'" in r.stderr
    r = sru("optimize", "--digest.config", str(tmp_path / "bad.yml"), "--database-url", url)
    assert r.returncode == 1 and "--digest.config" in r.stderr
