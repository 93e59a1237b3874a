"""The options file (`CRAFT_JOBS_CONFIG_FILE`): JSON or YAML shaped like the
seed's appsettings section, so a team's settings carry over as they are:

    {"JobOptions": {"ConnectionString": "Host=...;Database=...", "WorkerCount": 50}}

The `JobOptions` section is read if the file has one (other sections of an
appsettings file are left alone); otherwise the whole file is the section.
Keys are the seed's names (`WorkerCount`) or ours (`worker_count`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from craft_jobs.errors import OptionsError

CONFIG_FILE_ENV = "CRAFT_JOBS_CONFIG_FILE"
SECTION = "JobOptions"


def option_name(key: str) -> str:
    """`WorkerCount` -> `worker_count`; ours unchanged."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def read_settings_file(path: Path, where: str) -> Any:
    """The content of a settings file: JSON if named *.json, else YAML (JSON
    is YAML too); OptionsError names `where` when it cannot be read or parsed."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise OptionsError(where, f"cannot be read: {exc.strerror or exc}") from exc
    is_json = path.suffix.lower() == ".json"
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise OptionsError(where, f"is not valid {'JSON' if is_json else 'YAML'}: {exc}") from exc


def read_options_file(path: Path, known: set[str]) -> dict[str, tuple[str, Any]]:
    """{option name: (key as written in the file, value)}; a bad file or an
    unknown key raises OptionsError naming the file and the key."""
    where = f"{CONFIG_FILE_ENV} ({path})"
    data = read_settings_file(path, where)
    if data is None:
        return {}
    if isinstance(data, dict) and SECTION in data:
        data = data[SECTION]
        where = f"{SECTION} in {path}"
    if not isinstance(data, dict):
        raise OptionsError(where, f"must be a mapping of option names to values, got {type(data).__name__}")
    values: dict[str, tuple[str, Any]] = {}
    for key, value in data.items():
        name = option_name(str(key))
        if name not in known:
            raise OptionsError(f"{key} in {path}", "is not a known option")
        if name in values:
            raise OptionsError(f"{key} in {path}", f"sets {name} a second time (as {values[name][0]})")
        values[name] = (str(key), value)
    return values
