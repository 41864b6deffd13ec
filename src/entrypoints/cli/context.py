"""What a command receives."""

from __future__ import annotations

import argparse
import getpass
from dataclasses import dataclass
from uuid import uuid4

from admin_core.audit import Actor
from admin_core.kernel.principal import Principal
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

    @property
    def actor(self) -> Actor:
        """The operator acting in this one command; `request_id` ties its audit entries."""
        return Actor(principal=self.operator, request_id=f"cli-{uuid4().hex}")
