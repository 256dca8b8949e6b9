"""sru.webconfig: validation of the exporter-toolkit format and the basic-auth check."""

from __future__ import annotations

import base64
import ssl
import statistics
import time
from pathlib import Path

import bcrypt
import pytest

from sru.errors import ConfigError
from sru.webconfig import load_web_config, parse_web_config
from tests.fixtures.certs import Pki

HASH = bcrypt.hashpw(b"s3cret", bcrypt.gensalt(6)).decode()


def header(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_accepts_only_the_right_password() -> None:
    auth = parse_web_config({"basic_auth_users": {"prom": HASH}}).basic_auth
    assert auth is not None
    assert auth.check(header("prom", "s3cret"))
    assert auth.check(header("prom", "s3cret"))  # served from the success cache
    assert not auth.check(header("prom", "wrong"))
    assert not auth.check(header("nobody", "s3cret"))
    assert not auth.check(header("prom", "s3cret" + "x" * 80))  # > 72 bytes: bcrypt would truncate
    for bad in (None, "", "Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"nocolon").decode()):
        assert not auth.check(bad)


def test_unknown_user_costs_as_much_as_a_known_one() -> None:
    auth = parse_web_config({"basic_auth_users": {"prom": HASH}}).basic_auth
    assert auth is not None

    def timed(h: str) -> float:
        t = time.perf_counter()
        auth.check(h)
        return time.perf_counter() - t

    known = statistics.median(timed(header("prom", f"wrong{i}")) for i in range(15))
    unknown = statistics.median(timed(header(f"ghost{i}", "wrong")) for i in range(15))
    # Both run one bcrypt of cost 6 (~1-4 ms); a skipped check would be ~100x faster.
    assert unknown > known / 3


@pytest.mark.parametrize("data, message", [
    ([], "mapping at its top level"),
    ({"basic_auth_user": {}}, "basic_auth_user: unknown key"),
    ({"http_server_config": {"http2": False}}, "http_server_config: not supported"),
    ({"basic_auth_users": ["a"]}, "basic_auth_users: must map"),
    ({"basic_auth_users": {"prom": "plaintext"}}, "basic_auth_users.prom: not a bcrypt hash"),
    ({"basic_auth_users": {"a:b": HASH}}, "invalid user name"),
    ({"tls_server_config": {"key_file": "k"}}, "tls_server_config.cert_file: required"),
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "cipher_suites": []}},
     "tls_server_config.cipher_suites: not supported"),
    ({"tls_server_config": {"cert_file": "c", "key_file": "k", "bogus": 1}}, "tls_server_config.bogus: unknown key"),
    ({"tls_server_config": {"cert_file": "/nonexistent.crt", "key_file": "/nonexistent.key"}},
     "tls_server_config.cert_file: cannot read"),
])
def test_bad_config_names_the_key(data: object, message: str) -> None:
    with pytest.raises(ConfigError, match="--web.config.file") as exc:
        parse_web_config(data)
    assert message in str(exc.value)


def test_tls_options_are_validated(pki: Pki) -> None:
    base = {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key)}
    with pytest.raises(ConfigError, match="client_auth_type: unknown value 'Foo'"):
        parse_web_config({"tls_server_config": {**base, "client_auth_type": "Foo"}})
    with pytest.raises(ConfigError, match="client_auth_type: RequireAnyClientCert .* not supported"):
        parse_web_config({"tls_server_config": {**base, "client_auth_type": "RequireAnyClientCert"}})
    with pytest.raises(ConfigError, match="client_ca_file: required"):
        parse_web_config({"tls_server_config": {**base, "client_auth_type": "RequireAndVerifyClientCert"}})
    with pytest.raises(ConfigError, match="min_version: unsupported value 'TLS10'"):
        parse_web_config({"tls_server_config": {**base, "min_version": "TLS10"}})
    with pytest.raises(ConfigError, match="tls_server_config: cannot load"):
        parse_web_config({"tls_server_config": {**base, "key_file": str(pki.client_key)}})  # key of another cert
    cfg = parse_web_config({"tls_server_config": {**base, "client_ca_file": str(pki.ca)}})
    assert cfg.tls is not None and cfg.tls.client_auth_type == "RequireAndVerifyClientCert"
    assert cfg.tls.cert_reqs == ssl.CERT_REQUIRED
    assert isinstance(cfg.ssl_context(), ssl.SSLContext)


def test_load_resolves_relative_paths_and_names_yaml_errors(tmp_path: Path, pki: Pki) -> None:
    (tmp_path / "s.crt").write_bytes(pki.server_cert.read_bytes())
    (tmp_path / "s.key").write_bytes(pki.server_key.read_bytes())
    cfg_file = tmp_path / "web.yml"
    cfg_file.write_text(f"tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n"
                        f"basic_auth_users:\n  prom: '{HASH}'\n")
    cfg = load_web_config(str(cfg_file))
    assert cfg.tls is not None and cfg.tls.cert_file == str(tmp_path / "s.crt")
    assert cfg.basic_auth is not None and cfg.basic_auth.users == {"prom"}
    cfg_file.write_text("tls_server_config: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_web_config(str(cfg_file))
    with pytest.raises(ConfigError, match="cannot read"):
        load_web_config(str(tmp_path / "missing.yml"))
    cfg_file.write_text("")
    assert load_web_config(str(cfg_file)) == parse_web_config({})
