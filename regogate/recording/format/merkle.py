"""RFC 6962 Merkle trees: leaf/node hashing, roots, inclusion and consistency proofs.

Pure code over 32-byte SHA-256 hashes (RFC 6962 §2.1; verification as in RFC 9162
§2.1.3.2 and §2.1.4.2). ``CompactTree`` (writer) keeps O(log n) state; ``MerkleTree``
(verifier) keeps every level for O(log² n) roots and proofs at any earlier size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

Hash = bytes
EMPTY_ROOT = hashlib.sha256(b"").digest()
_NODE = hashlib.sha256(b"\x01")  # copied, then fed two hashes: an interior node


def leaf_hash(data: bytes) -> Hash:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: Hash, right: Hash) -> Hash:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaves: Sequence[Hash]) -> Hash:
    """MTH(D[n]) over leaf hashes (the RFC's recursion; ``MerkleTree`` for large logs)."""
    n = len(leaves)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaves[0]
    k = _split(n)
    return node_hash(root(leaves[:k]), root(leaves[k:]))


def inclusion_proof(index: int, leaves: Sequence[Hash]) -> list[Hash]:
    """PATH(m, D[n]) for leaf ``index`` of the tree of ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise ValueError(f"leaf {index} is not in a tree of size {n}")
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), root(leaves[:k])]


def consistency_proof(old_size: int, leaves: Sequence[Hash]) -> list[Hash]:
    """PROOF(m, D[n]) that the tree of size ``old_size`` is a prefix of ``leaves``."""
    n = len(leaves)
    if not 0 < old_size <= n:
        raise ValueError(f"no consistency proof from size {old_size} to {n}")
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: Sequence[Hash], complete: bool) -> list[Hash]:
    n = len(leaves)
    if m == n:
        return [] if complete else [root(leaves)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), root(leaves[:k])]


def verify_inclusion(
    index: int,
    size: int,
    leaf: Hash,
    proof: Sequence[Hash],
    expected: Hash,
) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected


def verify_consistency(
    old_size: int, new_size: int, old_root: Hash, new_root: Hash, proof: Sequence[Hash]
) -> bool:
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root is a subtree
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
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


class CompactTree:
    """Append-only tree state: one hash per set bit of the size (a compact range)."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[Hash] = []  # roots of perfect subtrees, largest first
        self.size = 0

    def append(self, leaf: Hash) -> None:
        h = leaf
        n = self.size
        while n & 1:
            h = node_hash(self._stack.pop(), h)
            n >>= 1
        self._stack.append(h)
        self.size += 1

    @classmethod
    def restore(cls, size: int, frontier: list[Hash]) -> CompactTree:
        """The tree of ``size`` leaves whose perfect subtrees have these roots."""
        if size < 0 or len(frontier) != size.bit_count() or any(len(h) != 32 for h in frontier):
            raise ValueError(f"not the frontier of a tree of {size} leaves")
        tree = cls()
        tree._stack, tree.size = list(frontier), size
        return tree

    @property
    def frontier(self) -> tuple[Hash, ...]:
        """The roots of its perfect subtrees, largest first (what a writer continues from)."""
        return tuple(self._stack)

    def root(self) -> Hash:
        if not self._stack:
            return EMPTY_ROOT
        h = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            h = node_hash(left, h)
        return h


class MerkleTree:
    """Every level of the tree in flat byte arrays (64 bytes per leaf in all).

    ``_levels[k]`` holds the roots of the complete subtrees of 2**k leaves, left to
    right; any RFC 6962 subtree is then a few lookups, so roots and proofs for any
    size up to ``size`` cost O(log² n) hashes instead of O(n).
    """

    __slots__ = ("_levels", "size")

    def __init__(self) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self.size = 0

    def append(self, leaf: Hash) -> None:
        levels = self._levels
        levels[0] += leaf
        self.size += 1
        n, k, h = self.size, 0, leaf
        while not n & 1:  # the new leaf completed a subtree of 2**(k+1) leaves
            h = node_hash(bytes(levels[k][-64:-32]), h)
            k += 1
            n >>= 1
            if k == len(levels):
                levels.append(bytearray())
            levels[k] += h

    def extend(self, leaves: bytes | bytearray) -> None:
        """Append many leaf hashes (concatenated) at once, building each level in bulk."""
        if len(leaves) % 32:
            raise ValueError("leaf hashes are 32 bytes each")
        levels = self._levels
        levels[0] += leaves
        self.size += len(leaves) // 32
        k = 0
        node = _NODE.copy
        while len(levels[k]) >= 64:
            if k + 1 == len(levels):
                levels.append(bytearray())
            below, above = levels[k], levels[k + 1]
            pairs = bytes(below[len(above) * 2 : len(below) // 64 * 64])  # not yet combined
            for i in range(0, len(pairs), 64):
                h = node()
                h.update(pairs[i : i + 64])
                above += h.digest()
            k += 1

    def leaf(self, index: int) -> Hash:
        if not 0 <= index < self.size:
            raise IndexError(f"leaf {index} is not in a tree of size {self.size}")
        return bytes(self._levels[0][index * 32 : index * 32 + 32])

    def _subtree(self, start: int, end: int) -> Hash:
        """MTH(D[start:end]); ``start`` is a multiple of the largest power of two < n."""
        n = end - start
        if n & (n - 1) == 0:  # complete subtree: stored
            k = n.bit_length() - 1
            i = start >> k
            return bytes(self._levels[k][i * 32 : i * 32 + 32])
        k = _split(n)
        return node_hash(self._subtree(start, start + k), self._subtree(start + k, end))

    def root(self, size: int | None = None) -> Hash:
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise ValueError(f"no root of size {size} in a tree of size {self.size}")
        return EMPTY_ROOT if size == 0 else self._subtree(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[Hash]:
        """PATH(index, D[size]), leaf sibling first."""
        size = self.size if size is None else size
        if not 0 <= index < size <= self.size:
            raise ValueError(f"leaf {index} is not in a tree of size {size}")
        path: list[Hash] = []
        start, end = 0, size
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
        path.reverse()
        return path

    def consistency_proof(self, old_size: int, size: int | None = None) -> list[Hash]:
        """PROOF(old_size, D[size]) (RFC 6962 §2.1.2)."""
        size = self.size if size is None else size
        if not 0 < old_size <= size <= self.size:
            raise ValueError(f"no consistency proof from size {old_size} to {size}")
        path: list[Hash] = []
        start, end, m, complete = 0, size, old_size, True
        while m != end - start:
            k = _split(end - start)
            if m <= k:
                path.append(self._subtree(start + k, end))
                end = start + k
            else:
                path.append(self._subtree(start, start + k))
                start += k
                m -= k
                complete = False
        if not complete:
            path.append(self._subtree(start, end))
        path.reverse()
        return path
