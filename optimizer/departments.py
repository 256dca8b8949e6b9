"""`sru users import FILE`: departments from the mapping a lab keeps, YAML ``{user: department}``
or CSV with a header ``user,department``. The file is the whole truth: users it does not name become
unassigned (NULL; the ledger shows them as ``unassigned``), names it lists that sru has not seen yet
are created, so their usage lands in the right department from the first sample. Idempotent: a
second import of the same file changes nothing."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from sru.errors import ConfigError

if TYPE_CHECKING:
    import psycopg

MAX_FILE_BYTES = 16 << 20     # a lab's user list is kilobytes; refuse what cannot be one
MAX_NAME = 256                # users.username CHECK
MAX_DEPARTMENT = 200


@dataclass(frozen=True)
class Changes:
    assigned: int      # users whose department was set or changed
    unassigned: int    # users who had a department and are not in the file
    created: int       # users named in the file that sru had not seen
    unchanged: int


def _check(user: object, dept: object, where: str, seen: dict[str, str]) -> tuple[str, str]:
    if not isinstance(user, str) or not user.strip():
        raise ConfigError("FILE", f"{where}: the user name is empty or not text")
    if not isinstance(dept, str) or not dept.strip():
        raise ConfigError("FILE", f"{where}: user {user!r} has an empty department or one that is not text")
    user, dept = user.strip(), dept.strip()
    if len(user) > MAX_NAME or "\x00" in user:
        raise ConfigError("FILE", f"{where}: user name longer than {MAX_NAME} characters or with NUL")
    if len(dept) > MAX_DEPARTMENT or "\x00" in dept:
        raise ConfigError("FILE", f"{where}: department longer than {MAX_DEPARTMENT} characters or with NUL")
    if user in seen and seen[user] != dept:
        raise ConfigError("FILE", f"{where}: user {user!r} is listed twice, in {seen[user]!r} and {dept!r}")
    return user, dept


def read_departments(path: str) -> dict[str, str]:
    """user -> department from ``path``; ConfigError naming the file and the bad line otherwise."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError("FILE", f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError("FILE", f"{path} is larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("FILE", f"{path} is not UTF-8 (byte {exc.start})") from None
    if path.lower().endswith(".csv"):
        return _read_csv(path, text)
    return _read_yaml(path, text)


def _read_csv(path: str, text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["user", "department"]:
        raise ConfigError("FILE", f"{path}:1: the first line must be the header user,department")
    for row in reader:
        where = f"{path}:{reader.line_num}"
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) != 2:
            raise ConfigError("FILE", f"{where}: expected 2 fields (user,department), found {len(row)}")
        user, dept = _check(row[0], row[1], where, out)
        out[user] = dept
    return out


def _read_yaml(path: str, text: str) -> dict[str, str]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise ConfigError("FILE", f"{path} is not valid YAML: {exc}") from None
    if node is None:
        return {}
    if not isinstance(node, yaml.MappingNode):
        raise ConfigError("FILE", f"{path}:{node.start_mark.line + 1}: the top level must be a mapping "
                                  "user: department")
    out: dict[str, str] = {}
    for key, value in node.value:
        where = f"{path}:{key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode) or not isinstance(value, yaml.ScalarNode):
            raise ConfigError("FILE", f"{where}: each entry must be user: department")
        user, dept = _check(key.value, value.value, where, out)
        out[user] = dept
    return out


def apply_departments(conn: psycopg.Connection, mapping: dict[str, str], *, dry_run: bool = False) -> Changes:
    """Make users.department what ``mapping`` says (users not in it: NULL); commits unless ``dry_run``."""
    users = sorted(mapping)
    depts = [mapping[u] for u in users]
    with conn.transaction(force_rollback=dry_run):
        known = {name: dept for name, dept in conn.execute("SELECT username, department FROM users")}
        created = conn.execute(
            "INSERT INTO users (username) SELECT unnest(%s::text[]) ON CONFLICT (username) DO NOTHING",
            (users,)).rowcount
        assigned = conn.execute(
            "UPDATE users u SET department = m.dept FROM unnest(%s::text[], %s::text[]) AS m(username, dept) "
            "WHERE u.username = m.username AND u.department IS DISTINCT FROM m.dept", (users, depts)).rowcount
        unassigned = conn.execute(
            "UPDATE users SET department = NULL WHERE department IS NOT NULL AND NOT username = ANY(%s)",
            (users,)).rowcount
    unchanged = sum(1 for name, dept in known.items() if mapping.get(name) == dept
                    or (name not in mapping and dept is None))
    return Changes(assigned, unassigned, created, unchanged)
