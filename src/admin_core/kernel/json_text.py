"""JSON text from outside the process — a cursor a caller sealed, a file an operator names, an
export, a stored document, a service's answer — read with one more way to fail said like the
others: JSON nested deeper than the parser goes raises the parser's RecursionError, which no
caller expects, and a 500 or a crashed command would follow. `read_json` says it as the
ValueError every reader of such text already takes for "not JSON"."""

from __future__ import annotations

import json
from typing import Any


class JsonUnreadable(ValueError):
    """Text that holds no JSON a parser reads."""


class JsonTooDeep(JsonUnreadable):
    """JSON nested deeper than the parser goes."""


def read_json(text: str | bytes, **options: Any) -> Any:
    """The JSON value `text` holds (`options` as `json.loads` takes them); `JsonUnreadable`
    for text that holds none: not JSON, bytes that are not UTF-8, a value a hook refused, or
    JSON nested deeper than the parser goes."""
    try:
        return json.loads(text, **options)
    except RecursionError as error:
        raise JsonTooDeep("JSON nested deeper than the parser goes") from error
    except ValueError as error:
        raise JsonUnreadable(str(error)) from error
