"""Cursor pagination: `?limit=` (1-100, default 20) and `?starting_after=<id>`, newest first.

Ids are time-ordered, so "after" in the list (older) is simply a smaller id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from ninja import Field

from kassa.core.errors import InvalidRequest
from kassa.core.ids import is_valid_id
from kassa.core.schemas import QuerySchema

M = TypeVar("M", bound=Model)


class ListParams(QuerySchema):
    limit: int = Field(20, ge=1, le=100, description="How many objects to return, 1 to 100.")
    starting_after: str | None = Field(
        None, description="An object id: return the objects that come after it in the list."
    )


def paginate[M: Model](
    queryset: QuerySet[M],
    params: ListParams,
    prefix: str,
    render: Callable[[M], dict[str, Any]],
) -> dict[str, Any]:
    queryset = queryset.order_by("-pk")
    if params.starting_after is not None:
        if not is_valid_id(params.starting_after, prefix):
            raise InvalidRequest(
                f"starting_after must be an id beginning with {prefix}_.", param="starting_after"
            )
        queryset = queryset.filter(pk__lt=params.starting_after)
    rows = list(queryset[: params.limit + 1])
    return {
        "object": "list",
        "data": [render(row) for row in rows[: params.limit]],
        "has_more": len(rows) > params.limit,
    }
