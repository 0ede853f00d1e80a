//! RFC 6962 hashing and the writer's compact tree (`regogate.recording.format.merkle.CompactTree`).

use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Append-only tree state: the roots of its perfect subtrees, largest first.
pub struct CompactTree {
    stack: Vec<Hash>,
    pub size: u64,
}

impl CompactTree {
    /// From a Python ``CompactTree``'s state; the stack must have one hash per set bit.
    pub fn from_parts(size: u64, stack: Vec<Hash>) -> Result<Self, String> {
        if stack.len() != size.count_ones() as usize {
            return Err(format!(
                "a tree of size {size} has {} subtree roots, not {}",
                size.count_ones(),
                stack.len()
            ));
        }
        Ok(Self { stack, size })
    }

    /// The roots of its perfect subtrees, largest first.
    pub fn frontier(&self) -> &[Hash] {
        &self.stack
    }

    pub fn append(&mut self, leaf: Hash) {
        let mut h = leaf;
        let mut n = self.size;
        while n & 1 == 1 {
            let left = self.stack.pop().expect("one root per set bit");
            h = node_hash(&left, &h);
            n >>= 1;
        }
        self.stack.push(h);
        self.size += 1;
    }

    pub fn root(&self) -> Hash {
        let Some((last, rest)) = self.stack.split_last() else {
            return Sha256::digest(b"").into();
        };
        rest.iter().rev().fold(*last, |h, left| node_hash(left, &h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn certificate_transparency_vectors() {
        // RFC 6962 test vectors (certificate-transparency-go merkle_test.go): roots of
        // the trees of the first n of eight leaves.
        let leaves: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let mut tree = CompactTree::from_parts(0, vec![]).unwrap();
        assert_eq!(
            hex(&tree.root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        for (leaf, want) in leaves.iter().zip(roots) {
            tree.append(leaf_hash(leaf));
            assert_eq!(hex(&tree.root()), want);
        }
    }
}
