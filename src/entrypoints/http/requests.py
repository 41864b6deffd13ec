"""What every request passes before its handler runs, in this order: authentication and
permission (`security.authenticate`, for operations that declare `requires`) and the reach to
the tenants its path and query name (`security.reach_url`), then these checks for whole
classes of bad input, the reach to a tenant its body names (`security.admit`) coming before
the body's type is checked:

- a query parameter an API operation does not declare (or one given twice) is a 422, never
  silently ignored: a typo in a filter must not widen a query, and a dependency's name
  (`?principal=x`) is not a parameter; a required one missing is a 422 naming it (pages,
  their assets, the probes and OPTIONS ignore query parameters);
- a query string that is not UTF-8, as sent or once percent-decoded, is a 400: nothing
  reads it as something else;
- a query or path value with a control character (NUL among them) is a 422;
- an integer of the query is decimal digits: `1e1`, `1.0` or `-0`, which the framework's
  decoding would read as 10, 1 and 0, are a 422 (a JSON body refuses them too);
- a body on an API operation that takes none (a GET, a POST without one) is a 422 naming
  `body`, never silently ignored, as an unknown query parameter is not (pages, the probes and
  OPTIONS ignore it);
- a body on an operation that takes one must be JSON (`application/json` or `+json`),
  labelled once (two `Content-Type` lines, equal or not, are refused): 415;
- a body that does not arrive within `http_body_timeout_seconds` of being read (a client
  promising more bytes than it sends) is a 408 that closes the connection;
- a body under a content coding (`Content-Encoding: gzip`, `br`, ...) is a 415: none is
  decoded, and bytes must not be read as other than their sender declared them;
- a body that is not UTF-8 is a 400;
- a JSON body nested deeper than `MAX_JSON_DEPTH` is a 400 before anything parses it;
- a JSON body giving one name twice in an object (`{"a": 1, "a": 2}`) is a 400 naming it:
  parsers disagree on which value counts (RFC 8259 §4), and an admin change must not rest on
  which one the server's picks;
- a body is checked against its operation's type strictly: JSON's own types only (`0` is not
  `false`, `"100"` is not `100`), where the framework's decoding would convert; every
  offending field is named, not just the first (`body_errors`).
"""

from __future__ import annotations

import asyncio
import functools
import re
import types
import typing
import urllib.parse
from dataclasses import dataclass, replace
from typing import Any

import msgspec
from litestar import Request
from litestar.constants import RESERVED_KWARGS
from litestar.datastructures import MultiDict
from litestar.exceptions import InternalServerException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import BodyKwarg, DependencyKwarg, ParameterKwarg, PathParameter

from admin_core.kernel.errors import FieldError, ValidationFailed
from admin_core.kernel.json_text import read_json
from admin_core.kernel.validation import FieldChecks, has_control_characters
from entrypoints.http.fields import BODY_RULES, readable
from entrypoints.http.schemas import In
from entrypoints.http.security import REQUIRES, admit, authenticate, reach_url
from entrypoints.request_errors import BadRequest, RequestTimeout, UnsupportedMediaType

#: No admin body nests deeper than a few levels; this leaves room and stops pathological input.
MAX_JSON_DEPTH = 32
#: No admin request body comes near this; a larger one is a 413 PAYLOAD_TOO_LARGE.
MAX_BODY_BYTES = 1024 * 1024
#: A request's line and headers `adminctl serve` reads (a long token must reach the app, which
#: answers 401 for it); over it, the server's own 431 HEADERS_TOO_LARGE.
MAX_HEADER_BYTES = 256 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
#: Where an app keeps the query shapes of its handlers (`app.state`).
_QUERY_SHAPES = "query_shapes"
#: Where the API's operations are (their query parameters are checked strictly).
_API = "/api/"


@dataclass(frozen=True, slots=True)
class QueryShape:
    """The query parameters an operation declares, and those it cannot do without. `strict`:
    an operation of the API, which refuses any other; a page, an asset or a probe ignores
    them (a link to a page may carry anything), and so does the API's OPTIONS, which is about
    a path whatever query its other methods take. `utf8`: a path of the API, whose query is
    refused when it is not UTF-8, whatever the method."""

    names: frozenset[str]
    required: frozenset[str]
    strict: bool = True
    utf8: bool = True
    integers: frozenset[str] = frozenset()


def query_shape(handler: BaseRouteHandler, *, strict: bool = True, utf8: bool = True) -> QueryShape:
    """The query parameters `handler` declares."""
    dependencies = set(handler.resolve_dependencies())
    names: set[str] = set()
    required: set[str] = set()
    integers: set[str] = set()
    for name, definition in handler.parsed_fn_signature.parameters.items():
        kwarg = definition.kwarg_definition
        if name in dependencies or name in RESERVED_KWARGS or name == "self":
            continue
        if isinstance(kwarg, BodyKwarg | DependencyKwarg | PathParameter):
            continue
        if isinstance(kwarg, ParameterKwarg) and (kwarg.header or kwarg.cookie):
            continue
        query = (kwarg.query if isinstance(kwarg, ParameterKwarg) else None) or name
        names.add(query)
        if not definition.has_default and not definition.is_optional:
            required.add(query)
        if _is_integer(definition.annotation):
            integers.add(query)
    return QueryShape(frozenset(names), frozenset(required), strict, utf8, frozenset(integers))


def _is_integer(annotation: Any) -> bool:
    """Whether a parameter's type is `int` (`Annotated` or optional alike; `bool` is not)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _is_integer(typing.get_args(annotation)[0])
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = [m for m in typing.get_args(annotation) if m is not type(None)]
        return len(members) == 1 and _is_integer(members[0])
    return annotation is int


def _query_shape(request: Request[Any, Any, Any]) -> QueryShape:
    """`query_shape` of the request's handler, computed once per handler of the app."""
    handler = request.route_handler
    cache: dict[BaseRouteHandler, QueryShape] = request.app.state.setdefault(_QUERY_SHAPES, {})
    shape = cache.get(handler)
    if shape is None:
        api = str(request.scope["path"]).startswith(_API)
        strict = api and "OPTIONS" not in handler.http_methods
        shape = cache[handler] = query_shape(handler, strict=strict, utf8=api)
    return shape


def body_required(handler: BaseRouteHandler) -> bool | None:
    """None: the operation takes no body; else whether its body is required."""
    definition = handler.parsed_fn_signature.parameters.get("data")
    if definition is None:
        return None
    return not definition.has_default and not definition.is_optional


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether brackets outside strings nest deeper than `limit` (a scan, no parsing)."""
    brackets = _STRING.sub(b"", body).translate(None, _NOT_BRACKETS)
    if len(brackets) <= limit:
        return False
    depth = 0
    for byte in brackets:
        depth += 1 if byte in b"[{" else -1
        if depth > limit:
            return True
    return False


async def check_request(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request` step."""
    handler = request.route_handler
    requirement = handler.opt.get(REQUIRES)
    principal = await authenticate(request, requirement) if requirement is not None else None
    if principal is not None and requirement is not None:
        reach_url(request, principal, requirement)
    shape = _query_shape(request)
    query: bytes = request.scope["query_string"]
    if query and (shape.utf8 or shape.names) and not _is_utf8(query):
        raise BadRequest("The query string is not UTF-8, as sent or percent-decoded.")
    params = request.query_params
    if (params and shape.strict) or shape.required:
        errors = _query_errors(params, shape, request.path_params)
        if errors:
            raise ValidationFailed(errors)
    bad_path = [
        FieldError(field=key, message="must not contain control characters")
        for key, value in sorted(request.path_params.items())
        if isinstance(value, str) and has_control_characters(value)
    ]
    if bad_path:
        raise ValidationFailed(bad_path)
    body = await _checked_body(request, handler)
    if principal is not None and requirement is not None:
        admit(request, principal, requirement, body)
    _check_body_type(request, handler, body)


@dataclass(frozen=True, slots=True)
class _Twice:
    """Where a name was given twice, standing in for the object that held it."""

    path: str


def _twice_in(value: Any) -> str | None:
    """The path of a name given twice inside `value` (an object's value or an array)."""
    if isinstance(value, _Twice):
        return value.path
    if isinstance(value, list):
        for index, item in enumerate(value):
            inner = _twice_in(item)
            if inner is not None:
                return _join(str(index), inner)
    return None


def _object_or_twice(pairs: list[tuple[str, Any]]) -> dict[str, Any] | _Twice:
    seen: set[str] = set()
    for name, value in pairs:
        inner = _twice_in(value)
        if inner is not None:
            return _Twice(_join(name, inner))
        if name in seen:
            return _Twice(name)
        seen.add(name)
    return dict(pairs)


def duplicate_name(document: bytes | str) -> str | None:
    """The path (`provider.name`, `values.0.x`) of a name some object of `document` gives
    more than once; None when none does, or when it is no JSON (its decoder says why)."""
    try:
        value = read_json(
            document,
            object_pairs_hook=_object_or_twice,
            parse_int=lambda _: 0,  # the values are not wanted: no digit limit, no float cost
            parse_float=lambda _: 0,
            parse_constant=lambda _: 0,
        )
    except ValueError:
        return None
    return _twice_in(value)


def _content_codings(header: str) -> list[str]:
    """The codings of a `Content-Encoding` header other than `identity`."""
    codings = (coding.strip().lower() for coding in header.split(","))
    return [coding for coding in codings if coding and coding != "identity"]


def _is_utf8(query: bytes) -> bool:
    try:
        query.decode()
        if b"%" in query:
            urllib.parse.unquote_to_bytes(query).decode()
    except UnicodeDecodeError:
        return False
    return True


def _query_errors(
    params: MultiDict[str], shape: QueryShape, path_params: dict[str, Any]
) -> list[FieldError]:
    known = shape.names - set(path_params)
    errors = [
        FieldError(field="query", message="a query parameter has no name (`=value`)")
        if not key
        else FieldError(field=key, message="unknown query parameter")
        if key not in known
        else FieldError(field=key, message="given more than once")
        for key in sorted(params)
        if key not in known or len(params.getall(key)) > 1
    ]
    errors += [
        FieldError(field=key, message="must not contain control characters")
        for key in sorted(params)
        if key in known and any(has_control_characters(v) for v in params.getall(key))
    ]
    errors += [
        FieldError(
            field=key, message="must be an integer in decimal digits (no fraction or exponent)"
        )
        for key in sorted(shape.integers & set(params))
        if key in known and any(_lax_integer(v) for v in params.getall(key))
    ]
    errors += [
        FieldError(field=key, message="is required")
        for key in sorted(shape.required - set(path_params))
        if key not in params
    ]
    return errors


_DIGITS = re.compile(r"0|-?[1-9][0-9]*")


def _lax_integer(value: str) -> bool:
    """Whether `value` is not an integer in decimal digits, yet the framework's decoding reads
    one in it (`1e1` as 10, `1.0` as 1, `-0` as 0). What it refuses (`abc`, `01`) is left to
    it, and named beside the other values it refuses."""
    if _DIGITS.fullmatch(value):
        return False
    try:
        msgspec.convert(value, type=int, strict=False)
    except (msgspec.ValidationError, ValueError):
        return False
    return True


async def _checked_body(request: Request[Any, Any, Any], handler: BaseRouteHandler) -> bytes:
    """The body of an operation that takes one: JSON, not nested too deep, present if
    required (its type is checked by `_check_body_type`)."""
    required = body_required(handler) if request.method in _BODY_METHODS else None
    if required is None:
        if _announces_body(request) and _query_shape(request).strict:
            raise ValidationFailed.single(
                "body",
                "this operation takes no body (its parameters, if any, are in the path and query)",
            )
        return b""
    if _announces_body(request):  # refused before it is read: a client waiting on
        _check_media(request)  # `Expect: 100-continue` is not asked to upload it
    body = await _body_in_time(request)
    if not body:
        if required:
            raise ValidationFailed.single("body", "A JSON body is required.")
        return body
    _check_media(request)
    try:
        body.decode()  # JSON exchanged is UTF-8 (RFC 8259 §8.1); no decoder meets other bytes
    except UnicodeDecodeError as error:
        raise BadRequest("The request body is not UTF-8 encoded JSON.") from error
    if json_depth_exceeds(body, MAX_JSON_DEPTH):
        raise BadRequest(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")
    twice = duplicate_name(body)
    if twice is not None:
        raise BadRequest(f"The JSON body gives `{twice}` more than once.", field=twice)
    return body


async def _body_in_time(request: Request[Any, Any, Any]) -> bytes:
    """The request's body, if it arrives within the deadline (408 otherwise): a client that
    promises more bytes than it sends must not hold a request open for good. A client that
    hangs up before its body is whole gets nothing (it is gone): no 500, no error logged."""
    deadline: float = request.app.state.container.settings().http_body_timeout_seconds
    try:
        async with asyncio.timeout(deadline):
            return await request.body()
    except InternalServerException as error:  # the framework's "client disconnected"
        raise BadRequest("The connection closed before the request body arrived.") from error
    except TimeoutError as error:
        raise RequestTimeout(
            f"The request body did not arrive within {deadline:g} s; the connection is closed."
        ) from error


def _announces_body(request: Request[Any, Any, Any]) -> bool:
    """Whether the request's headers say a body follows (a length other than 0, or chunks)."""
    length = request.headers.get("content-length", "").strip()
    return (bool(length) and length != "0") or "transfer-encoding" in request.headers


def _check_media(request: Request[Any, Any, Any]) -> None:
    """A body is JSON, labelled once, under no content coding (415 otherwise)."""
    if len(request.headers.getall("content-type", [])) > 1:  # one body, one media type
        raise UnsupportedMediaType("Content-Type is given more than once: a body has one.")
    if not _is_json(request.headers.get("content-type", "")):
        raise UnsupportedMediaType()
    if _content_codings(request.headers.get("content-encoding", "")):
        raise UnsupportedMediaType(
            "Request bodies are taken without a content coding (no Content-Encoding, or identity)."
        )


def _check_body_type(
    request: Request[Any, Any, Any], handler: BaseRouteHandler, body: bytes
) -> None:
    """The body against its operation's type, strictly (checked once the tenant it names is
    known to be within reach: naming another tenant is a 403 whatever else the body holds),
    and, when it is refused, by the operation's `BodyRule`s on the fields not named."""
    decoder = _strict_decoder(handler) if body else None
    if decoder is not None:
        try:
            decoder.decode(body)
        except msgspec.ValidationError as error:
            errors = body_errors(decoder.type, body, error)
            raise ValidationFailed(errors + _body_rule_errors(request, body, errors)) from error
        except msgspec.DecodeError as error:
            raise BadRequest() from error


def _body_rule_errors(
    request: Request[Any, Any, Any], body: bytes, named: list[FieldError]
) -> list[FieldError]:
    """What the operation's `BodyRule`s find wrong with the fields of `body` that `named`
    does not name (nor anything inside them)."""
    rules = request.route_handler.opt.get(BODY_RULES, ())
    value = msgspec.json.decode(body) if rules else None
    if not isinstance(value, dict):
        return []
    taken = {error.field for error in named}
    fields = {
        key: item
        for key, item in value.items()
        if not any(field == key or field.startswith(f"{key}.") for field in taken)
    }
    container = request.app.state.container
    return [
        error for rule in rules for error in rule(container, fields) if error.field not in taken
    ]


def body_errors(annotation: Any, body: bytes, first: msgspec.ValidationError) -> list[FieldError]:
    """Every offending field of a body that failed its strict decoding (`first`, where the
    decoder stopped): an object's fields are decoded one by one with their own types, and an
    object in a field is walked the same way. A body that is not an object answers `first`;
    one that is no JSON at all is a 400 (a typed decoder may stop at the first value's type,
    `0` not being an object, before it meets the rest of `0Sq[`)."""
    struct = _struct_in(annotation)
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as error:
        raise BadRequest() from error
    errors = _object_errors(struct, value, "") if struct and isinstance(value, dict) else []
    if errors:
        return errors
    field, message = _field_and_message(str(first))
    return [FieldError(field=field or "body", message=message)]


def _object_errors(
    struct: type[msgspec.Struct], value: dict[str, Any], at: str
) -> list[FieldError]:
    fields = msgspec.structs.fields(struct)
    names = {field.encode_name for field in fields}
    errors = [
        FieldError(field=_join(at, key), message=f"Object contains unknown field `{key}`")
        for key in value
        if key not in names
    ]
    for field in fields:
        where = _join(at, field.encode_name)
        if field.encode_name not in value:
            if field.required:
                errors.append(
                    FieldError(
                        field=where, message=f"Object missing required field `{field.encode_name}`"
                    )
                )
            continue
        item = value[field.encode_name]
        nested = _struct_in(field.type)
        if nested is not None and isinstance(item, dict):
            errors += _object_errors(nested, item, where)
            continue
        try:
            decoded = msgspec.json.decode(msgspec.json.encode(item), type=field.type, strict=True)
        except msgspec.ValidationError as error:
            inner, message = _field_and_message(str(error))
            errors.append(FieldError(field=_join(where, inner), message=message))
            continue
        errors += _rule_errors(struct, field.name, decoded, at)
    return errors


def _rule_errors(struct: type[msgspec.Struct], name: str, value: Any, at: str) -> list[FieldError]:
    """What the core's rule for a field (`In.field_rules`) finds wrong with its decoded value."""
    rules = struct.field_rules if issubclass(struct, In) else {}
    rule = rules.get(name)
    if rule is None or value is None or value is msgspec.UNSET:
        return []
    checks = FieldChecks()
    rule(checks, value)
    return [replace(error, field=_join(at, error.field)) for error in checks.errors]


def _struct_in(annotation: Any) -> type[msgspec.Struct] | None:
    """The struct an annotation decodes to: itself, or the one struct of a union with None or
    UNSET."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return annotation
    if typing.get_origin(annotation) is typing.Annotated:
        return _struct_in(typing.get_args(annotation)[0])
    members = [m for m in typing.get_args(annotation) if m not in (type(None), msgspec.UnsetType)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(members) == 1:
        return _struct_in(members[0])
    return None


def _join(at: str, name: str) -> str:
    return f"{at}.{name}" if at and name else at or name


_UNKNOWN = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]*)`")
_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)


def _field_and_message(text: str) -> tuple[str, str]:
    """msgspec's "Expected `bool`, got `int` - at `$.active`" as ("active", "Expected ..."); the
    field is "" for the value itself."""
    match = _AT.match(text)
    assert match is not None
    path = re.sub(r"\[(\d+)\]", r".\1", match["path"] or "").lstrip(".")
    unknown = _UNKNOWN.search(match["message"])
    if unknown is not None:  # named by the field itself
        path = f"{path}.{unknown['name']}".lstrip(".")
    return path, readable(match["message"])


@functools.cache
def _strict_decoder(handler: BaseRouteHandler) -> msgspec.json.Decoder[Any] | None:
    definition = handler.parsed_fn_signature.parameters.get("data")
    if definition is None or definition.annotation is Any:
        return None
    return msgspec.json.Decoder(definition.annotation, strict=True)
