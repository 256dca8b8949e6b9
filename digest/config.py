"""The digest's one YAML file: schedule, console URL, SMTP server, destinations and routes (who
gets which digest where). Secrets (the SMTP password, Slack webhook URLs, webhook tokens) are read
from files named here, like every other sru service's secrets. Every bad option is named in the
error by its path in the file (``routes.departments.physics[1]``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import yaml

from digest.schedule import Schedule, parse_schedule
from sru.errors import ConfigError
from sru.options import duration_seconds, read_secret_file

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EMAIL = re.compile(r"^[^@\s<>,]+@[^@\s<>,]+$")
MAX_FILE = 1 << 20


@dataclass(frozen=True)
class Smtp:
    host: str
    port: int = 587
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: str | None = None
    sender: str = "sru@localhost"
    timeout: float = 30.0
    ca_file: str | None = None   # a private CA for the server's certificate (default: the system's)


@dataclass(frozen=True)
class Destination:
    name: str
    channel: str                 # email | slack | webhook
    to: tuple[str, ...] = ()     # email
    url: str | None = None       # slack, webhook
    token: str | None = None     # webhook: Authorization: Bearer


@dataclass(frozen=True)
class Config:
    console_url: str
    schedule: Schedule
    destinations: dict[str, Destination]
    fleet: tuple[str, ...]
    departments: dict[str, tuple[str, ...]]
    smtp: Smtp | None = None
    attempts: int = 5
    backoff: timedelta = timedelta(minutes=1)
    max_backoff: timedelta = timedelta(hours=1)
    http_timeout: float = 30.0
    source: str = field(default="", compare=False)

    def routes(self) -> dict[str, tuple[str, ...]]:
        """Digest key → destination names."""
        out = {"fleet": self.fleet} if self.fleet else {}
        out.update({f"department:{d}": names for d, names in self.departments.items()})
        return out


def _mapping(doc: Any, where: str, allowed: set[str]) -> dict[str, Any]:
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(where, "must be a mapping")
    unknown = sorted(str(k) for k in doc if k not in allowed)
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}" if not where.endswith(":") else f"{where} {unknown[0]}",
                          f"unknown option (known: {', '.join(sorted(allowed))})")
    return doc


def _duration(value: Any, where: str) -> timedelta:
    try:
        seconds = duration_seconds(value)
    except ValueError as exc:
        raise ConfigError(where, str(exc)) from None
    if seconds <= 0:
        raise ConfigError(where, "must be positive")
    return timedelta(seconds=seconds)


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or urlsplit(value).scheme not in ("http", "https") or not urlsplit(value).hostname:
        raise ConfigError(where, "must be an http:// or https:// URL")
    return value


def _names(value: Any, where: str, known: dict[str, Destination]) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ConfigError(where, "must be a non-empty list of destination names")
    for i, name in enumerate(value):
        if name not in known:
            raise ConfigError(f"{where}[{i}]", f"no destination {name!r} (known: {', '.join(sorted(known)) or 'none'})")
    if len(set(value)) != len(value):
        raise ConfigError(where, "names a destination twice")
    return tuple(value)


def _readable(path: Any, where: str) -> str | None:
    if path is None:
        return None
    try:
        with open(str(path), "rb"):
            return str(path)
    except OSError as exc:
        raise ConfigError(where, f"cannot read {path}: {exc.strerror}") from None


def load(path: str, option: str = "--config") -> Config:
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_FILE:
        raise ConfigError(option, f"{path} is larger than 1 MiB")
    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(option, f"{path} is not YAML: {exc}") from None
    return parse(doc, path)


def parse(doc: Any, source: str = "digest config") -> Config:
    def err(where: str) -> str:
        return f"{source}: {where}"

    top = _mapping(doc, f"{source}:", {"console_url", "schedule", "smtp", "retry", "destinations", "routes", "http_timeout"})
    if not top:
        raise ConfigError(err("routes"), "the file names no routes")
    console_url = _url(top.get("console_url", "http://localhost:9850"), err("console_url"))
    schedule = parse_schedule(top.get("schedule"), err("schedule"))
    smtp = None
    if "smtp" in top:
        s = _mapping(top["smtp"], err("smtp"), {"host", "port", "starttls", "ssl", "username", "password_file",
                                                "from", "timeout", "ca_file"})
        if not isinstance(s.get("host"), str) or not s["host"]:
            raise ConfigError(err("smtp.host"), "must name the SMTP server")
        port = s.get("port", 587)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(err("smtp.port"), f"{port!r} is not a port number")
        for flag in ("starttls", "ssl"):
            if not isinstance(s.get(flag, False), bool):
                raise ConfigError(err(f"smtp.{flag}"), "must be true or false")
        if s.get("starttls", not s.get("ssl", False)) and s.get("ssl", False):
            raise ConfigError(err("smtp.ssl"), "ssl (implicit TLS, port 465) and starttls exclude each other")
        user = s.get("username")
        if user is not None and not isinstance(user, str):
            raise ConfigError(err("smtp.username"), "must be text")
        password = read_secret_file(str(s["password_file"]), err("smtp.password_file")) if "password_file" in s else None
        if (user is None) != (password is None):
            raise ConfigError(err("smtp.password_file" if user else "smtp.username"),
                              "username and password_file go together")
        sender = s.get("from", "sru@localhost")
        if not isinstance(sender, str) or not EMAIL.match(sender):
            raise ConfigError(err("smtp.from"), f"{sender!r} is not an e-mail address")
        smtp = Smtp(s["host"], port, bool(s.get("starttls", not s.get("ssl", False))), bool(s.get("ssl", False)),
                    user, password, sender, _duration(s.get("timeout", "30s"), err("smtp.timeout")).total_seconds(),
                    _readable(s.get("ca_file"), err("smtp.ca_file")))
    retry = _mapping(top.get("retry"), err("retry"), {"attempts", "backoff", "max_backoff"})
    attempts = retry.get("attempts", 5)
    if not isinstance(attempts, int) or isinstance(attempts, bool) or not 1 <= attempts <= 100:
        raise ConfigError(err("retry.attempts"), f"{attempts!r} is not a number from 1 to 100")
    backoff = _duration(retry.get("backoff", "1m"), err("retry.backoff"))
    max_backoff = _duration(retry.get("max_backoff", "1h"), err("retry.max_backoff"))
    http_timeout = _duration(top.get("http_timeout", "30s"), err("http_timeout")).total_seconds()

    dests: dict[str, Destination] = {}
    raw_dests = top.get("destinations")
    if not isinstance(raw_dests, dict) or not raw_dests:
        raise ConfigError(err("destinations"), "must map destination names to email, slack or webhook settings")
    for name, spec in raw_dests.items():
        where = err(f"destinations.{name}")
        if not isinstance(name, str) or not NAME.match(name):
            raise ConfigError(where, "a destination name is 1-64 letters, digits, '.', '_' or '-'")
        d = _mapping(spec, where, {"email", "slack_url_file", "webhook_url", "token_file"})
        kinds = [k for k in ("email", "slack_url_file", "webhook_url") if k in d]
        if len(kinds) != 1:
            raise ConfigError(where, "needs exactly one of email, slack_url_file, webhook_url")
        if "token_file" in d and kinds != ["webhook_url"]:
            raise ConfigError(f"{where}.token_file", "only a webhook takes a token")
        if kinds == ["email"]:
            to = d["email"] if isinstance(d["email"], list) else [d["email"]]
            for i, addr in enumerate(to):
                if not isinstance(addr, str) or not EMAIL.match(addr):
                    raise ConfigError(f"{where}.email[{i}]", f"{addr!r} is not an e-mail address")
            if not to:
                raise ConfigError(f"{where}.email", "names no address")
            if smtp is None:
                raise ConfigError(f"{where}.email", "needs the smtp: section")
            dests[name] = Destination(name, "email", tuple(to))
        elif kinds == ["slack_url_file"]:
            url = read_secret_file(str(d["slack_url_file"]), f"{where}.slack_url_file")
            dests[name] = Destination(name, "slack", url=_url(url, f"{where}.slack_url_file (its contents)"))
        else:
            token = read_secret_file(str(d["token_file"]), f"{where}.token_file") if "token_file" in d else None
            dests[name] = Destination(name, "webhook", url=_url(d["webhook_url"], f"{where}.webhook_url"), token=token)

    routes = _mapping(top.get("routes"), err("routes"), {"fleet", "departments"})
    if not routes:
        raise ConfigError(err("routes"), "must route the fleet digest or a department's to destinations")
    fleet = _names(routes["fleet"], err("routes.fleet"), dests) if "fleet" in routes else ()
    departments: dict[str, tuple[str, ...]] = {}
    raw_deps = routes.get("departments") or {}
    if not isinstance(raw_deps, dict):
        raise ConfigError(err("routes.departments"), "must map department names to destination lists")
    for dep, names in raw_deps.items():
        if not isinstance(dep, str) or not 0 < len(dep) <= 200:
            raise ConfigError(err(f"routes.departments.{dep}"), "a department name is 1-200 characters")
        departments[dep] = _names(names, err(f"routes.departments.{dep}"), dests)
    return Config(console_url, schedule, dests, fleet, departments, smtp, attempts, backoff, max_backoff,
                  http_timeout, source)
