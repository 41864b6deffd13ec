"""What a command receives."""

from __future__ import annotations

import argparse
import getpass
from dataclasses import dataclass, field
from uuid import uuid4

from admin_core.kernel.principal import Principal
from entrypoints.container import Container


def _operator() -> Principal:
    return Principal.operator(getpass.getuser(), request_id=f"cli-{uuid4().hex}")


@dataclass(frozen=True, slots=True)
class CommandContext:
    args: argparse.Namespace
    container: Container
    as_json: bool
    #: The CLI acts as a platform operator, `cli:<user>`, and still writes audit entries;
    #: `request_id` ties the entries of this one command together.
    principal: Principal = field(default_factory=_operator)
