"""What a command receives."""

from __future__ import annotations

import argparse
import getpass
from dataclasses import dataclass, field
from uuid import uuid4

from admin_core.kernel.principal import Principal
from entrypoints.cli.output import stderr, styled
from entrypoints.container import Container, choices


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

    def note_own_graph(self) -> None:
        """Without Neo4j the graph projection lives in a process's memory: this command's is
        its own, not the server's. Said on stderr, `--json` or not: the output differs from
        the server's, and stdout stays clean."""
        if not choices.uses_neo4j(self.container.settings()):
            stderr.print(
                styled(
                    ("note", "yellow"),
                    ": without ADMIN_NEO4J_URL the graph lives in one process's memory; this"
                    " command sees its own, not the server's (GET /api/v1/admin/graph/status)",
                )
            )
