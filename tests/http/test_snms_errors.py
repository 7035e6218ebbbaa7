"""The SNMS answer table (no server): statuses and messages for the error hierarchy."""

from __future__ import annotations

from idnode.http.snms_errors import answer_for, error_envelope
from idnode.model.errors import (
    ConflictingUpdate,
    HandleNotFound,
    IdnodeError,
    InvalidValue,
    SnmsInvalid,
    TokenRejected,
)


class _Later(IdnodeError):
    """An error added to the hierarchy after the table was written."""

    response_code = 3


def test_errors_are_answered_by_their_most_specific_entry() -> None:
    assert answer_for(SnmsInvalid("缺少必要的请求参数: handle")) == (-2, "缺少必要的请求参数: handle")
    assert answer_for(HandleNotFound("Handle x/y not found.")) == (-2, "没有找到标识")
    assert answer_for(HandleNotFound("Handle x/y not found."), item=True) == (-2, "标识不存在")
    assert answer_for(InvalidValue("Index 400 is the node's.")) == (
        -2,
        "标识属性不合法：Index 400 is the node's.",
    )
    assert answer_for(TokenRejected()) == (-1, "没有登录，需要验证")
    assert answer_for(IdnodeError("boom")) == (-4, "系统内部错误")


def test_an_unknown_error_telling_clients_to_retry_is_busy() -> None:
    assert answer_for(_Later("later")) == answer_for(ConflictingUpdate()) == (-1, "系统繁忙")
    response = error_envelope(_Later("later"))
    assert (response.status, response.headers["Retry-After"]) == (503, "1")
