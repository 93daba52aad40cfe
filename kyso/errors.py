"""The KysoError hierarchy.

Each error has a stable machine ``code``, a ``kind`` (what went wrong, in the domain's terms)
and a public message in Vietnamese and English that is safe to show any caller. Internal
detail (paths, driver messages) goes to ``log_detail`` and reaches only the log, never the
response. What a kind means over HTTP (its status, the problem+json body) is the edge's
business: kyso/problems.py.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

from kyso.messages import (
    API_KEY_REQUIRED,
    CONFIGURATION_FILE_NOT_FOUND,
    CONFIGURATION_FILE_NOT_VALID_TOML,
    CONFIGURATION_VALUE_INVALID,
    DATABASE_HAS_NO_SCHEMA,
    DATABASE_UNREACHABLE,
    ROLE_NOT_ALLOWED,
    TOO_MANY_FAILED_ATTEMPTS,
    UNEXPECTED_ERROR,
    UNKNOWN_CONFIGURATION_KEY,
    Message,
)


class ErrorKind(StrEnum):
    """What went wrong, as the domain sees it; each edge maps a kind to its own answer."""

    INVALID = "invalid"                  # the request is malformed or breaks a rule
    UNAUTHENTICATED = "unauthenticated"  # who the caller is, or their consent, is not proven
    FORBIDDEN = "forbidden"              # the caller may not do this
    NOT_FOUND = "not-found"
    CONFLICT = "conflict"                # the state of things does not allow it (now)
    TOO_LARGE = "too-large"
    UNSUPPORTED = "unsupported"          # a kind of document or content we do not take
    UNPROCESSABLE = "unprocessable"      # well-formed, but its content cannot be used
    RATE_LIMITED = "rate-limited"
    UNAVAILABLE = "unavailable"          # a dependency (database, HSM, TSA) is not there; retry
    INTERNAL = "internal"                # our fault: configuration or a bug


def _rebuilt(cls: type[KysoError], args: tuple[Any, ...], state: dict[str, Any]) -> KysoError:
    """An error as it was pickled: its class, its args and its attributes, without calling
    the class's own __init__ (many take other arguments than the messages)."""
    exc = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class KysoError(Exception):
    """Every subclass survives pickling as it is, whatever its __init__ takes (the bounded
    helper processes send errors back to the worker this way): messages, ``log_detail`` and
    ``extra`` included."""

    code: ClassVar[str] = "internal-error"
    kind: ClassVar[ErrorKind] = ErrorKind.INTERNAL
    title_en: ClassVar[str] = "Internal error"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuilt, (type(self), self.args, dict(self.__dict__)))

    def __init__(
        self,
        message: Message | str,
        message_vi: str | None = None,
        *,
        log_detail: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        # The (en, vi) pair of strings is accepted only while raise sites move to catalogues.
        if isinstance(message, str):
            if message_vi is None:
                raise TypeError("a KysoError needs a Message (or, for now, an English and a Vietnamese text)")
            message = Message(message, message_vi)
        super().__init__(message.en)
        self.message = message
        self.log_detail = log_detail
        self.extra = extra or {}

    @property
    def message_en(self) -> str:
        return self.message.en

    @property
    def message_vi(self) -> str:
        return self.message.vi



class ConfigError(KysoError):
    code = "config-invalid"
    kind = ErrorKind.INTERNAL
    title_en = "Configuration error"

    @classmethod
    def unknown_key(cls, key: str) -> ConfigError:
        return cls(
            UNKNOWN_CONFIGURATION_KEY.format(key=key),
            extra={"key": key},
        )

    @classmethod
    def invalid(cls, key: str, expected: str) -> ConfigError:
        return cls(
            CONFIGURATION_VALUE_INVALID.format(key=key, expected=expected),
            extra={"key": key},
        )

    @classmethod
    def file_missing(cls, path: str) -> ConfigError:
        return cls(CONFIGURATION_FILE_NOT_FOUND.format(path=path))

    @classmethod
    def bad_file(cls, path: str, why: str) -> ConfigError:
        return cls(CONFIGURATION_FILE_NOT_VALID_TOML.format(path=path, why=why))


class BadRequest(KysoError):
    code = "bad-request"
    kind = ErrorKind.INVALID
    title_en = "Bad request"


class Unauthenticated(KysoError):
    code = "unauthenticated"
    kind = ErrorKind.UNAUTHENTICATED
    title_en = "Authentication required"

    def __init__(self, message: Message | str = API_KEY_REQUIRED, message_vi: str | None = None) -> None:
        super().__init__(message, message_vi)


class Forbidden(KysoError):
    code = "forbidden"
    kind = ErrorKind.FORBIDDEN
    title_en = "Forbidden"

    def __init__(self, message: Message | str = ROLE_NOT_ALLOWED, message_vi: str | None = None, *,
                 action: str | None = None) -> None:
        super().__init__(message, message_vi, extra={"action": action} if action else None)


class NotFound(KysoError):
    code = "not-found"
    kind = ErrorKind.NOT_FOUND
    title_en = "Not found"


class Conflict(KysoError):
    code = "conflict"
    kind = ErrorKind.CONFLICT
    title_en = "Conflict"


class PayloadTooLarge(KysoError):
    code = "payload-too-large"
    kind = ErrorKind.TOO_LARGE
    title_en = "Payload too large"


class TooManyRequests(KysoError):
    """Refused for a while; ``retry_after`` seconds go to the Retry-After header."""

    code = "too-many-requests"
    kind = ErrorKind.RATE_LIMITED
    title_en = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            TOO_MANY_FAILED_ATTEMPTS.format(retry_after=retry_after),
            extra={"retry_after": retry_after},
        )


class ServiceUnavailable(KysoError):
    code = "service-unavailable"
    kind = ErrorKind.UNAVAILABLE
    title_en = "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    code = "database-unavailable"

    def __init__(self, log_detail: str | None = None) -> None:
        super().__init__(
            DATABASE_UNREACHABLE,
            log_detail=log_detail,
        )


class DatabaseNotInitialised(ServiceUnavailable):
    code = "database-not-initialised"

    def __init__(self) -> None:
        super().__init__(DATABASE_HAS_NO_SCHEMA)


class InternalError(KysoError):
    code = "internal-error"
    kind = ErrorKind.INTERNAL
    title_en = "Internal error"

    def __init__(self, incident_id: str) -> None:
        super().__init__(
            UNEXPECTED_ERROR.format(incident_id=incident_id),
            extra={"incident_id": incident_id},
        )
