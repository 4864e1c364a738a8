"""Request and response schemas of /v1/customers (used for validation and OpenAPI)."""

from __future__ import annotations

from ninja import Field, Schema

from kassa.core.schemas import InputSchema


class CustomerIn(InputSchema):
    email: str | None = Field(None, max_length=254)
    name: str | None = Field(None, max_length=200)
    phone: str | None = Field(None, description="E.164, e.g. +998901234567")
    locale: str | None = Field(None, description="en, de, ru or uz")
    metadata: dict[str, str] | None = None


class CustomerOut(Schema):
    id: str
    object: str = "customer"
    email: str | None
    name: str | None
    phone: str | None
    locale: str | None
    metadata: dict[str, str]
    created: str


class CustomerList(Schema):
    object: str = "list"
    data: list[CustomerOut]
    has_more: bool
