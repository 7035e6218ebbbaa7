"""The memo of rendered answers (idnode/dns/memo.py)."""

from __future__ import annotations

import gc
import time

from idnode.cache import ENTRY_OVERHEAD, CachedResponse
from idnode.dns.answers import Answer
from idnode.dns.memo import AnswerMemo

ANSWER = Answer(0, 1, 0, b"x" * 100)
SIZE = len(b"name") + 100 + ENTRY_OVERHEAD


def key(n: int) -> tuple[bytes, int, int]:
    return (b"name", n, 1)


def test_least_recently_used_answers_go_first_within_the_budget() -> None:
    memo = AnswerMemo(3 * SIZE)
    for n in range(3):
        memo.put(key(n), ANSWER, None, None)
    assert memo.get(key(0)) == (ANSWER, None, None)  # now the most recently used
    memo.put(key(3), ANSWER, None, None)
    assert memo.get(key(1)) is None and memo.get(key(0)) is not None and memo.bytes == 3 * SIZE
    memo.put(key(0), ANSWER, None, None)  # replacing an entry does not count it twice
    assert memo.bytes == 3 * SIZE
    nothing = AnswerMemo(0)  # the resolution cache turned off (cache_bytes 0)
    nothing.put(key(0), ANSWER, None, None)
    assert nothing.get(key(0)) is None and nothing.bytes == 0


def test_the_memo_does_not_keep_the_resolvers_answers_alive() -> None:
    memo = AnswerMemo(10 * SIZE)
    source = CachedResponse(1, b"{}", '"e"', time.monotonic() + 60, "88.999.1001")
    memo.put(key(0), ANSWER, "88.999.1001/x", source)
    assert memo.get(key(0)) == (ANSWER, "88.999.1001/x", source)
    del source
    gc.collect()
    assert memo.get(key(0)) == (ANSWER, "88.999.1001/x", None)  # gone: the zone renders afresh
