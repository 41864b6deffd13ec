"""The health probe of a dependency reached over HTTP: up when one GET answers 200 with the
kind of body the service sends (and, where a service says more, its body says so too). Each
service's adapter names the call: the path, its credentials, and what the answer must hold."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from adapters.http.answers import json_body
from admin_core.health.ports import DependencyDown, DependencyProbe


class HttpDependencyProbe(DependencyProbe):
    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        path: str,
        timeout_seconds: float,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | int] | None = None,
        auth: tuple[str, str] | None = None,
        accept: Callable[[httpx.Response], None] | None = None,
        json_object: bool = True,
    ) -> None:
        """`accept`, when given, raises `DependencyDown` for a 200 whose body is not what
        the service answers when it is up. `json_object`: the service answers the call with
        a JSON object, so a 200 with anything else — a web page that a proxy, a captive
        portal or a wrong base URL serves — is down, not the service."""
        self.name = name
        self._path = path
        self._params = dict(params or {})
        self._accept = accept
        self._json_object = json_object
        self._client = httpx.AsyncClient(
            base_url=base_url, timeout=timeout_seconds, headers=dict(headers or {}), auth=auth
        )

    async def check(self) -> None:
        try:
            response = await self._client.get(self._path, params=self._params)
        except httpx.HTTPError as error:
            raise DependencyDown.unreachable(error) from None
        if response.status_code != 200:
            raise DependencyDown.answered(response.status_code)
        if self._json_object and not _json_object(response):
            raise DependencyDown("unexpected answer (HTTP 200 without a JSON object)")
        if self._accept is not None:
            self._accept(response)

    async def aclose(self) -> None:
        await self._client.aclose()


def _json_object(response: httpx.Response) -> bool:
    try:
        return isinstance(json_body(response), dict)
    except ValueError:
        return False
