"""The baseline of `bench http`: a bare Litestar handler served like the real app.

One GET route returning a small JSON object, no middleware, no auth, no database: what
Litestar on uvicorn costs per request on this machine, against which the real app's routes
are read. `SERVER_OPTIONS` are the uvicorn options of both servers of the benchmark (the
bare one here, and `adminctl serve`, whose `uvicorn.run` call `bench.http` amends with them):
one process, warnings only, no access log, the header limit of `adminctl serve`.

    python -m bench.http_bare --port 8001
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import uvicorn
from litestar import Litestar, get

from entrypoints.http.requests import MAX_HEADER_BYTES

PATH = "/bare"
SERVER_OPTIONS: dict[str, Any] = {
    "log_level": "warning",
    "access_log": False,
    "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
}


@get(PATH, sync_to_thread=False)
def bare() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[bare])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.http_bare")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, **SERVER_OPTIONS)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
