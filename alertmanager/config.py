"""The shipped Alertmanager configuration, and its adaptation to a concrete deployment.

The repository's ``alertmanager.yml`` names example addresses and secret files under
``/etc/sru/secrets``; ``localize()`` rewrites those for one deployment (the local stack of `make up`,
the tests) without touching the route tree, the inhibition rules or the templates, so what is tested is
what ships.
"""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

SECRET_KEYS = ("slack_api_url_file", "smtp_auth_password_file", "credentials_file", "password_file",
               "api_url_file", "auth_password_file")


def shipped_dir() -> Path:
    return Path(str(resources.files("alertmanager")))


def load_shipped() -> dict[str, Any]:
    import yaml

    # safe_load is typed Any; the shipped alertmanager.yml is a mapping (tests/alerting check it).
    doc: dict[str, Any] = yaml.safe_load((shipped_dir() / "alertmanager.yml").read_text(encoding="utf-8"))
    return doc


def _rewrite_secrets(node: Any, secrets_dir: Path) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in SECRET_KEYS and isinstance(value, str):
                node[key] = str(secrets_dir / Path(value).name)
            else:
                _rewrite_secrets(value, secrets_dir)
    elif isinstance(node, list):
        for item in node:
            _rewrite_secrets(item, secrets_dir)


def localize(config: dict[str, Any], *, webhook_url: str, secrets_dir: Path | None = None,
             timings: dict[str, str] | None = None, bearer_token_file: Path | None = None,
             drop_receivers: tuple[str, ...] = ()) -> dict[str, Any]:
    """A copy of ``config`` for one deployment.

    * every webhook URL becomes ``webhook_url`` and template globs become absolute;
    * secret file paths move into ``secrets_dir`` (same file names);
    * ``timings`` (group_wait, group_interval, repeat_interval) override the root route and its
      children, and ``resolve_timeout`` the global one — tests make them short;
    * without ``bearer_token_file`` the webhook sends no Authorization header;
    * receivers named in ``drop_receivers`` keep their name but lose their integrations (a local
      stack without Slack or SMTP still routes exactly as in production).
    """
    cfg = copy.deepcopy(config)
    base = shipped_dir()
    if secrets_dir is not None:
        _rewrite_secrets(cfg, secrets_dir)
    cfg["templates"] = [str(base / t) if not Path(t).is_absolute() else t for t in cfg.get("templates", [])]
    for receiver in cfg.get("receivers", []):
        if receiver["name"] in drop_receivers:
            for key in [k for k in receiver if k.endswith("_configs")]:
                del receiver[key]
            continue
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook_url
            http = hook.setdefault("http_config", {})
            if bearer_token_file is None:
                http.pop("authorization", None)
            else:
                http["authorization"] = {"type": "Bearer", "credentials_file": str(bearer_token_file)}
            if not http:
                del hook["http_config"]
    if timings:
        timings = dict(timings)
        if "resolve_timeout" in timings:
            cfg.setdefault("global", {})["resolve_timeout"] = timings.pop("resolve_timeout")
        stack = [cfg["route"]]
        while stack:
            route = stack.pop()
            for key, value in timings.items():
                if key in route or route is cfg["route"]:
                    route[key] = value
            stack.extend(route.get("routes", []))
    return cfg
