"""Cursor pagination: `?limit=` (1-100, default 20) and `?starting_after=<id>`, newest first.

Ids are time-ordered, so "after" in the list (older) is simply a smaller id.

`starting_after` must name an object of the list (as Stripe's does): an id of another kind is a
400 `invalid_starting_after`; an id of the right kind that names no object of the list (a typo,
another organization's object, a deleted one, or no id at all such as `bk_nope`) is a 404
`resource_missing` with `param` "starting_after", rather than a page that silently starts
somewhere. Whether it names one is asked of the list before its filters (`scope`), so that an
object that no longer matches them (a payment that succeeded while a client pages through
`?status=pending`) still continues the paging."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from ninja import Field

from kassa.core.errors import InvalidStartingAfter, ResourceMissing
from kassa.core.ids import is_valid_id
from kassa.core.schemas import QuerySchema

M = TypeVar("M", bound=Model)


class ListParams(QuerySchema):
    limit: int = Field(20, ge=1, le=100, description="How many objects to return, 1 to 100.")
    starting_after: str | None = Field(
        None,
        description=(
            "The id of an object in this list, usually the last of the previous page: the page"
            " starts after it. An id of another kind is a 400, an unknown one a 404."
        ),
    )


def check_starting_after[M: Model](value: str, prefix: str, scope: QuerySet[M]) -> str:
    """`value` when it is the id of an object in `scope`; raises the errors above otherwise."""
    noun = str(scope.model._meta.verbose_name)
    if not value.startswith(prefix + "_"):
        raise InvalidStartingAfter(
            f"starting_after takes {noun} ids ({prefix}_...), not {value!r}.",
            param="starting_after",
        )
    if not is_valid_id(value, prefix) or not scope.filter(pk=value).exists():
        raise ResourceMissing(
            f"No such {noun}: {value!r}. starting_after takes the id of an object in this list "
            "(the last one of the previous page).",
            param="starting_after",
        )
    return value


def paginate[M: Model](
    queryset: QuerySet[M],
    params: ListParams,
    prefix: str,
    render: Callable[[M], dict[str, Any]],
    *,
    scope: QuerySet[M] | None = None,
) -> dict[str, Any]:
    """One page of `queryset`, newest first. `scope` is the list before its filters (the
    queryset itself when it has none): `starting_after` must name an object in it."""
    if params.starting_after is not None:
        cursor = check_starting_after(
            params.starting_after, prefix, queryset if scope is None else scope
        )
        queryset = queryset.filter(pk__lt=cursor)
    queryset = queryset.order_by("-pk")
    rows = list(queryset[: params.limit + 1])
    return {
        "object": "list",
        "data": [render(row) for row in rows[: params.limit]],
        "has_more": len(rows) > params.limit,
    }
