"""RFC 6962 / RFC 9162 Merkle tree hash, inclusion and consistency proofs (SHA-256).

Proof generation follows the recursive definitions of RFC 6962 §2.1.1–2.1.2 (``PATH``,
``SUBPROOF``); verification follows the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2,
so the two halves are not the same code and check each other in the tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
_LEAF = b"\x00"
_NODE = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """The 0x00 prefix keeps a leaf from ever being read as an interior node (second-preimage)."""
    return hashlib.sha256(_LEAF + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2): RFC 6962's split, not the midpoint."""
    return 1 << ((n - 1).bit_length() - 1)


def _mth(hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH of ``hashes[lo:hi]``; pairing level by level and promoting an odd last node is the same tree."""
    if hi <= lo:
        return EMPTY_ROOT
    level = list(hashes[lo:hi])
    sha = hashlib.sha256
    while len(level) > 1:
        paired = [sha(_NODE + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


class Frontier:
    """Roots of the perfect subtrees that make up the tree (largest first): append is O(log n).

    This is what the writer keeps in memory instead of the tree; the root folds them right to left.
    """

    __slots__ = ("_nodes", "size")

    def __init__(self) -> None:
        self._nodes: list[bytes] = []
        self.size = 0

    @classmethod
    def of(cls, leaf_hashes: Iterable[bytes]) -> Frontier:
        frontier = cls()
        for h in leaf_hashes:
            frontier.append(h)
        return frontier

    def copy(self) -> Frontier:
        other = Frontier()
        other._nodes = list(self._nodes)
        other.size = self.size
        return other

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        nodes = self._nodes
        nodes.append(leaf)
        n = self.size
        while n & 1:  # each trailing 1-bit of the old size is a perfect subtree the new leaf completes
            right = nodes.pop()
            nodes[-1] = node_hash(nodes[-1], right)
            n >>= 1
        self.size += 1

    def next_leaf_path(self) -> list[bytes]:
        """PATH of the leaf appended next, in the tree it will make: this frontier, smallest first.

        Appending leaf ``size`` joins it, level by level, with each perfect subtree to its left, so
        a receipt's inclusion proof costs O(log n) and no read of the other leaves.
        """
        return list(reversed(self._nodes))

    def root(self) -> bytes:
        if not self._nodes:
            return EMPTY_ROOT
        acc = self._nodes[-1]
        for left in reversed(self._nodes[:-1]):
            acc = node_hash(left, acc)
        return acc


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) of the given leaf hashes (already hashed with ``leaf_hash``)."""
    return _mth(leaf_hashes, 0, len(leaf_hashes))


def _path(index: int, hashes: Sequence[bytes], lo: int, hi: int) -> list[bytes]:
    n = hi - lo
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*_path(index, hashes, lo, lo + k), _mth(hashes, lo + k, hi)]
    return [*_path(index - k, hashes, lo + k, hi), _mth(hashes, lo, lo + k)]


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) for the tree of all ``leaf_hashes``: sibling hashes from the leaf upwards."""
    n = len(leaf_hashes)
    if not 0 <= index < n:
        raise ValueError(f"leaf index {index} is not in a tree of size {n}")
    return _path(index, leaf_hashes, 0, n)


class InclusionProver:
    """Inclusion proofs of many leaves of one tree, each subtree hash computed once.

    ``inclusion_proof`` rehashes the siblings for every call (O(n) each); an export that proves
    every record of one court would then cost O(n·m). Memoising MTH over the (lo, hi) ranges of the
    recursion bounds the whole export to O(n + m log n) hashes.
    """

    def __init__(self, leaf_hashes: Sequence[bytes]) -> None:
        self._hashes = leaf_hashes
        self._memo: dict[tuple[int, int], bytes] = {}

    @property
    def size(self) -> int:
        return len(self._hashes)

    def _mth(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self._hashes[lo]
        found = self._memo.get((lo, hi))
        if found is None:
            k = _split(hi - lo)
            found = self._memo[(lo, hi)] = node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))
        return found

    def proof(self, index: int) -> list[bytes]:
        """PATH(index, D[n]), the same list as ``inclusion_proof(index, leaf_hashes)``."""
        n = len(self._hashes)
        if not 0 <= index < n:
            raise ValueError(f"leaf index {index} is not in a tree of size {n}")
        path: list[bytes] = []
        lo, hi = 0, n
        while hi - lo > 1:  # top down; PATH lists siblings bottom up
            k = _split(hi - lo)
            if index < lo + k:
                path.append(self._mth(lo + k, hi))
                hi = lo + k
            else:
                path.append(self._mth(lo, lo + k))
                lo = lo + k
        path.reverse()
        return path


def _subproof(m: int, hashes: Sequence[bytes], lo: int, hi: int, complete: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if complete else [_mth(hashes, lo, hi)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes, lo, lo + k, complete), _mth(hashes, lo + k, hi)]
    return [*_subproof(m - k, hashes, lo + k, hi, False), _mth(hashes, lo, lo + k)]


def consistency_proof(old_size: int, new_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[new_size]) over the first ``new_size`` leaf hashes; empty when trivially consistent."""
    if not 0 <= old_size <= new_size <= len(leaf_hashes):
        raise ValueError(f"no consistency proof from {old_size} to {new_size} ({len(leaf_hashes)} leaves)")
    if old_size in (0, new_size):
        return []
    return _subproof(old_size, leaf_hashes, 0, new_size, True)


def _sizes_ok(*hashes: bytes) -> bool:
    return all(isinstance(h, bytes | bytearray) and len(h) == HASH_SIZE for h in hashes)


def verify_inclusion(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root_hash: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: recompute the root from the leaf and its audit path."""
    if not 0 <= index < tree_size or not _sizes_ok(leaf, root_hash, *proof):
        return False
    fn, sn, r = index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, plus the trivial cases: equal sizes need equal roots, size 0 the empty root."""
    if not 0 <= old_size <= new_size or not _sizes_ok(old_root, new_root, *proof):
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
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
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0
