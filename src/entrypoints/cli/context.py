"""What a command receives."""

from __future__ import annotations

import argparse
import getpass
from dataclasses import dataclass

from admin_core.auth import Principal
from entrypoints.container import Container


@dataclass(frozen=True, slots=True)
class CommandContext:
    args: argparse.Namespace
    container: Container
    as_json: bool

    @property
    def operator(self) -> Principal:
        """The CLI acts as a platform operator, `cli:<user>`, and still writes audit entries."""
        return Principal.operator(getpass.getuser())
