"""RFC 6962 Merkle code against the Certificate Transparency test vectors, and exhaustively."""

from __future__ import annotations

import pytest

from regogate.recording.format import merkle

LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CONSISTENCY = [
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
HASHES = [merkle.leaf_hash(x) for x in LEAVES]


@pytest.mark.parametrize("size", range(9))
def test_roots(size: int) -> None:
    assert merkle.root(HASHES[:size]).hex() == ROOTS[size]
    tree = merkle.CompactTree()
    for h in HASHES[:size]:
        tree.append(h)
    assert tree.root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors(index: int, size: int, proof: list[str]) -> None:
    got = merkle.inclusion_proof(index, HASHES[:size])
    assert [p.hex() for p in got] == proof
    assert merkle.verify_inclusion(index, size, HASHES[index], got, bytes.fromhex(ROOTS[size]))


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_vectors(old: int, new: int, proof: list[str]) -> None:
    got = merkle.consistency_proof(old, HASHES[:new])
    assert [p.hex() for p in got] == proof
    assert merkle.verify_consistency(
        old, new, bytes.fromhex(ROOTS[old]), bytes.fromhex(ROOTS[new]), got
    )


def test_every_proof_in_every_small_tree_and_tampering_fails() -> None:
    leaves = [merkle.leaf_hash(bytes([i, i * 7 % 256])) for i in range(40)]
    roots = [merkle.root(leaves[:n]) for n in range(41)]
    bad = merkle.leaf_hash(b"tampered")
    for n in range(1, 41):
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves[:n])
            assert merkle.verify_inclusion(i, n, leaves[i], proof, roots[n])
            assert not merkle.verify_inclusion(i, n, bad, proof, roots[n])
            if proof:
                assert not merkle.verify_inclusion(i, n, leaves[i], proof[:-1], roots[n])
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, leaves[:n])
            assert merkle.verify_consistency(m, n, roots[m], roots[n], proof)
            if m < n:
                assert not merkle.verify_consistency(m, n, roots[m], bad, proof)
                assert not merkle.verify_consistency(m, n, bad, roots[n], proof)


def _tree(leaves: list[bytes]) -> merkle.MerkleTree:
    tree = merkle.MerkleTree()
    for h in leaves:
        tree.append(h)
    return tree


def test_merkle_tree_reproduces_the_vectors() -> None:
    tree = _tree(HASHES)
    for size in range(9):
        assert tree.root(size).hex() == ROOTS[size]
    for index, size, proof in INCLUSION:
        assert [p.hex() for p in tree.inclusion_proof(index, size)] == proof
    for old, new, proof in CONSISTENCY:
        assert [p.hex() for p in tree.consistency_proof(old, new)] == proof
    assert tree.leaf(3) == HASHES[3]


def test_merkle_tree_agrees_with_the_rfc_recursion_everywhere() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(2, "big")) for i in range(70)]
    tree = _tree(leaves)
    for n in range(71):
        assert tree.root(n) == merkle.root(leaves[:n])
        for i in range(n):
            assert tree.inclusion_proof(i, n) == merkle.inclusion_proof(i, leaves[:n])
        for m in range(1, n + 1):
            assert tree.consistency_proof(m, n) == merkle.consistency_proof(m, leaves[:n])


def test_large_tree_proofs_verify() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(10_007)]
    tree, compact = _tree(leaves), merkle.CompactTree()
    for h in leaves:
        compact.append(h)
    assert tree.root() == compact.root() and tree.size == compact.size == 10_007
    for size in (1, 2, 1024, 1025, 4097, 10_007):
        root = tree.root(size)
        for i in {0, size // 2, size - 1}:
            proof = tree.inclusion_proof(i, size)
            assert len(proof) <= size.bit_length()
            assert merkle.verify_inclusion(i, size, leaves[i], proof, root)
        for m in {1, size // 3 or 1, size}:
            proof = tree.consistency_proof(m, size)
            assert merkle.verify_consistency(m, size, tree.root(m), root, proof)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.root(9), "no root of size 9"),
        (lambda t: t.inclusion_proof(8, 8), "leaf 8 is not in a tree of size 8"),
        (lambda t: t.consistency_proof(0, 8), "no consistency proof from size 0"),
        (lambda t: t.consistency_proof(5, 9), "no consistency proof from size 5 to 9"),
        (lambda t: t.leaf(8), "leaf 8 is not in a tree"),
    ],
)
def test_merkle_tree_bounds(call: object, message: str) -> None:
    with pytest.raises((ValueError, IndexError), match=message):
        call(_tree(HASHES))  # type: ignore[operator]
