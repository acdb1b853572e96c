"""Lists: ``{"data": [...], "has_more": bool, "next_cursor": ...}`` pages,
followed page by page or item by item. A pager sends nothing until read."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable, Generic, Iterator, Optional, TypeVar
from urllib.parse import urlencode

T = TypeVar("T")

# Python name -> query parameter, for every list; FILTERS are a list's own.
_PARAMS = {"limit": "limit", "sort_by": "sortBy", "order": "order", "cursor": "cursor"}
FILTERS = {"from_": "from", "to": "to", "currency": "currency", "payment": "payment"}
_NAMES = {**_PARAMS, **FILTERS}


def _target(path: str, params: dict[str, Any], cursor: Optional[str]) -> str:
    query = {_NAMES[k]: v for k, v in params.items() if k != "cursor" and v is not None}
    if cursor is not None:
        query["cursor"] = cursor
    return f"{path}?{urlencode(query)}" if query else path


def check_params(params: dict[str, Any], filters: frozenset[str] = frozenset()) -> dict[str, Any]:
    unknown = set(params) - set(_PARAMS) - filters
    if unknown:
        raise TypeError(f"unknown list parameter(s): {', '.join(sorted(unknown))}")
    return params


class SyncPager(Generic[T]):
    """Iterating gives every item of every page; ``pages()`` gives the pages;
    ``first_page()`` one page only."""

    def __init__(
        self, request: Callable[..., Any], path: str, params: dict[str, Any], filters: frozenset[str] = frozenset()
    ) -> None:
        self._request = request
        self._path = path
        self._params = check_params(params, filters)

    def pages(self) -> Iterator[dict[str, Any]]:
        cursor = self._params.get("cursor")
        while True:
            page = self._request("GET", _target(self._path, self._params, cursor))
            yield page
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    def first_page(self) -> dict[str, Any]:
        return next(self.pages())

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            yield from page["data"]


class AsyncPager(Generic[T]):
    """``async for`` gives every item of every page; ``pages()`` the pages;
    ``await first_page()`` one page only."""

    def __init__(
        self,
        request: Callable[..., Awaitable[Any]],
        path: str,
        params: dict[str, Any],
        filters: frozenset[str] = frozenset(),
    ) -> None:
        self._request = request
        self._path = path
        self._params = check_params(params, filters)

    async def pages(self) -> AsyncIterator[dict[str, Any]]:
        cursor = self._params.get("cursor")
        while True:
            page = await self._request("GET", _target(self._path, self._params, cursor))
            yield page
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                return

    async def first_page(self) -> dict[str, Any]:
        async for page in self.pages():
            return page
        raise RuntimeError("unreachable: pages() yields at least one page")

    async def __aiter__(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page["data"]:
                yield item
