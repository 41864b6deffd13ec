"""The body of a service's answer, read as JSON."""

from __future__ import annotations

from typing import Any

import httpx

from admin_core.kernel.json_text import read_json


def json_body(response: httpx.Response) -> Any:
    """`response`'s body as JSON; `JsonUnreadable` (a ValueError, which every adapter takes for
    an answer that is not what its service documents) for a body that is not JSON, or JSON
    nested deeper than the parser goes. Whatever a service, or whatever answers at its
    address, sends is then the service's failure, never ours."""
    return read_json(response.content)
