"""RFC 9162 (Certificate Transparency 2.0) Merkle tree hashing, proofs and proof verification.

Pure functions over a tree whose perfect subtrees can be looked up: ``subtree(level, index)`` returns
the hash of the perfect subtree of 2**level leaves starting at leaf ``index * 2**level`` (level 0 is
the leaf hash). The log keeps those hashes, so every proof costs O(log n) lookups. Hashing: leaf
``SHA-256(0x00 || entry)``, interior node ``SHA-256(0x01 || left || right)``, empty tree ``SHA-256()``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Sequence

Subtree = Callable[[int, int], Awaitable[bytes]]


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


async def range_hash(subtree: Subtree, start: int, size: int) -> bytes:
    """MTH of leaves [start, start + size); ``start`` is a multiple of the split sizes used (RFC 9162)."""
    if size == 0:
        return EMPTY_ROOT
    if size & (size - 1) == 0:  # a perfect subtree
        level = size.bit_length() - 1
        return await subtree(level, start >> level)
    k = _split(size)
    return node_hash(await range_hash(subtree, start, k), await range_hash(subtree, start + k, size - k))


async def inclusion_proof(subtree: Subtree, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError("leaf index outside the tree")

    async def path(m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*await path(m, start, k), await range_hash(subtree, start + k, n - k)]
        return [*await path(m - k, start + k, n - k), await range_hash(subtree, start, k)]

    return await path(index, 0, size)


async def consistency_proof(subtree: Subtree, first: int, second: int) -> list[bytes]:
    """PROOF(first, D[second]) of RFC 9162 section 2.1.4.1."""
    if not 0 < first <= second:
        raise ValueError("need 0 < first <= second")

    async def subproof(m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [await range_hash(subtree, start, n)]
        k = _split(n)
        if m <= k:
            return [*await subproof(m, start, k, complete), await range_hash(subtree, start + k, n - k)]
        return [*await subproof(m - k, start + k, n - k, False), await range_hash(subtree, start, k)]

    return await subproof(first, 0, second, True)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 section 2.1.3.2: does ``proof`` show leaf hash ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 section 2.1.4.2: is the tree of size ``second`` an extension of the one of size ``first``?"""
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    path = list(proof)
    if first & (first - 1) == 0:  # first is a power of two: its root is the first node of the path
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn & 1 == 0 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


async def completed_subtrees(leaf_index: int, leaf: bytes, subtree: Subtree) -> list[tuple[int, int, bytes]]:
    """The perfect subtrees that appending leaf ``leaf_index`` completes: (level, index, hash), level >= 1.

    ``subtree`` must already know the left neighbours (the tree's right edge before the append).
    """
    completed = []
    current, level, index = leaf, 0, leaf_index
    while index & 1:
        current = node_hash(await subtree(level, index - 1), current)
        level, index = level + 1, index >> 1
        completed.append((level, index, current))
    return completed
