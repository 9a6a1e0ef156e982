//! Blocks (format v1): the entries appended together by one group commit. The header commits to
//! the entries through `entries_root`, the root of a complete binary Merkle tree (CBMT, built with
//! the `merkle-cbt` crate) over the entries' leaf hashes with merge(l, r) = H(0x01 ‖ l ‖ r), and to
//! the previous block through `prev`. Block hash = H(0x00 ‖ header bytes), the header being
//! RFC 8785 canonical JSON.
//!
//! In the CBMT's array form, leaf i of c sits at node c−1+i; node k's sibling is k+1 if k is odd,
//! else k−1; its parent is (k−1)/2; an odd node is a left child. An entry proof lists the sibling
//! hashes from the leaf up.

use merkle_cbt::CBMT;
use serde::{Deserialize, Serialize};

use super::entry::{JsonError, FORMAT_VERSION};
use super::hash::{node_hash, BlockHash, Hash, LeafHash};
use super::position::{Height, Seq};

/// The CBMT merge of format v1: H(0x01 ‖ left ‖ right).
pub struct MergeNodes;

impl merkle_cbt::merkle_tree::Merge for MergeNodes {
    type Item = Hash;
    fn merge(left: &Hash, right: &Hash) -> Hash {
        node_hash(left, right)
    }
}

/// The header of one block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockHeader {
    pub v: u8,
    /// The log's origin, as in its checkpoints.
    pub log: String,
    pub height: Height,
    pub first_seq: Seq,
    pub count: u64,
    /// RFC 3339 UTC with microseconds: when the block was sealed (its entries carry the same).
    pub time: String,
    pub entries_root: Hash,
    /// Block hash of height − 1; all zeros at height 0.
    pub prev: BlockHash,
}

/// A header that cannot be read as a canonical format-v1 header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("block header is not a format-v1 header: {0} bytes, more than {MAX_HEADER_BYTES}")]
    TooLarge(usize),
    /// Not JSON, or not the members and types of a format-v1 header.
    #[error("block header is not a format-v1 header: {0}")]
    Json(JsonError),
    #[error("block header bytes are not in canonical (RFC 8785) form")]
    NotCanonical,
    #[error("block header has format version {0}, expected {FORMAT_VERSION}")]
    Version(u8),
    #[error("block header has count 0; a block holds at least one entry")]
    Empty,
}

/// Longest accepted header encoding.
pub const MAX_HEADER_BYTES: usize = 4096;

impl BlockHeader {
    pub fn to_bytes(&self) -> Result<Vec<u8>, HeaderError> {
        serde_jcs::to_vec(self).map_err(|e| HeaderError::Json(e.into()))
    }

    /// Reads a header, accepting only its canonical encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<BlockHeader, HeaderError> {
        if bytes.len() > MAX_HEADER_BYTES {
            return Err(HeaderError::TooLarge(bytes.len()));
        }
        let h: BlockHeader =
            serde_json::from_slice(bytes).map_err(|e| HeaderError::Json(e.into()))?;
        if h.v != FORMAT_VERSION {
            return Err(HeaderError::Version(h.v));
        }
        if h.count == 0 {
            return Err(HeaderError::Empty);
        }
        if h.to_bytes()? != bytes {
            return Err(HeaderError::NotCanonical);
        }
        Ok(h)
    }
}

/// The block hash: H(0x00 ‖ header bytes). It is the block's leaf in the history tree.
pub fn block_hash(header_bytes: &[u8]) -> BlockHash {
    BlockHash::of_header(header_bytes)
}

/// The CBMT over one block's entry leaves, kept whole so every entry's proof is a few lookups.
#[derive(Debug, Clone)]
pub struct EntriesTree {
    /// The array form: 2c−1 nodes, root first, leaves last.
    nodes: Vec<Hash>,
    count: u64,
}

impl EntriesTree {
    /// Builds the tree over `leaves` (the entries' leaf hashes, in seq order).
    pub fn build(leaves: &[LeafHash]) -> EntriesTree {
        let leaves: Vec<Hash> = leaves.iter().map(|l| l.hash()).collect();
        let tree = CBMT::<Hash, MergeNodes>::build_merkle_tree(&leaves);
        EntriesTree {
            nodes: tree.nodes().to_vec(),
            count: leaves.len() as u64,
        }
    }

    pub fn root(&self) -> Hash {
        self.nodes.first().copied().unwrap_or_default()
    }

    pub fn nodes(&self) -> &[Hash] {
        &self.nodes
    }

    /// The proof of leaf `index`: sibling hashes bottom-up. `None` if `index` is out of range.
    pub fn proof(&self, index: u64) -> Option<EntryProof> {
        if index >= self.count {
            return None;
        }
        let path = sibling_indexes(self.count, index)
            .map(|k| self.nodes.get(usize::try_from(k).ok()?).copied())
            .collect::<Option<Vec<Hash>>>()?;
        Some(EntryProof {
            index,
            count: self.count,
            path,
        })
    }
}

/// Where, in the array form of a CBMT of `count` leaves (root first, leaves last), the siblings on
/// leaf `index`'s path are, from the leaf up to (not including) the root.
pub fn sibling_indexes(count: u64, index: u64) -> impl Iterator<Item = u64> {
    let mut k = count.saturating_sub(1) + index;
    std::iter::from_fn(move || {
        if k == 0 {
            return None;
        }
        let sibling = if k % 2 == 1 { k + 1 } else { k - 1 };
        k = (k - 1) / 2;
        Some(sibling)
    })
}

/// The number of leaves of a CBMT stored as `len` bytes of nodes (32 bytes a node, an odd
/// number of nodes), if that is a whole tree.
pub fn stored_leaf_count(len: usize) -> Option<u64> {
    if !len.is_multiple_of(32) || (len / 32).is_multiple_of(2) {
        return None;
    }
    Some(((len / 32) as u64).div_ceil(2))
}

/// The proof of leaf `index` read straight from a stored node array (32 bytes a node), touching
/// only the O(log c) nodes on its path.
pub fn proof_from_stored_nodes(raw: &[u8], index: u64) -> Option<EntryProof> {
    let count = stored_leaf_count(raw.len())?;
    if index >= count {
        return None;
    }
    let path = sibling_indexes(count, index)
        .map(|k| {
            let at = usize::try_from(k).ok()?.checked_mul(32)?;
            Hash::from_slice(raw.get(at..at + 32)?)
        })
        .collect::<Option<Vec<Hash>>>()?;
    Some(EntryProof { index, count, path })
}

/// Proof that an entry is leaf `index` of a block of `count` entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryProof {
    pub index: u64,
    pub count: u64,
    /// Sibling hashes from the leaf up to (not including) the root.
    pub path: Vec<Hash>,
}

/// Why an entry proof does not lead to a root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryProofError {
    #[error("entry index {index} is not below the block's count {count}")]
    IndexOutOfRange { index: u64, count: u64 },
    #[error("entry proof has {found} hashes, a leaf at index {index} of {count} needs {expected}")]
    WrongLength {
        index: u64,
        count: u64,
        expected: usize,
        found: usize,
    },
}

impl EntryProof {
    /// The number of path hashes leaf `index` of `count` needs: its depth in the CBMT.
    fn expected_len(index: u64, count: u64) -> usize {
        let mut k = (count - 1).saturating_add(index);
        let mut depth = 0;
        while k > 0 {
            k = (k - 1) / 2;
            depth += 1;
        }
        depth
    }

    /// Walks `leaf` up the path and returns the root it leads to. Does not panic.
    pub fn root_from(&self, leaf: LeafHash) -> Result<Hash, EntryProofError> {
        let (index, count) = (self.index, self.count);
        if index >= count {
            return Err(EntryProofError::IndexOutOfRange { index, count });
        }
        let expected = Self::expected_len(index, count);
        if self.path.len() != expected {
            return Err(EntryProofError::WrongLength {
                index,
                count,
                expected,
                found: self.path.len(),
            });
        }
        let mut k = count - 1 + index;
        let mut acc = leaf.hash();
        for sibling in &self.path {
            acc = if k % 2 == 1 {
                node_hash(&acc, sibling)
            } else {
                node_hash(sibling, &acc)
            };
            k = (k - 1) / 2;
        }
        Ok(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::hash::leaf_hash;

    /// The CBMT root computed plainly from the array definition, independent of `merkle-cbt`.
    fn plain_root(leaves: &[LeafHash]) -> Hash {
        let c = leaves.len();
        let mut nodes = vec![Hash::default(); 2 * c - 1];
        for (i, l) in leaves.iter().enumerate() {
            nodes[c - 1 + i] = l.hash();
        }
        for k in (0..c - 1).rev() {
            nodes[k] = node_hash(&nodes[2 * k + 1], &nodes[2 * k + 2]);
        }
        nodes[0]
    }

    /// The path computed plainly by walking sibling/parent in the array.
    fn plain_path(leaves: &[LeafHash], i: usize) -> Vec<Hash> {
        let c = leaves.len();
        let mut nodes = vec![Hash::default(); 2 * c - 1];
        for (j, l) in leaves.iter().enumerate() {
            nodes[c - 1 + j] = l.hash();
        }
        for k in (0..c - 1).rev() {
            nodes[k] = node_hash(&nodes[2 * k + 1], &nodes[2 * k + 2]);
        }
        let mut k = c - 1 + i;
        let mut path = vec![];
        while k > 0 {
            path.push(if k % 2 == 1 {
                nodes[k + 1]
            } else {
                nodes[k - 1]
            });
            k = (k - 1) / 2;
        }
        path
    }

    #[test]
    fn cbmt_roots_and_paths_for_1_to_17_leaves_match_a_plain_computation() {
        for c in 1..=17usize {
            let leaves: Vec<LeafHash> = (0..c)
                .map(|i| leaf_hash(format!("entry {i}").as_bytes()))
                .collect();
            let hashes: Vec<Hash> = leaves.iter().map(|l| l.hash()).collect();
            let tree = EntriesTree::build(&leaves);
            assert_eq!(tree.root(), plain_root(&leaves), "root of {c} leaves");
            assert_eq!(
                CBMT::<Hash, MergeNodes>::build_merkle_root(&hashes),
                tree.root(),
                "merkle-cbt root fn, {c}"
            );
            for i in 0..c {
                let proof = tree.proof(i as u64).unwrap();
                assert_eq!(proof.path, plain_path(&leaves, i), "path of {i} in {c}");
                assert_eq!(proof.root_from(leaves[i]), Ok(tree.root()));
                // merkle-cbt's own proof agrees on the sibling list.
                let theirs =
                    CBMT::<Hash, MergeNodes>::build_merkle_proof(&hashes, &[i as u32]).unwrap();
                assert_eq!(theirs.lemmas(), proof.path.as_slice());
            }
            assert!(tree.proof(c as u64).is_none());
        }
    }

    #[test]
    fn a_known_three_leaf_root() {
        // Three leaves: node 0 = H(1 ‖ node1 ‖ node2), node 1 = H(1 ‖ leaf1 ‖ leaf2), node 2 = leaf0.
        let l: Vec<LeafHash> = [b"a", b"b", b"c"].iter().map(|d| leaf_hash(*d)).collect();
        let expected = node_hash(&node_hash(&l[1].hash(), &l[2].hash()), &l[0].hash());
        assert_eq!(EntriesTree::build(&l).root(), expected);
    }

    #[test]
    fn proofs_from_stored_nodes_match_the_tree() {
        for c in 1..=9u8 {
            let leaves: Vec<LeafHash> = (0..c).map(|i| leaf_hash(&[i])).collect();
            let tree = EntriesTree::build(&leaves);
            let raw: Vec<u8> = tree.nodes().iter().flat_map(|h| *h.as_bytes()).collect();
            for i in 0..u64::from(c) {
                assert_eq!(proof_from_stored_nodes(&raw, i), tree.proof(i));
            }
            assert_eq!(proof_from_stored_nodes(&raw, u64::from(c)), None);
        }
        assert_eq!(proof_from_stored_nodes(&[0u8; 64], 0), None);
    }

    #[test]
    fn malformed_proofs_are_errors() {
        let leaves: Vec<LeafHash> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
        let tree = EntriesTree::build(&leaves);
        let mut p = tree.proof(3).unwrap();
        p.path.pop();
        assert!(matches!(
            p.root_from(leaves[3]),
            Err(EntryProofError::WrongLength { .. })
        ));
        let p = EntryProof {
            index: 5,
            count: 5,
            path: vec![],
        };
        assert!(matches!(
            p.root_from(leaves[0]),
            Err(EntryProofError::IndexOutOfRange { .. })
        ));
    }
}
