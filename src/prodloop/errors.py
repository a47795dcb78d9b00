"""One exception hierarchy: the API maps it to 4xx, the CLI to a red line and exit code 2."""

from __future__ import annotations


class ProdloopError(Exception):
    """Base of every error prodloop raises on purpose."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ConfigError(ProdloopError):
    """prodloop.yaml (or a PRODLOOP_* override) is invalid."""

    def __init__(
        self, message: str, *, field: str | None = None, line: int | None = None, path: str = ""
    ) -> None:
        super().__init__(message, field=field)
        self.line = line
        self.path = path

    def __str__(self) -> str:
        where = self.path or "config"
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class ValidationError(ProdloopError):
    """A request or argument is malformed; the message names the field."""

    status_code = 422


class NotFoundError(ProdloopError):
    status_code = 404


class AuthError(ProdloopError):
    status_code = 401


class StoreError(ProdloopError):
    """The store is unreachable or its schema is not at the expected revision."""

    status_code = 503
