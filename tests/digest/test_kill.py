"""kill -9 of the sender in the middle of a run to 20 destinations, five times, then a run to the
end: every destination has the digest, and exactly once. The only copies allowed are the ones the
ledger owns up to (``ambiguous``: the sender died after the end of a message left and before it
could mark the row sent), and those carry the same Message-ID / Idempotency-Key as the first."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.digest.conftest import write_config
from tests.digest.sinks import HttpSink, SmtpSink

SRU = str(Path(sys.executable).parent / "sru")


def test_kill_9_five_times_each_destination_gets_the_digest_once(tsdb_database, smtp_sink: SmtpSink,
                                                                  http_sink: HttpSink, tmp_path: Path) -> None:
    with tsdb_database.connect() as conn:
        conn.execute("INSERT INTO systems (hostname) VALUES ('lab-01')")
    smtp_sink.mails.clear()
    http_sink.posts.clear()
    smtp_sink.delay = http_sink.delay = 0.03   # a run lasts about a second: room to land inside it
    config = write_config(tmp_path, smtp_sink, http_sink, emails=7, slacks=7, hooks=6)
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    cmd = [SRU, "digest", "--config", str(config), "--database-url", tsdb_database.role_url("digest_sender"),
           "--now", now]
    rng = random.Random(int(os.environ.get("SRU_TEST_SEED", "21")))

    def received() -> int:
        return len(smtp_sink.mails) + len(http_sink.posts)

    kills = 0
    try:
        while kills < 5:
            before = received()
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 30
            while received() < before + 1 and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.05))
            if proc.poll() is not None:
                break   # it finished before we could kill it: the rest is the final run's
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
        for _ in range(3):   # runs to the end (a killed backend may take a moment to go)
            subprocess.run(cmd, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            with tsdb_database.connect() as conn:
                left = conn.execute("SELECT count(*) FROM digest_deliveries WHERE state <> 'sent'").fetchone()[0]
            if not left:
                break
    finally:
        smtp_sink.delay = http_sink.delay = 0.0
    assert kills == 5

    with tsdb_database.connect() as conn:
        ledger = {r[0]: r[1:] for r in conn.execute(
            "SELECT destination, state, ambiguous, message_id FROM digest_deliveries")}
    assert len(ledger) == 20 and all(state == "sent" for state, _, _ in ledger.values())
    by_dest: dict[str, list[str]] = {d: [] for d in ledger}
    for mail in smtp_sink.mails:
        dest = "mail-" + mail.rcpt[0].removeprefix("head").split("@")[0]
        by_dest[dest].append(mail.message["Message-ID"])
    for post in http_sink.posts:
        kind, i = post.path.strip("/").split("/")
        by_dest[f"{kind}-{i}"].append("<" + post.headers["Idempotency-Key"] + ">")
    for dest, ids in by_dest.items():
        _, ambiguous, message_id = ledger[dest]
        assert set(ids) == {message_id}, (dest, ids)              # never skipped, never another message
        # a copy only where the ledger owns up to one (an ambiguous row may also have been cut off
        # before its last byte left, and then arrived once)
        assert 1 <= len(ids) <= 1 + ambiguous, (dest, len(ids), ambiguous)
    print(f"kills {kills}, deliveries {Counter(len(v) for v in by_dest.values())}, "
          f"ambiguous {sum(a for _, a, _ in ledger.values())}")
