"""The body of a service's answer, read as JSON."""

from __future__ import annotations

from typing import Any

import httpx


class NotJson(ValueError):
    """A body that is no JSON a parser reads. A ValueError, which every adapter takes for an
    answer that is not what its service documents."""


def json_body(response: httpx.Response) -> Any:
    """`response`'s body as JSON; `NotJson` for a body that is not JSON, or JSON nested deeper
    than the parser goes (which the parser raises as RecursionError). Whatever a service, or
    whatever answers at its address, sends is then the service's failure, never ours."""
    try:
        return response.json()
    except (ValueError, RecursionError) as error:
        raise NotJson(f"the body is not JSON a parser reads ({type(error).__name__})") from error
