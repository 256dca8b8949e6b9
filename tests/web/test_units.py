"""Parsing and drawing helpers of the console (pure functions; the rest is tested against real servers)."""

from __future__ import annotations

import bcrypt
import pytest

from sru.errors import ConfigError
from web.accounts import parse_accounts
from web.ratelimit import LoginLimiter
from web.sparkline import points, sparkline

HASH = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()


def test_points_break_at_gaps_and_clamp() -> None:
    assert points([0, 100, None, 50], 30, 10) == ["0.0,10.0 10.0,0.0", "30.0,5.0"]
    assert points([150, -5], 10, 10) == ["0.0,0.0 10.0,10.0"]
    assert points([], 10, 10) == []


def test_sparkline_is_svg_with_escaped_label() -> None:
    svg = sparkline([1, 2, 3], label='<x">')
    assert svg.startswith("<svg") and "&lt;x&#34;&gt;" in svg and "<x" not in svg.replace("<svg", "")


def test_accounts_verify_and_errors_name_the_key() -> None:
    accounts = parse_accounts({"accounts": {"alice": {"password_hash": HASH, "role": "operator"}}})
    assert accounts.verify("alice", b"pw").can_act
    assert accounts.verify("alice", b"px") is None and accounts.verify("bob", b"pw") is None
    assert accounts.verify("alice", b"pw" + b"x" * 80) is None  # over bcrypt's 72 bytes: refused
    for doc, where in (({"accounts": {"a": {"password_hash": "plain", "role": "viewer"}}}, "accounts.a.password_hash"),
                       ({"accounts": {"a": {"password_hash": HASH, "role": "admin"}}}, "accounts.a.role"),
                       ({"accounts": {"a b": {"password_hash": HASH, "role": "viewer"}}}, "accounts.a b"),
                       ({"accounts": {"a": {"password_hash": HASH, "role": "viewer", "x": 1}}}, "accounts.a.x"),
                       ({"accounts": {"a": {"password_hash": HASH, "role": "viewer", "token_sha256": "ab"}}},
                        "accounts.a.token_sha256"),
                       ({"users": {}}, "one key")):
        with pytest.raises(ConfigError) as e:
            parse_accounts(doc)
        assert where in str(e.value) and "--web.accounts-file" in str(e.value)


def test_login_limiter() -> None:
    lim = LoginLimiter(max_failures=2, window_s=60)
    assert lim.retry_after("ip:a") == 0
    lim.failed("ip:a", "name:x")
    lim.failed("ip:a", "name:y")
    assert lim.retry_after("ip:a") > 0 and lim.retry_after("name:x") == 0 and lim.retry_after("ip:b") == 0
