"""What the admin OpenAPI document says about each operation's errors.

Every admin operation declares the error responses it can give, each in the envelope's shape:
the ones every authenticated route shares (`COMMON`) plus its own. A test walks the document
to keep it so, and schemathesis checks the answers against it.
"""

from __future__ import annotations

from litestar.openapi import ResponseSpec

from entrypoints.http.schemas import ErrorEnvelope

_DESCRIPTIONS = {
    400: "BAD_REQUEST: the body is not parseable JSON",
    401: "AUTH_HEADER_MISSING, AUTH_TOKEN_INVALID or AUTH_TOKEN_EXPIRED",
    403: "AUTH_INSUFFICIENT_PERMISSION (or ROLE_NOT_ALLOWED where roles are granted)",
    404: "the resource named in the path does not exist",
    409: "a conflict with the current state",
    413: "PAYLOAD_TOO_LARGE: the body is over the limit",
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not application/json",
    422: "VALIDATION_ERROR: one error per offending field",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR: a bug; no internals are returned",
    502: "the upstream provider refused or failed",
    503: "a dependency is unreachable",
}

#: What any authenticated read can answer.
READ = (401, 403, 422, 429, 500)
#: What any authenticated write with a JSON body can answer.
WRITE = (400, 401, 403, 413, 415, 422, 429, 500)


def errors(*statuses: int, base: tuple[int, ...] = READ) -> dict[int, ResponseSpec]:
    """The error responses of one operation: `base` plus `statuses`."""
    return {
        status: ResponseSpec(
            data_container=ErrorEnvelope,
            description=_DESCRIPTIONS[status],
            generate_examples=False,
        )
        for status in sorted({*base, *statuses})
    }
