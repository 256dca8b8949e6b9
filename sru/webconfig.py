"""Web configuration in the Prometheus exporter-toolkit file format (``--web.config.file``).

The same file that node_exporter, Prometheus and Alertmanager accept, so operators write it once::

    tls_server_config:
      cert_file: /etc/sru/tls.crt
      key_file: /etc/sru/tls.key
      client_ca_file: /etc/sru/clients-ca.crt        # optional: verify client certificates
      client_auth_type: RequireAndVerifyClientCert   # default when client_ca_file is set
      min_version: TLS12                             # optional: TLS12 (default) or TLS13
    basic_auth_users:
      prometheus: $2b$12$...                         # bcrypt hash (htpasswd -nBC 12 "" | tr -d ':')

Supported ``client_auth_type`` values: ``NoClientCert``, ``VerifyClientCertIfGiven``,
``RequireAndVerifyClientCert``. The toolkit's ``RequestClientCert`` and ``RequireAnyClientCert``
accept certificates *without verifying them*, which Python's ssl module cannot do and which protects
nothing; they, and the other toolkit keys sru does not implement (``cipher_suites``,
``curve_preferences``, ``client_allowed_sans``, inline ``cert``/``key``, ``http_server_config`` …),
are refused with a ConfigError rather than silently ignored.

API (stdlib only at import time; ``bcrypt`` is imported when a config has users):

- ``load_web_config(path, option="--web.config.file") -> WebConfig`` reads and validates a file;
  ``parse_web_config(data, option)`` validates an already-parsed mapping. Every problem raises
  ``sru.errors.ConfigError`` naming the option and the offending key, e.g.
  ``--web.config.file: tls_server_config.client_auth_type: unknown value 'Foo' (expected one of …)``.
  Certificate and key files are loaded during validation, so a bad path fails at startup.
- ``WebConfig.tls``: ``TLSConfig | None`` with ``cert_file``, ``key_file``, ``client_ca_file``,
  ``client_auth_type``, ``min_version`` and ``cert_reqs`` (the ``ssl.CERT_*`` value, for servers
  such as gunicorn that take the file names); ``WebConfig.ssl_context()`` returns a server
  ``ssl.SSLContext`` (or None without TLS) built by ``server_ssl_context(tls)``.
- ``WebConfig.basic_auth``: ``BasicAuth | None``. ``BasicAuth.check(authorization_header) -> bool``
  verifies an ``Authorization: Basic …`` header in time independent of whether the user exists:
  an unknown user is checked against a dummy hash of the same bcrypt cost. Successful checks are
  remembered (as a SHA-256 digest of user, password and hash; bounded) because bcrypt costs tens of
  milliseconds and Prometheus sends the same credentials every scrape. Failures are never cached.
  ``BasicAuth.CHALLENGE`` is the ``WWW-Authenticate`` value for a 401 answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import ssl
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sru.config import load_yaml_file
from sru.errors import ConfigError

OPTION = "--web.config.file"

_CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_UNVERIFIED_CLIENT_AUTH = {"RequestClientCert", "RequireAnyClientCert"}
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_TLS_KEYS = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version"}
_TOOLKIT_TLS_KEYS = {"cert", "key", "client_ca", "max_version", "cipher_suites", "curve_preferences",
                     "prefer_server_cipher_suites", "client_allowed_sans"}
_TOP_KEYS = {"tls_server_config", "basic_auth_users"}
_TOOLKIT_TOP_KEYS = {"http_server_config", "rate_limit"}
# $2a$/$2b$/$2y$, two-digit cost, 22 characters of salt and 31 of hash in bcrypt's base64 alphabet.
_BCRYPT_RE = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_BCRYPT_MAX_PASSWORD = 72  # bytes; bcrypt ignores the rest, so longer passwords are refused


@dataclass(frozen=True)
class TLSConfig:
    cert_file: str
    key_file: str
    client_ca_file: str | None = None
    client_auth_type: str = "NoClientCert"
    min_version: str = "TLS12"

    @property
    def cert_reqs(self) -> ssl.VerifyMode:
        return _CLIENT_AUTH[self.client_auth_type]


class BasicAuth:
    """Constant-time basic-auth check against bcrypt hashes."""

    CHALLENGE = 'Basic realm="sru", charset="UTF-8"'
    _CACHE_SIZE = 256

    def __init__(self, users: Mapping[str, str]) -> None:
        self._users = {name: hashed.encode("ascii") for name, hashed in users.items()}
        # The dummy hash must cost what a real one costs, or timing would tell unknown users apart.
        cost = max(bcrypt_cost(h) for h in users.values())
        try:
            import bcrypt
        except ImportError:
            raise ConfigError(OPTION, "basic_auth_users needs the bcrypt package (pip install bcrypt)") from None
        self._bcrypt = bcrypt
        self._dummy = self._bcrypt.hashpw(os.urandom(16).hex().encode(), self._bcrypt.gensalt(cost))
        self._ok_cache: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def users(self) -> frozenset[str]:
        return frozenset(self._users)

    def check(self, authorization: str | None) -> bool:
        credentials = _parse_basic(authorization)
        if credentials is None:
            return False
        user, password = credentials
        hashed = self._users.get(user)
        key = hashlib.sha256(b"\0".join((user.encode(), password, hashed or b""))).digest()
        if hashed is not None:
            with self._lock:
                if key in self._ok_cache:
                    self._ok_cache.move_to_end(key)
                    return True
        too_long = len(password) > _BCRYPT_MAX_PASSWORD
        try:
            matched = self._bcrypt.checkpw(password[:_BCRYPT_MAX_PASSWORD], hashed or self._dummy)
        except ValueError:  # a hash bcrypt cannot read; validation makes this unreachable in practice
            matched = False
        ok = matched and hashed is not None and not too_long
        if ok:
            with self._lock:
                self._ok_cache[key] = None
                if len(self._ok_cache) > self._CACHE_SIZE:
                    self._ok_cache.popitem(last=False)
        return ok


@dataclass(frozen=True)
class WebConfig:
    tls: TLSConfig | None = None
    basic_auth: BasicAuth | None = field(default=None, compare=False)

    def ssl_context(self) -> ssl.SSLContext | None:
        return server_ssl_context(self.tls) if self.tls else None


def server_ssl_context(tls: TLSConfig) -> ssl.SSLContext:
    """A server-side SSLContext for ``tls``; raises ssl.SSLError/OSError on unreadable files."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _TLS_VERSIONS[tls.min_version]
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.client_ca_file:
        ctx.load_verify_locations(cafile=tls.client_ca_file)
    ctx.verify_mode = tls.cert_reqs
    return ctx


def load_web_config(path: str, option: str = OPTION) -> WebConfig:
    data = load_yaml_file(path, option)
    return parse_web_config(data if data is not None else {}, option, base_dir=os.path.dirname(path))


def parse_web_config(data: Any, option: str = OPTION, base_dir: str = ".") -> WebConfig:
    """Validate a parsed web config. Relative file names are taken relative to ``base_dir`` (the
    config file's directory), as the exporter-toolkit does."""
    if not isinstance(data, Mapping):
        raise ConfigError(option, "the file must hold a mapping at its top level")
    _check_keys(data, _TOP_KEYS, _TOOLKIT_TOP_KEYS, "", option)
    tls = None
    if data.get("tls_server_config") is not None:
        tls = _parse_tls(data["tls_server_config"], option, base_dir)
    auth = None
    users = data.get("basic_auth_users")
    if users is not None:
        if not isinstance(users, Mapping):
            raise ConfigError(option, "basic_auth_users: must map user names to bcrypt hashes")
        for name, hashed in users.items():
            if not isinstance(name, str) or not name or ":" in name:
                raise ConfigError(option, f"basic_auth_users: invalid user name {name!r}")
            if not isinstance(hashed, str) or not _BCRYPT_RE.match(hashed):
                raise ConfigError(option, f"basic_auth_users.{name}: not a bcrypt hash ($2a$/$2b$/$2y$)")
        if users:
            auth = BasicAuth({str(k): str(v) for k, v in users.items()})
    return WebConfig(tls=tls, basic_auth=auth)


def _parse_tls(section: Any, option: str, base_dir: str) -> TLSConfig:
    where = "tls_server_config"
    if not isinstance(section, Mapping):
        raise ConfigError(option, f"{where}: must be a mapping")
    _check_keys(section, _TLS_KEYS, _TOOLKIT_TLS_KEYS, where + ".", option)
    for key in _TLS_KEYS:
        if key in section and section[key] is not None and not isinstance(section[key], str):
            raise ConfigError(option, f"{where}.{key}: must be a string")
    for key in ("cert_file", "key_file"):
        if not section.get(key):
            raise ConfigError(option, f"{where}.{key}: required when {where} is present")

    def path(key: str) -> str | None:
        value = section.get(key) or None
        return os.path.join(base_dir, value) if value else None

    ca = path("client_ca_file")
    auth_type = section.get("client_auth_type") or ("RequireAndVerifyClientCert" if ca else "NoClientCert")
    if auth_type in _UNVERIFIED_CLIENT_AUTH:
        raise ConfigError(option, f"{where}.client_auth_type: {auth_type} accepts unverified client "
                                  "certificates and is not supported; use VerifyClientCertIfGiven or "
                                  "RequireAndVerifyClientCert with client_ca_file")
    if auth_type not in _CLIENT_AUTH:
        raise ConfigError(option, f"{where}.client_auth_type: unknown value {auth_type!r} "
                                  f"(expected one of {', '.join(_CLIENT_AUTH)})")
    if _CLIENT_AUTH[auth_type] != ssl.CERT_NONE and not ca:
        raise ConfigError(option, f"{where}.client_ca_file: required for client_auth_type {auth_type}")
    min_version = section.get("min_version") or "TLS12"
    if min_version not in _TLS_VERSIONS:
        raise ConfigError(option, f"{where}.min_version: unsupported value {min_version!r} "
                                  f"(expected one of {', '.join(_TLS_VERSIONS)})")
    tls = TLSConfig(cert_file=path("cert_file") or "", key_file=path("key_file") or "",
                    client_ca_file=ca, client_auth_type=auth_type, min_version=min_version)
    # Load everything now so a wrong path or a key that does not match fails at startup, named.
    for key in ("cert_file", "key_file", "client_ca_file"):
        p = getattr(tls, key)
        if p and not os.access(p, os.R_OK):
            raise ConfigError(option, f"{where}.{key}: cannot read {p}")
    try:
        server_ssl_context(tls)
    except ssl.SSLError as exc:
        raise ConfigError(option, f"{where}: cannot load certificate, key or CA: {exc.reason or exc}") from None
    return tls


def _check_keys(section: Mapping[str, Any], known: set[str], toolkit_only: set[str], prefix: str, option: str) -> None:
    for key in section:
        if key in known:
            continue
        if key in toolkit_only:
            raise ConfigError(option, f"{prefix}{key}: not supported by sru")
        raise ConfigError(option, f"{prefix}{key}: unknown key")


def _parse_basic(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None


def bcrypt_cost(hashed: str) -> int:
    """The cost of a hash that parse_web_config has already checked against _BCRYPT_RE."""
    match = _BCRYPT_RE.match(hashed)
    if match is None:
        raise ValueError("not a bcrypt hash ($2a$/$2b$/$2y$)")
    return int(match.group(1))

