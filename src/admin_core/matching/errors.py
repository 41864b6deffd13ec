"""Errors of the matching area."""

from __future__ import annotations

from collections.abc import Sequence


class MatchingConfigurationInvalid(Exception):
    """The registry or the domain weights file is not valid: raised at start-up (and by
    `adminctl matching check`), never to a caller. `problems`: each as `file:line: what`."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)
