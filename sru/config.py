"""Reading YAML config files, with every failure named after the option that gave the path."""

from __future__ import annotations

from typing import Any

from sru.errors import ConfigError


def load_yaml_file(path: str, option: str) -> Any:
    """The parsed document (None for an empty file); ConfigError naming ``option`` when the file
    cannot be read or is not YAML."""
    import yaml

    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(option, f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(option, f"{path} is not valid YAML: {exc}") from None
