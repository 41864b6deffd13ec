"""Configuration files the core's definitions are read from (YAML)."""

from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: This project's configuration (`flags.yaml`, the flag catalogue; `matching/`, the matching
#: registry): the copy an installed wheel carries in this package (pyproject's
#: `force-include`), else the source tree's `config/`.
PROJECT_CONFIG = _HERE / "config" if (_HERE / "config").is_dir() else _HERE.parents[2] / "config"
