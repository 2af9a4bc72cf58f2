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
    """A parameter that fails its rule: Grape's error shape, as every GitLab API
    parameter error."""

    def __init__(self, field: str) -> None:
        super().__init__(f"{field} is invalid")
        self.field = field

    def body(self) -> dict[str, str]:
        return {"error": f"{self.field} is invalid"}


class InvalidParam(BadRequest):
    """A query parameter out of its allowed values: Grape's error shape."""

    def __init__(self, param: str) -> None:
        super().__init__(f"{param} does not have a valid value")
        self.param = param

    def body(self) -> dict[str, str]:
        return {"error": f"{self.param} does not have a valid value"}


class ParamError(BadRequest):
    """Any other Grape parameter error (`package_type is missing`), in its shape."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error

    def body(self) -> dict[str, str]:
        return {"error": self.error}


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


class RecordNotFound(NotFound):
    """GitLab's answer when a lookup by name or id finds nothing, or a record
    vanished while the request used it (its ActiveRecord::RecordNotFound rescue):
    a lower-case "found"."""

    @property
    def message(self) -> str:
        return "404 Not found"


class Conflict(GatewayError):
    status, title = 409, "Conflict"


class DuplicatePackage(Conflict):
    def __init__(self) -> None:
        super().__init__("Duplicate package is not allowed")


class Unprocessable(GatewayError):
    """A valid request the service refuses (GitLab's 422 `{"error": ...}`)."""

    status, title = 422, "Unprocessable Entity"

    def body(self) -> dict[str, str]:
        return {"error": self.detail or self.title}


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
    """A backing service (database, object store) failed; the client may retry.

    The detail names endpoints, keys and upload ids: it goes to the log (and to
    the operator's CLI), while the answer body says only which service failed.
    """

    status, title = 503, "Service Unavailable"
    service = "a backing service"

    def body(self) -> dict[str, str]:
        return {"message": f"{self.status} {self.title} - {self.service} is unavailable"}


class StorageError(ServiceUnavailable):
    service = "object storage"


class StorageFull(StorageError):
    """The data directory's file system is full (or over quota): retrying soon
    will not help, freeing space will."""

    status, title = 507, "Insufficient Storage"

    def body(self) -> dict[str, str]:
        return {"message": f"{self.status} {self.title} - object storage is full"}


class DatabaseError(ServiceUnavailable):
    service = "the database"


class DatabaseUnreachable(DatabaseError):
    """No connection could be had: nothing was sent to the database."""


class NotFoundInStorage(StorageError):
    """The row points at an object the store does not have."""


class AwaitingVerification(NotFound):
    """The file of that name waits for its verification pipeline (gated push)."""

    @property
    def message(self) -> str:
        return "404 Package file is awaiting verification"
