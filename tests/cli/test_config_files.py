"""Every YAML file an option names is read by sru.config.load_yaml_file: one set of error texts, each
naming the option (the adapter's mapping, the rule files of `sru rules sync`, the exporter's and the
web config's files are all read through it)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alertmanager.rules_sync import read_rules
from remote_write_adapter.mapping import load_mapping
from sru.errors import ConfigError

READERS: dict[str, Callable[[str], object]] = {
    "--config.mapping": load_mapping,
    "FILE": lambda path: read_rules([Path(path)]),
}


@pytest.mark.parametrize("option", READERS)
@pytest.mark.parametrize("content, text", [(None, "cannot read {path}: No such file or directory"),
                                           ("a: [\n", "{path} is not valid YAML: ")])
def test_unreadable_and_invalid_files_say_the_same(tmp_path: Path, option: str, content: str | None,
                                                   text: str) -> None:
    path = tmp_path / "file.yml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError) as err:
        READERS[option](str(path))
    assert str(err.value).startswith(f"{option}: {text.format(path=path)}"), str(err.value)
