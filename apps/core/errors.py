"""Domain errors: raised by services, mapped to DRF responses and to form errors."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused an operation. `code` is stable and machine-readable."""

    code = "domain_error"
    http_status = 400

    def __init__(
        self,
        message: str,
        code: str | None = None,
        http_status: int | None = None,
        extra: dict[str, Any] | None = None,
        field: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if http_status is not None:
            self.http_status = http_status
        self.extra = extra or {}
        self.field = field

    def as_dict(self) -> dict[str, Any]:
        return {"message": self.message, "code": self.code, "extra": self.extra}


class ValidationFailed(DomainError):
    code = "invalid"
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class InvalidTransition(Conflict):
    code = "invalid_transition"


class FourEyesViolation(Forbidden):
    code = "four_eyes"


def add_domain_error_to_form(form, error: DomainError) -> None:
    """Put a DomainError on a form: on its field when the error names one the form has, else non-field."""
    field = error.field if error.field and error.field in form.fields else None
    form.add_error(field, error.message)
