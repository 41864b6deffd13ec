"""JSON text from outside the process — a cursor a caller sealed, a file an operator names, an
export, a stored document, a service's answer — read with one more way to fail said like the
others: JSON nested deeper than the parser goes raises the parser's RecursionError, which no
caller expects, and a 500 or a crashed command would follow. `read_json` says it as the
ValueError every reader of such text already takes for "not JSON"."""

from __future__ import annotations

import json
import math
from typing import Any


class JsonUnreadable(ValueError):
    """Text that holds no JSON a parser reads."""


class JsonTooDeep(JsonUnreadable):
    """JSON nested deeper than the parser goes."""


def finite_number(literal: str) -> float:
    """A JSON number with a fraction or exponent, which must be one a float holds (`1e400`
    is not): the `parse_float` of JSON that admits no infinity."""
    number = float(literal)
    if not math.isfinite(number):
        raise ValueError(f"{literal} is beyond a number's range")
    return number


def no_constant(name: str) -> float:
    """The `parse_constant` of JSON proper: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not a JSON value")


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
