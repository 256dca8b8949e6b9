"""Console accounts: a YAML file (``--web.accounts-file``) of bcrypt password hashes and roles.

Why a file and not a table: the console connects with a read-only role (dashboard_readonly, which
Grafana shares) and acts only through SECURITY DEFINER functions, so it can neither manage nor
should it read credentials from the database; a file keeps the hashes out of what Grafana can
SELECT, is managed like the exporter-toolkit's ``basic_auth_users`` (same bcrypt hashes), and is
deployed with the other secrets. The account's name is what every action records::

    accounts:
      alice:
        password_hash: $2b$12$...     # sru web hash-password
        role: operator                 # viewer (reads) or operator (also acts)
        token_sha256: 9f86d0...        # optional: SHA-256 of an API bearer token (sru web new-token)
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sru.config import load_yaml_file
from sru.errors import ConfigError

OPTION = "--web.accounts-file"
ROLES = ("viewer", "operator")
_NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
_BCRYPT_RE = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")
MAX_PASSWORD_BYTES = 72  # bcrypt ignores the rest, so longer passwords are refused


@dataclass(frozen=True)
class Account:
    name: str
    role: str
    password_hash: bytes
    token_sha256: str | None = None

    @property
    def can_act(self) -> bool:
        return self.role == "operator"


class Accounts:
    def __init__(self, accounts: Mapping[str, Account]) -> None:
        import bcrypt

        self._accounts = dict(accounts)
        self._bcrypt = bcrypt
        cost = max((int(_BCRYPT_RE.match(a.password_hash.decode()).group(1))  # type: ignore[union-attr]
                    for a in accounts.values()), default=12)
        # An unknown name is checked against a dummy hash of the same cost: timing tells nothing.
        self._dummy = bcrypt.hashpw(os.urandom(16).hex().encode(), bcrypt.gensalt(cost))
        self._ok: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, name: str) -> Account | None:
        return self._accounts.get(name)

    def verify(self, name: str, password: bytes, *, cache: bool = False) -> Account | None:
        """The account when ``password`` is right. ``cache`` remembers a success (as a digest) so an
        API client sending basic auth on every request does not pay bcrypt's ~0.2 s each time."""
        account = self._accounts.get(name)
        key = hashlib.sha256(b"\0".join((name.encode(), password, account.password_hash if account else b""))).digest()
        if cache and account is not None:
            with self._lock:
                if key in self._ok:
                    return account
        try:
            ok = self._bcrypt.checkpw(password[:MAX_PASSWORD_BYTES], account.password_hash if account else self._dummy)
        except ValueError:
            ok = False
        if not ok or account is None or len(password) > MAX_PASSWORD_BYTES:
            return None
        if cache:
            with self._lock:
                self._ok[key] = None
                if len(self._ok) > 256:
                    self._ok.popitem(last=False)
        return account

    def by_token(self, token: str) -> Account | None:
        digest = hashlib.sha256(token.encode()).hexdigest()
        found = None
        for account in self._accounts.values():  # compare every one: no early exit to time
            if account.token_sha256 and hmac.compare_digest(account.token_sha256, digest):
                found = account
        return found


def parse_accounts(data: Any, option: str = OPTION) -> Accounts:
    if not isinstance(data, Mapping) or set(data) - {"accounts"}:
        raise ConfigError(option, "the file must hold a mapping with one key, 'accounts'")
    entries = data.get("accounts") or {}
    if not isinstance(entries, Mapping) or not entries:
        raise ConfigError(option, "accounts: must map at least one account name to its settings")
    out: dict[str, Account] = {}
    for name, entry in entries.items():
        where = f"accounts.{name}"
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(option, f"{where}: invalid name (1-64 of A-Z a-z 0-9 . _ @ -)")
        if not isinstance(entry, Mapping):
            raise ConfigError(option, f"{where}: must be a mapping")
        unknown = set(entry) - {"password_hash", "role", "token_sha256"}
        if unknown:
            raise ConfigError(option, f"{where}.{sorted(unknown)[0]}: unknown key")
        hashed = entry.get("password_hash")
        if not isinstance(hashed, str) or not _BCRYPT_RE.match(hashed):
            raise ConfigError(option, f"{where}.password_hash: not a bcrypt hash ($2a$/$2b$/$2y$)")
        role = entry.get("role")
        if role not in ROLES:
            raise ConfigError(option, f"{where}.role: must be one of {', '.join(ROLES)}, not {role!r}")
        token = entry.get("token_sha256")
        if token is not None and (not isinstance(token, str) or not _HEX64_RE.match(token)):
            raise ConfigError(option, f"{where}.token_sha256: must be 64 lower-case hex digits")
        out[name] = Account(name, role, hashed.encode("ascii"), token)
    return Accounts(out)


def load_accounts(path: str, option: str = OPTION) -> Accounts:
    return parse_accounts(load_yaml_file(path, option), option)
