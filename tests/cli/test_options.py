"""The one CLI vocabulary of sru/options.py: durations, sizes, secret files, --format, and the
renamed flags still accepted under their old spelling."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from sru.cli import build_parser
from sru.errors import ConfigError
from sru.options import duration_seconds, format_duration, parse_duration, parse_size, read_secret_file


@pytest.mark.parametrize(("text", "seconds"), [
    ("15m", 900), ("1h30m", 5400), ("500ms", 0.5), ("7d", 604800), ("2w", 1209600), ("1y", 31536000),
    ("0s", 0), ("1d12h", 129600),
])
def test_prometheus_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["soon", "5", "1m1h", "", "1.5h", "-1m", "5 m"])
def test_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration such as"):
        duration_seconds(text)


def test_parse_duration_names_the_option() -> None:
    assert parse_duration("15m", "--x") == timedelta(minutes=15)
    with pytest.raises(ConfigError, match=r"^--window: 'soon' is not a duration"):
        parse_duration("soon", "--window")
    with pytest.raises(ConfigError, match=r"^--every: '0s' must be positive$"):
        parse_duration("0s", "--every")
    # Bare seconds only where a flag took them before, and then with a warning.
    with pytest.raises(ConfigError, match="is not a duration"):
        parse_duration("900", "--x")


def test_legacy_seconds_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="sru.options"):
        assert parse_duration("900", "--sessions.stale-after", legacy_seconds=True) == timedelta(minutes=15)
    assert "--sessions.stale-after: a bare number of seconds (900) is deprecated: write a duration such as 15m" \
        in caplog.text


@pytest.mark.parametrize(("seconds", "text"), [(900, "15m"), (5400, "1h30m"), (0.5, "500ms"), (90061, "1d1h1m1s")])
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text and duration_seconds(text) == seconds


@pytest.mark.parametrize(("text", "size"), [("16MiB", 16 << 20), ("4KiB", 4096), ("1024", 1024), ("512KB", 512 << 10),
                                            ("1GiB", 1 << 30), (" 2 MB ", 2 << 20)])
def test_sizes(text: str, size: int) -> None:
    assert parse_size(text, "--x") == size


@pytest.mark.parametrize("text", ["16 megs", "1.5MiB", "-1", "MiB"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^--web.max-body-size: .* is not a size such as"):
        parse_size(text, "--web.max-body-size")


def test_secret_file(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  s3cret\n")
    assert read_secret_file(str(token), "--web.bearer-token-file") == "s3cret"
    token.write_text("\n")
    with pytest.raises(ConfigError, match=rf"^--web.bearer-token-file: {token} is empty$"):
        read_secret_file(str(token), "--web.bearer-token-file")
    with pytest.raises(ConfigError, match=r"^--web.bearer-token-file: cannot read .*/missing: No such file"):
        read_secret_file(str(tmp_path / "missing"), "--web.bearer-token-file")


def test_one_spelling_with_old_ones_as_aliases() -> None:
    parser = build_parser()
    adapter = parser.parse_args(["adapter", "--write.max-body-size", "4KiB", "--sessions.stale-after", "900"])
    assert adapter.max_body == "4KiB" and adapter.stale_after == "900"
    assert parser.parse_args(["adapter"]).stale_after == "15m"
    receiver = parser.parse_args(["alert-receiver", "--web.max-request-bytes", "4096"])
    assert receiver.max_request_bytes == "4096"
    assert parser.parse_args(["alert-receiver", "--web.max-body-size", "2MiB"]).max_request_bytes == "2MiB"
    assert parser.parse_args(["alerts", "list", "--json"]).format == "json"
    assert parser.parse_args(["alerts", "list", "--format", "json"]).format == "json"
    assert parser.parse_args(["alerts", "list"]).format == "table"
    assert parser.parse_args(["report", "--format", "html"]).format == "html"
    assert parser.parse_args(["reports", "list", "--format", "json"]).format == "json"


def test_db_cli_does_not_import_the_optimizer() -> None:
    import sys

    from tests.support.proc import run

    code = "import sys, sru.db_cli; sys.exit(any(m.startswith('optimizer') for m in sys.modules))"
    assert run([sys.executable, "-c", code], check=False).returncode == 0
