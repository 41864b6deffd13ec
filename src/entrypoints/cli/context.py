"""What a command receives."""

from __future__ import annotations

import argparse
import getpass
import os
import re
from dataclasses import dataclass
from uuid import uuid4

from admin_core.kernel.principal import Principal
from admin_core.kernel.validation import has_control_characters
from entrypoints.cli.output import stderr, styled
from entrypoints.container import Container, choices
from entrypoints.settings import ConfigurationError

#: A lone surrogate: a byte of the environment that is not UTF-8.
_NOT_UTF8 = re.compile(r"[\ud800-\udfff]")


def operator() -> Principal:
    """The operator a command acts as, `cli:<login name>`: the name from LOGNAME, USER, LNAME
    or USERNAME, else the account of the process's user id, else `uid-<n>` (a container's
    user id without an account). A name no audit entry may hold (bytes that are not UTF-8,
    control characters) is a `ConfigurationError`: checked before anything runs, since an
    entry half-recorded under it could never be finished."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no variable names the user, and no account has its id
        name = f"uid-{os.getuid()}"
    if not name.strip() or _NOT_UTF8.search(name) or has_control_characters(name):
        raise ConfigurationError(
            [
                f"the operator's login name {name!r} (from LOGNAME, USER or the account) cannot"
                " be recorded in the audit log (empty, bytes that are not UTF-8, or control"
                " characters): set LOGNAME to the name to act as"
            ]
        )
    return Principal.operator(name, request_id=f"cli-{uuid4().hex}")


@dataclass(frozen=True, slots=True)
class CommandContext:
    args: argparse.Namespace
    container: Container
    as_json: bool
    #: The CLI acts as a platform operator, `cli:<user>` (`operator()`), and still writes
    #: audit entries; `request_id` ties the entries of this one command together.
    principal: Principal

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
