"""The one hand-written type: a generic list page, for annotating code that
handles any list (the served OpenAPI document describes each list's page on
its own, e.g. ``EventList``); everything else is generated into
``_models.py``."""

from __future__ import annotations

from typing import Generic, Optional, TypeVar

from typing_extensions import TypedDict

T = TypeVar("T")


class Page(TypedDict, Generic[T]):
    data: list[T]
    has_more: bool
    next_cursor: Optional[str]
