"""The API's error object, shared by every router (used for validation and OpenAPI)."""

from __future__ import annotations

from ninja import Field, Schema


class ErrorBody(Schema):
    type: str = Field(description="invalid_request_error, authentication_error, ...")
    code: str = Field(description="A stable, machine-readable code for the condition.")
    message: str
    param: str | None = None


class ErrorOut(Schema):
    error: ErrorBody
