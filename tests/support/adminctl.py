"""The `adminctl` a test runs as a process: the one installed beside the running Python."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.services import ROOT

ADMINCTL = Path(sys.executable).with_name("adminctl")
if not ADMINCTL.exists():  # pragma: no cover - pytest run from outside the venv
    ADMINCTL = ROOT / ".venv" / "bin" / "adminctl"
