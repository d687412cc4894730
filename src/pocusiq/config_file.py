"""Read a YAML (or JSON) settings file, with errors that name the file and what is wrong.

The one place where plan, protocol and other settings files are opened and parsed
(:func:`pocusiq.acquire.plan.load_plan`, :func:`pocusiq.benchmark.protocol.load_protocol`), so
that every such file fails the same way: :class:`pocusiq.errors.ConfigError` with
``<path>: <what> not found`` / ``cannot read <what> (...)`` / ``not valid YAML (...)``.
Parsing is PyYAML's ``safe_load`` (no Python objects are constructed) or :mod:`json` for a
``.json`` file; validating the parsed values is the caller's job.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from pocusiq.errors import ConfigError

__all__ = ["read_config_file"]


def read_config_file(path: str | os.PathLike[str], what: str = "config file") -> Any:
    """Parse the UTF-8 YAML file ``path`` (JSON if its suffix is ``.json``).

    Args:
        path: the file.
        what: what the file is, for messages (``"plan file"``, ``"protocol file"``).

    Returns:
        The parsed data (a dict for a mapping; None for an empty file).

    Raises:
        ConfigError: naming ``path``, if it is missing, unreadable, not UTF-8, or not valid
            YAML/JSON.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what} ({exc})") from exc
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}: not valid JSON ({exc})") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
