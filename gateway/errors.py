"""The gateway's own errors. Lower layers raise these; one middleware renders them.

Messages follow GitLab's API: `{"message": "400 Bad request - package_name is invalid"}`.
"""

from __future__ import annotations


class GatewayError(Exception):
    status: int = 500
    title: str = "Internal Server Error"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail

    @property
    def message(self) -> str:
        if self.detail:
            return f"{self.status} {self.title} - {self.detail}"
        return f"{self.status} {self.title}"

    def body(self) -> dict[str, str]:
        return {"message": self.message}

    def headers(self) -> dict[str, str]:
        return {}


class BadRequest(GatewayError):
    status, title = 400, "Bad request"


class InvalidField(BadRequest):
    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is invalid")
        self.field = field


class InvalidParam(BadRequest):
    """A query parameter out of its allowed values: Grape's error shape."""

    def __init__(self, param: str) -> None:
        super().__init__(f"{param} does not have a valid value")
        self.param = param

    def body(self) -> dict[str, str]:
        return {"error": f"{self.param} does not have a valid value"}


class ChecksumMismatch(BadRequest):
    def __init__(self, header: str) -> None:
        super().__init__(f"{header} does not match the uploaded content")


class UploadInterrupted(BadRequest):
    """The client went away or sent fewer bytes than it announced."""

    def __init__(self) -> None:
        super().__init__("request body ended early")


class Unauthorized(GatewayError):
    status, title = 401, "Unauthorized"

    def headers(self) -> dict[str, str]:
        # What GitLab's package endpoints send, so Basic-auth clients retry with credentials.
        return {"WWW-Authenticate": 'Basic realm="GitLab Packages Registry"'}


class InvalidToken(Unauthorized):
    """A known token that can no longer be used: GitLab answers in OAuth form."""

    def body(self) -> dict[str, str]:
        return {"error": "invalid_token", "error_description": self.detail or ""}


class Forbidden(GatewayError):
    status, title = 403, "Forbidden"


class InsufficientScope(Forbidden):
    def __init__(self, required: str) -> None:
        super().__init__("insufficient_scope")
        self.required = required

    def body(self) -> dict[str, str]:
        return {
            "error": "insufficient_scope",
            "error_description": "The request requires higher privileges than provided by the access token.",
            "scope": self.required,
        }


class NotFound(GatewayError):
    status, title = 404, "Not Found"

    def __init__(self, resource: str | None = None) -> None:
        super().__init__(None)
        self.resource = resource

    @property
    def message(self) -> str:
        return f"404 {self.resource} Not Found" if self.resource else "404 Not Found"


class Conflict(GatewayError):
    status, title = 409, "Conflict"


class DuplicatePackage(Conflict):
    def __init__(self) -> None:
        super().__init__("Duplicate package is not allowed")


class PreconditionFailed(GatewayError):
    status, title = 412, "Precondition Failed"


class PayloadTooLarge(GatewayError):
    status, title = 413, "Payload Too Large"


class RangeNotSatisfiable(GatewayError):
    status, title = 416, "Range Not Satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(None)
        self.size = size

    def headers(self) -> dict[str, str]:
        return {"Content-Range": f"bytes */{self.size}"}


class UploadTimeout(GatewayError):
    status, title = 408, "Request Timeout"


class ServiceUnavailable(GatewayError):
    """A backing service (database, object store) failed; the client may retry."""

    status, title = 503, "Service Unavailable"


class StorageError(ServiceUnavailable):
    pass


class DatabaseError(ServiceUnavailable):
    pass


class DatabaseUnreachable(DatabaseError):
    """No connection could be had: nothing was sent to the database."""


class NotFoundInStorage(StorageError):
    """The row points at an object the store does not have."""


class AwaitingVerification(NotFound):
    """The file of that name waits for its verification pipeline (gated push)."""

    @property
    def message(self) -> str:
        return "404 Package file is awaiting verification"
