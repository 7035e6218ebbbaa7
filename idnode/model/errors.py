"""One error hierarchy for the whole node; each class carries its Handle responseCode.

Front ends map these to their own status codes in one table each (HTTP: idnode/http/errors.py).
"""

from __future__ import annotations


class IdnodeError(Exception):
    """An error in idnode."""

    response_code: int = 2  # Handle RC_ERROR

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.message = message or (self.__doc__ or self.__class__.__name__).strip()
        self.details = details
        super().__init__(self.message)


class ProtocolError(IdnodeError):
    """The request could not be understood."""

    response_code = 4


class HandleNotFound(IdnodeError):
    """Handle not found."""

    response_code = 100


class HandleAlreadyExists(IdnodeError):
    """Handle already exists."""

    response_code = 101


class InvalidHandle(IdnodeError):
    """Invalid handle."""

    response_code = 102


class ValuesNotFound(IdnodeError):
    """No values found for the given index or type."""

    response_code = 200


class ValueAlreadyExists(IdnodeError):
    """A value with that index already exists."""

    response_code = 201


class InvalidValue(IdnodeError):
    """Invalid handle value."""

    response_code = 202


class InvalidGs1Key(InvalidValue):
    """Invalid GS1 key."""


class Gs1KeyNotFound(IdnodeError):
    """Nothing is registered for that GS1 key."""

    response_code = 100


class LinkTypeNotFound(IdnodeError):
    """No link of the requested type."""

    response_code = 100


class ConflictingUpdate(IdnodeError):
    """The record changed while this write was in progress; retry."""

    response_code = 3  # RC_SERVER_TOO_BUSY: the client may retry


class PrefixNotHere(IdnodeError):
    """That prefix doesn't live here."""

    response_code = 301


class UpstreamUnavailable(IdnodeError):
    """The node responsible for the prefix (or the service locating it) could not be reached; retry."""

    response_code = 3  # RC_SERVER_TOO_BUSY: temporary, the client may retry


class StoreUnavailable(IdnodeError):
    """The node's database cannot be reached just now; retry."""

    response_code = 3  # RC_SERVER_TOO_BUSY: temporary, the client may retry


class UnverifiedRecord(IdnodeError):
    """The record another node returned failed signature verification; it is not passed on."""

    response_code = 2


class ReadOnlyMirror(IdnodeError):
    """This node is a read-only mirror; send changes to its primary."""

    response_code = 7  # RC_SERVER_BACKUP: Handle's answer from a mirror (secondary) to a change


class InvalidAdmin(IdnodeError):
    """Invalid admin."""

    response_code = 400


class InsufficientPermissions(IdnodeError):
    """Insufficient permissions."""

    response_code = 401


class AuthenticationNeeded(IdnodeError):
    """Authentication needed."""

    response_code = 402


class LoginFailed(AuthenticationNeeded):
    """用户名/密码错误！"""


class TokenRejected(AuthenticationNeeded):
    """没有登录，需要验证"""


class AuthenticationFailed(IdnodeError):
    """Authentication failed."""

    response_code = 403


class EnterpriseNotFound(IdnodeError):
    """Enterprise not found."""

    response_code = 100


class EnterpriseExists(IdnodeError):
    """An enterprise with that unified social credit code already exists."""

    response_code = 101


class InvalidEnterprise(IdnodeError):
    """Invalid enterprise data."""

    response_code = 202


class EnterpriseSuspended(IdnodeError):
    """The enterprise is suspended; its identifiers cannot be changed."""

    response_code = 401


class TemplateNotFound(IdnodeError):
    """No such metadata template."""

    response_code = 100


class TemplateExists(IdnodeError):
    """That template version exists already."""

    response_code = 101


class InvalidTemplate(IdnodeError):
    """Invalid metadata template."""

    response_code = 202


class DataTemplateNotFound(TemplateNotFound):
    """数据模板不存在"""


class DataTemplateExists(TemplateExists):
    """数据模板已存在"""


class DataTemplateInvalid(InvalidTemplate):
    """数据模板参数不合法"""


class TemplateMismatch(InvalidValue):
    """标识属性与数据模板不符"""


class TemplateInUse(IdnodeError):
    """Stored records use this template version, so it cannot be deleted."""

    response_code = 202


class SnmsInvalid(InvalidValue):
    """An SNMS business API request (or one item of it) is refused; the message, in Chinese as that API
    answers, says why (see idnode/snms/)."""


class BackupError(IdnodeError):
    """The backup could not be made or restored."""


class RateLimited(IdnodeError):
    """Too many requests from this client; retry later."""

    response_code = 3  # RC_SERVER_TOO_BUSY: Handle's "retry later"; HTTP answers 429 with Retry-After

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.retry_after = retry_after


class LoginThrottled(RateLimited):
    """Too many failed logins for this account or from this client; try again later.

    ``retry_after`` is the whole seconds to wait. Handle has no code for this; RC 3 (server too busy)
    is the one its clients treat as "retry later", and the secret was not checked.
    """


class BodyTooLarge(IdnodeError):
    """The request body is too large."""

    response_code = 4  # a protocol error; HTTP answers 413


class RequestTimedOut(IdnodeError):
    """The request did not arrive in time."""

    response_code = 4  # a protocol error; HTTP answers 408


class InsecureChannel(IdnodeError):
    """Credentials are accepted only over HTTPS (or from this machine)."""

    response_code = 403  # RC_AUTHENTICATION_FAILED: the credential is not even looked at


class ApplicationNotFound(IdnodeError):
    """No such application."""

    response_code = 100


class ApplicationExists(IdnodeError):
    """该统一社会信用代码已有申请或已注册 / That unified social credit code has an open application or
    a registered enterprise already."""

    response_code = 101


class TransitionNotAllowed(IdnodeError):
    """The application's state does not allow that action."""

    response_code = 2  # no Handle code fits; HTTP answers 409 (see idnode/http/errors.py)


class CredentialCollected(TransitionNotAllowed):
    """该申请的管理员账号已领取过（只能领取一次） / The application's admin credential has been
    collected already (once only); the operator can reset it."""


class LicenceTooLarge(IdnodeError):
    """The business licence file is too large."""

    response_code = 4  # HTTP answers 413


class UnsupportedLicenceType(IdnodeError):
    """The business licence must be a PDF, PNG or JPEG file."""

    response_code = 202  # HTTP answers 415
