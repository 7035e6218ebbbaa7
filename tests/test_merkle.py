"""RFC 9162 Merkle tree hashing and proofs (idnode.merkle) against a naive recursive MTH.

The reference below follows RFC 9162 section 2.1.1 literally (MTH over a list of leaf hashes, split
at the largest power of two smaller than n). The module under test only ever sees the tree through
``subtree(level, index)`` lookups, which here refuse any subtree reaching beyond the tree being
asked about, so a proof that peeks at leaves it should not know fails loudly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Coroutine
from functools import cache
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idnode import merkle

MAX_LEAVES = 300
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never suspends (the lookups here are plain dict reads)."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise AssertionError("the coroutine suspended")


# -- the naive reference ---------------------------------------------------------------------------


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def split_point(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaf_hashes: list[bytes]) -> bytes:
    """MTH(D[n]) of RFC 9162 2.1.1, over leaf hashes (already ``SHA-256(0x00 || d)``)."""
    if not leaf_hashes:
        return sha256(b"")
    if len(leaf_hashes) == 1:
        return leaf_hashes[0]
    k = split_point(len(leaf_hashes))
    return sha256(b"\x01" + naive_mth(leaf_hashes[:k]) + naive_mth(leaf_hashes[k:]))


def naive_sides(m: int, n: int) -> list[str]:
    """The shape of PATH(m, D[n]): for each proof hash, whether the sibling is on the left or right."""
    if n == 1:
        return []
    k = split_point(n)
    if m < k:
        return [*naive_sides(m, k), "R"]
    return [*naive_sides(m - k, n - k), "L"]


def naive_proof_length(m: int, n: int, complete: bool = True) -> int:
    """len(SUBPROOF(m, D[n], b)) of RFC 9162 2.1.4.1."""
    if m == n:
        return 0 if complete else 1
    k = split_point(n)
    if m <= k:
        return naive_proof_length(m, k, complete) + 1
    return naive_proof_length(m - k, n - k, False) + 1


@cache
def leaves_for(seed: int, n: int) -> tuple[bytes, ...]:
    return tuple(merkle.leaf_hash(seed.to_bytes(8, "big") + i.to_bytes(4, "big")) for i in range(n))


class Tree:
    """A tree of leaf hashes with every perfect subtree precomputed (naively, bottom-up)."""

    def __init__(self, leaves: tuple[bytes, ...]) -> None:
        self.leaves = list(leaves)
        self.perfect: dict[tuple[int, int], bytes] = {(0, i): h for i, h in enumerate(leaves)}
        level = 0
        while (2 << level) <= len(leaves):
            for index in range(len(leaves) >> (level + 1)):
                left, right = self.perfect[(level, 2 * index)], self.perfect[(level, 2 * index + 1)]
                self.perfect[(level + 1, index)] = sha256(b"\x01" + left + right)
            level += 1

    def view(self, size: int) -> merkle.Subtree:
        """The lookup a log of ``size`` leaves would offer: nothing beyond leaf ``size - 1``."""

        async def subtree(level: int, index: int) -> bytes:
            assert (index + 1) << level <= size, f"subtree ({level}, {index}) reaches beyond size {size}"
            return self.perfect[(level, index)]

        return subtree

    def root(self, size: int) -> bytes:
        return run(merkle.range_hash(self.view(size), 0, size))

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return run(merkle.inclusion_proof(self.view(size), index, size))

    def consistency(self, first: int, second: int) -> list[bytes]:
        return run(merkle.consistency_proof(self.view(second), first, second))


@cache
def tree(seed: int, n: int) -> Tree:
    return Tree(leaves_for(seed, n))


def flip(data: bytes, bit: int) -> bytes:
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


sizes = st.integers(min_value=1, max_value=MAX_LEAVES)
seeds = st.integers(min_value=0, max_value=3)


# -- known values ----------------------------------------------------------------------------------


def test_empty_tree_root_is_sha256_of_nothing() -> None:
    expected = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    assert expected == merkle.EMPTY_ROOT
    assert run(merkle.range_hash(Tree(()).view(0), 0, 0)) == expected
    assert naive_mth([]) == expected


def test_three_leaf_tree_computed_by_hand() -> None:
    a, b, c = (hashlib.sha256(b"\x00" + d).digest() for d in (b"a", b"b", b"c"))
    ab = hashlib.sha256(b"\x01" + a + b).digest()
    root = hashlib.sha256(b"\x01" + ab + c).digest()
    assert merkle.leaf_hash(b"a") == a
    assert merkle.node_hash(a, b) == ab
    assert root.hex() == "36642e73c2540ab121e3a6bf9545b0a24982cd830eb13d3cd19de3ce6c021ec1"
    three = Tree((a, b, c))
    assert three.root(3) == root
    assert three.inclusion(2, 3) == [ab]
    assert three.inclusion(0, 3) == [b, c]
    assert merkle.verify_inclusion(c, 2, 3, [ab], root)
    assert three.consistency(2, 3) == [c]
    assert merkle.verify_consistency(2, 3, ab, root, [c])


# The RFC 6962 reference vectors (certificate-transparency's merkle tree tests).
RFC6962_ENTRIES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
RFC6962_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_rfc6962_reference_roots() -> None:
    reference = Tree(tuple(merkle.leaf_hash(bytes.fromhex(e)) for e in RFC6962_ENTRIES))
    assert [reference.root(n).hex() for n in range(1, 9)] == RFC6962_ROOTS


# -- roots and proofs agree with the reference -------------------------------------------------------


@PROPERTY_SETTINGS
@given(seed=seeds, n=sizes)
def test_range_hash_is_the_naive_root(seed: int, n: int) -> None:
    t = tree(seed, n)
    assert t.root(n) == naive_mth(t.leaves)


@PROPERTY_SETTINGS
@given(seed=seeds, n=sizes, start_level=st.integers(0, 8), data=st.data())
def test_range_hash_of_an_aligned_range(seed: int, n: int, start_level: int, data: st.DataObject) -> None:
    """range_hash(start, size) with ``start`` aligned like the proofs use it is MTH of that slice."""
    t = tree(seed, n)
    blocks = n >> start_level
    if blocks == 0:
        return
    start = data.draw(st.integers(0, blocks - 1)) << start_level
    size = data.draw(st.integers(1, min(1 << start_level, n - start)))
    assert run(merkle.range_hash(t.view(start + size), start, size)) == naive_mth(
        t.leaves[start : start + size]
    )


@PROPERTY_SETTINGS
@given(seed=seeds, n=sizes)
def test_every_inclusion_proof_verifies(seed: int, n: int) -> None:
    t = tree(seed, n)
    root = naive_mth(t.leaves)
    for index in range(n):
        proof = t.inclusion(index, n)
        assert len(proof) == len(naive_sides(index, n))
        assert merkle.verify_inclusion(t.leaves[index], index, n, proof, root), (index, n)


def test_consistency_between_every_pair_of_small_sizes() -> None:
    t = tree(0, 64)
    roots = [naive_mth(t.leaves[:n]) for n in range(65)]
    for second in range(1, 65):
        for first in range(1, second + 1):
            proof = t.consistency(first, second)
            assert len(proof) == naive_proof_length(first, second)
            assert merkle.verify_consistency(first, second, roots[first], roots[second], proof), (
                first,
                second,
            )


@PROPERTY_SETTINGS
@given(seed=seeds, second=sizes, data=st.data())
def test_consistency_proofs_verify(seed: int, second: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(1, second), label="first")
    t = tree(seed, second)
    proof = t.consistency(first, second)
    assert len(proof) == naive_proof_length(first, second)
    first_root, second_root = naive_mth(t.leaves[:first]), naive_mth(t.leaves)
    assert merkle.verify_consistency(first, second, first_root, second_root, proof)
    if first < second:  # the roots cannot be swapped or mixed up
        assert not merkle.verify_consistency(first, second, second_root, first_root, proof)
        assert not merkle.verify_consistency(first, second, first_root, first_root, proof)


# -- tampered inclusion proofs ---------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(seed=seeds, n=st.integers(2, MAX_LEAVES), data=st.data())
def test_inclusion_tampering_is_rejected(seed: int, n: int, data: st.DataObject) -> None:
    t = tree(seed, n)
    root = t.root(n)
    index = data.draw(st.integers(0, n - 1), label="index")
    leaf, proof = t.leaves[index], t.inclusion(index, n)
    assert merkle.verify_inclusion(leaf, index, n, proof, root)

    # one bit of one proof hash
    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    bit = data.draw(st.integers(0, 255), label="bit")
    forged = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
    assert not merkle.verify_inclusion(leaf, index, n, forged, root)
    # one bit of the leaf or of the root
    assert not merkle.verify_inclusion(flip(leaf, bit), index, n, proof, root)
    assert not merkle.verify_inclusion(leaf, index, n, proof, flip(root, bit))
    # truncated, extended at either end
    cut = data.draw(st.integers(1, len(proof)), label="cut")
    assert not merkle.verify_inclusion(leaf, index, n, proof[:-cut], root)
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    assert not merkle.verify_inclusion(leaf, index, n, [*proof, extra], root)
    assert not merkle.verify_inclusion(leaf, index, n, [extra, *proof], root)
    # another index: never accepted (within one tree size every index has its own path shape)
    other = data.draw(st.integers(0, n - 1).filter(lambda i: i != index), label="other index")
    assert not merkle.verify_inclusion(leaf, other, n, proof, root)
    assert not merkle.verify_inclusion(leaf, n, n, proof, root)
    assert not merkle.verify_inclusion(leaf, -1, n, proof, root)
    # another size: accepted exactly when PATH(index, size) has the same shape, i.e. when the verifier
    # recombines the same hashes in the same order (the root does not encode the size: that is what
    # the signed tree head's tree_size is for); every other size is rejected.
    size = data.draw(st.integers(1, 2 * MAX_LEAVES).filter(lambda s: s != n), label="other size")
    same_shape = index < size and naive_sides(index, size) == naive_sides(index, n)
    assert merkle.verify_inclusion(leaf, index, size, proof, root) == same_shape
    assert not merkle.verify_inclusion(leaf, index, 0, proof, root)


def test_inclusion_wrong_size_examples() -> None:
    t = tree(1, 13)
    root = t.root(13)
    proof = t.inclusion(5, 13)
    accepted = [size for size in range(1, 40) if merkle.verify_inclusion(t.leaves[5], 5, size, proof, root)]
    # leaf 5 sits in the left 8-leaf half of every tree of 9..16 leaves, with the same path there;
    # in a tree of 8 or fewer leaves the path is shorter, of 17 or more longer
    assert accepted == list(range(9, 17))
    assert all(naive_sides(5, size) == naive_sides(5, 13) for size in accepted)


def test_inclusion_proof_rejects_an_index_outside_the_tree() -> None:
    t = tree(0, 5)
    with pytest.raises(ValueError):
        run(merkle.inclusion_proof(t.view(5), 5, 5))
    with pytest.raises(ValueError):
        run(merkle.inclusion_proof(t.view(5), -1, 5))


# -- tampered consistency proofs -------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(seed=seeds, second=st.integers(2, MAX_LEAVES), data=st.data())
def test_consistency_tampering_is_rejected(seed: int, second: int, data: st.DataObject) -> None:
    first = data.draw(st.integers(1, second - 1), label="first")
    t = tree(seed, second)
    first_root, second_root = t.root(first), t.root(second)
    proof = t.consistency(first, second)
    assert merkle.verify_consistency(first, second, first_root, second_root, proof)
    assert proof  # first < second: never empty

    position = data.draw(st.integers(0, len(proof) - 1), label="position")
    bit = data.draw(st.integers(0, 255), label="bit")
    forged = [*proof[:position], flip(proof[position], bit), *proof[position + 1 :]]
    assert not merkle.verify_consistency(first, second, first_root, second_root, forged)
    assert not merkle.verify_consistency(first, second, flip(first_root, bit), second_root, proof)
    assert not merkle.verify_consistency(first, second, first_root, flip(second_root, bit), proof)

    cut = data.draw(st.integers(1, len(proof)), label="cut")
    assert not merkle.verify_consistency(first, second, first_root, second_root, proof[:-cut])
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    assert not merkle.verify_consistency(first, second, first_root, second_root, [*proof, extra])
    assert not merkle.verify_consistency(first, second, first_root, second_root, [extra, *proof])

    # swapped heads, first > second, first == 0
    assert not merkle.verify_consistency(second, first, second_root, first_root, proof)
    assert not merkle.verify_consistency(0, second, sha256(b""), second_root, proof)
    assert not merkle.verify_consistency(0, second, sha256(b""), second_root, [])

    # other sizes: whenever PROOF(first', second') has a different length, the proof cannot fit
    other_first = data.draw(st.integers(1, 2 * MAX_LEAVES), label="other first")
    other_second = data.draw(st.integers(other_first, 2 * MAX_LEAVES + 1), label="other second")
    if (other_first, other_second) != (first, second) and naive_proof_length(
        other_first, other_second
    ) != len(proof):
        assert not merkle.verify_consistency(other_first, other_second, first_root, second_root, proof)


def test_verify_consistency_argument_checks() -> None:
    t = tree(2, 8)
    r3, r8 = t.root(3), t.root(8)
    proof = t.consistency(3, 8)
    assert merkle.verify_consistency(3, 8, r3, r8, proof)
    assert not merkle.verify_consistency(8, 3, r8, r3, proof)  # first > second
    assert not merkle.verify_consistency(0, 8, merkle.EMPTY_ROOT, r8, proof)  # first == 0
    assert not merkle.verify_consistency(0, 0, merkle.EMPTY_ROOT, merkle.EMPTY_ROOT, [])
    assert not merkle.verify_consistency(-1, 8, r3, r8, proof)
    # equal sizes: only an empty proof between identical roots
    assert merkle.verify_consistency(8, 8, r8, r8, [])
    assert not merkle.verify_consistency(8, 8, r8, r8, [r8])
    assert not merkle.verify_consistency(8, 8, r3, r8, [])
    with pytest.raises(ValueError):
        run(merkle.consistency_proof(t.view(8), 0, 8))
    with pytest.raises(ValueError):
        run(merkle.consistency_proof(t.view(8), 5, 4))


# -- incremental storage: completed_subtrees ---------------------------------------------------------


def perfect_subtrees(n: int) -> set[tuple[int, int]]:
    """Every (level, index), level >= 1, of a perfect subtree lying wholly inside n leaves."""
    out = set()
    level = 1
    while (1 << level) <= n:
        out |= {(level, index) for index in range(n >> level)}
        level += 1
    return out


@PROPERTY_SETTINGS
@given(seed=seeds, n=sizes)
def test_completed_subtrees_store_exactly_the_perfect_subtrees(seed: int, n: int) -> None:
    """Appending leaves one by one and storing what completed_subtrees returns (as the log does)
    yields exactly the perfect subtrees, with the naive hashes, and range_hash over that store gives
    the naive root at every size."""
    leaves = leaves_for(seed, n)
    stored: dict[tuple[int, int], bytes] = {}

    async def lookup(level: int, index: int) -> bytes:
        return leaves[index] if level == 0 else stored[(level, index)]

    for i, leaf in enumerate(leaves):
        completed = run(merkle.completed_subtrees(i, leaf, lookup))
        # exactly the perfect subtrees whose last leaf is leaf i, smallest first
        expected = [
            (level, index)
            for level, index in sorted(perfect_subtrees(i + 1))
            if (index + 1) << level == i + 1
        ]
        assert [(level, index) for level, index, _ in completed] == expected
        for level, index, digest in completed:
            assert (level, index) not in stored
            assert digest == naive_mth(list(leaves[index << level : (index + 1) << level]))
            stored[(level, index)] = digest
    assert set(stored) == perfect_subtrees(n)
    assert run(merkle.range_hash(lookup, 0, n)) == naive_mth(list(leaves))


def test_completed_subtrees_small_cases() -> None:
    leaves = leaves_for(9, 8)

    async def lookup(level: int, index: int) -> bytes:
        return tree(9, 8).perfect[(level, index)]

    assert run(merkle.completed_subtrees(0, leaves[0], lookup)) == []
    assert run(merkle.completed_subtrees(2, leaves[2], lookup)) == []
    assert [(lv, ix) for lv, ix, _ in run(merkle.completed_subtrees(1, leaves[1], lookup))] == [(1, 0)]
    assert [(lv, ix) for lv, ix, _ in run(merkle.completed_subtrees(7, leaves[7], lookup))] == [
        (1, 3),
        (2, 1),
        (3, 0),
    ]
    assert run(merkle.completed_subtrees(7, leaves[7], lookup))[-1][2] == naive_mth(list(leaves))
