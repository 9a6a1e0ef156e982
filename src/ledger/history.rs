//! The history tree: an RFC 9162 (§2.1) Merkle tree whose leaves are the block hashes in height
//! order. Its nodes are stored as the complete subtrees `(level, index)` — the node over leaves
//! `[index·2^level, (index+1)·2^level)` — so any root, inclusion proof (§2.1.3.1) or consistency
//! proof (§2.1.4.1) is assembled from O(log n) stored nodes instead of being recomputed.
//! The verifiers (§2.1.3.2, §2.1.4.2) need nothing but the proof and the roots, and do not panic.

use serde::{Deserialize, Serialize};

use super::hash::{node_hash, Hash, LeafHash, RootHash};

/// Where the complete-subtree nodes of a history tree are read from.
pub trait NodeSource {
    type Error;
    /// The node over leaves `[index·2^level, (index+1)·2^level)`; it must exist.
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// A proof asked of a tree that the tree cannot give: a leaf or sizes it does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofRangeError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree sizes {old} and {new}: need 0 < old ≤ new")]
    BadSizes { old: u64, new: u64 },
}

/// Errors while assembling a proof from stored nodes: the request, or reading a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofRequestError<E> {
    #[error(transparent)]
    Range(#[from] ProofRangeError),
    #[error("reading a history node: {0}")]
    Source(E),
}

/// Largest power of two strictly below `n` (n ≥ 2).
fn split(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// MTH(D[lo:hi]) (RFC 9162 §2.1.1): one read for an aligned complete subtree, otherwise the
/// right fold of the complete subtrees it decomposes into.
fn subtree<S: NodeSource>(src: &S, lo: u64, hi: u64) -> Result<Hash, S::Error> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        let level = n.trailing_zeros() as u8;
        return src.node(level, lo >> level);
    }
    let k = split(n);
    let left = subtree(src, lo, lo + k)?;
    let right = subtree(src, lo + k, hi)?;
    Ok(node_hash(&left, &right))
}

/// The root of the tree of `size` leaves (size ≥ 1).
pub fn root<S: NodeSource>(src: &S, size: u64) -> Result<RootHash, ProofRequestError<S::Error>> {
    if size == 0 {
        return Err(ProofRangeError::BadSizes { old: 0, new: 0 }.into());
    }
    let hash = subtree(src, 0, size).map_err(ProofRequestError::Source)?;
    Ok(RootHash::new(hash, size))
}

/// RFC 9162 §2.1.3.1: the inclusion proof of leaf `index` in the tree of `size` leaves, bottom-up.
pub fn inclusion_proof<S: NodeSource>(
    src: &S,
    index: u64,
    size: u64,
) -> Result<InclusionProof, ProofRequestError<S::Error>> {
    if index >= size {
        return Err(ProofRangeError::IndexOutOfRange { index, size }.into());
    }
    let mut path = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    // Walk down from the root, collecting siblings top-down, then reverse.
    while hi - lo > 1 {
        let k = split(hi - lo);
        if index < lo + k {
            path.push(subtree(src, lo + k, hi).map_err(ProofRequestError::Source)?);
            hi = lo + k;
        } else {
            path.push(subtree(src, lo, lo + k).map_err(ProofRequestError::Source)?);
            lo += k;
        }
    }
    path.reverse();
    Ok(InclusionProof {
        index,
        tree_size: size,
        path,
    })
}

/// RFC 9162 §2.1.4.1: the consistency proof from the tree of `old` leaves to that of `new`.
pub fn consistency_proof<S: NodeSource>(
    src: &S,
    old: u64,
    new: u64,
) -> Result<ConsistencyProof, ProofRequestError<S::Error>> {
    if old == 0 || old > new {
        return Err(ProofRangeError::BadSizes { old, new }.into());
    }
    let mut path = Vec::new();
    if old < new {
        // SUBPROOF(m, D[lo:hi], b), iteratively: collect top-down, reverse at the end.
        let (mut m, mut lo, mut hi, mut b) = (old, 0u64, new, true);
        loop {
            let n = hi - lo;
            if m == n {
                if !b {
                    path.push(subtree(src, lo, hi).map_err(ProofRequestError::Source)?);
                }
                break;
            }
            let k = split(n);
            if m <= k {
                path.push(subtree(src, lo + k, hi).map_err(ProofRequestError::Source)?);
                hi = lo + k;
            } else {
                path.push(subtree(src, lo, lo + k).map_err(ProofRequestError::Source)?);
                m -= k;
                lo += k;
                b = false;
            }
        }
        path.reverse();
    }
    Ok(ConsistencyProof {
        old_size: old,
        new_size: new,
        path,
    })
}

/// RFC 9162 inclusion proof of a block in the history tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    pub path: Vec<Hash>,
}

/// RFC 9162 consistency proof between two tree sizes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyProof {
    pub old_size: u64,
    pub new_size: u64,
    pub path: Vec<Hash>,
}

/// Why a history-tree proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryProofError {
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    #[error("the proof leads to root {computed}, the checkpoint says {expected}")]
    RootMismatch { computed: Hash, expected: Hash },
    #[error("tree sizes {old} → {new}: a log only grows")]
    Shrinks { old: u64, new: u64 },
    #[error("equal tree sizes with different roots {old} and {new}")]
    Fork { old: Hash, new: Hash },
    #[error("the proof leads to old root {computed}, the old checkpoint says {expected}")]
    OldRootMismatch { computed: Hash, expected: Hash },
    #[error("the proof is for tree size {proof}, the root is of tree size {root}")]
    SizeMismatch { proof: u64, root: u64 },
}

impl InclusionProof {
    /// RFC 9162 §2.1.3.2: the root the proof leads to from `leaf`.
    pub fn root_from(&self, leaf: LeafHash) -> Result<Hash, HistoryProofError> {
        let (index, size) = (self.index, self.tree_size);
        if index >= size {
            return Err(HistoryProofError::IndexOutOfRange { index, size });
        }
        let (mut fnode, mut snode) = (index, size - 1);
        let mut r = leaf.hash();
        for p in &self.path {
            if snode == 0 {
                return Err(HistoryProofError::WrongLength);
            }
            if fnode & 1 == 1 || fnode == snode {
                r = node_hash(p, &r);
                if fnode & 1 == 0 {
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                r = node_hash(&r, p);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        if snode != 0 {
            return Err(HistoryProofError::WrongLength);
        }
        Ok(r)
    }

    /// Checks that `leaf` is at `index` in the tree with `root` (of the proof's tree size).
    pub fn verify(&self, leaf: LeafHash, root: RootHash) -> Result<(), HistoryProofError> {
        if root.size() != self.tree_size {
            return Err(HistoryProofError::SizeMismatch {
                proof: self.tree_size,
                root: root.size(),
            });
        }
        let computed = self.root_from(leaf)?;
        if computed != root.hash() {
            return Err(HistoryProofError::RootMismatch {
                computed,
                expected: root.hash(),
            });
        }
        Ok(())
    }
}

impl ConsistencyProof {
    /// RFC 9162 §2.1.4.2: checks that the tree of `old_size` leaves with `old_root` is a prefix of
    /// the tree of `new_size` leaves with `new_root` (each root of its proof's tree size).
    pub fn verify(&self, old_root: RootHash, new_root: RootHash) -> Result<(), HistoryProofError> {
        for (proof, root) in [(self.old_size, old_root), (self.new_size, new_root)] {
            if root.size() != proof {
                return Err(HistoryProofError::SizeMismatch {
                    proof,
                    root: root.size(),
                });
            }
        }
        let (old_root, new_root) = (old_root.hash(), new_root.hash());
        let (first, second) = (self.old_size, self.new_size);
        if first > second {
            return Err(HistoryProofError::Shrinks {
                old: first,
                new: second,
            });
        }
        if first == second {
            if !self.path.is_empty() {
                return Err(HistoryProofError::WrongLength);
            }
            if old_root != new_root {
                return Err(HistoryProofError::Fork {
                    old: old_root,
                    new: new_root,
                });
            }
            return Ok(());
        }
        if first == 0 {
            // The empty tree is a prefix of every tree.
            return if self.path.is_empty() {
                Ok(())
            } else {
                Err(HistoryProofError::WrongLength)
            };
        }
        if self.path.is_empty() {
            return Err(HistoryProofError::WrongLength);
        }
        let mut path: Vec<Hash> = Vec::with_capacity(self.path.len() + 1);
        if first.is_power_of_two() {
            path.push(old_root);
        }
        path.extend_from_slice(&self.path);
        let (mut fnode, mut snode) = (first - 1, second - 1);
        while fnode & 1 == 1 {
            fnode >>= 1;
            snode >>= 1;
        }
        let mut iter = path.iter();
        let Some(first_hash) = iter.next() else {
            return Err(HistoryProofError::WrongLength);
        };
        let (mut fr, mut sr) = (*first_hash, *first_hash);
        for c in iter {
            if snode == 0 {
                return Err(HistoryProofError::WrongLength);
            }
            if fnode & 1 == 1 || fnode == snode {
                fr = node_hash(c, &fr);
                sr = node_hash(c, &sr);
                if fnode & 1 == 0 {
                    while fnode & 1 == 0 && fnode != 0 {
                        fnode >>= 1;
                        snode >>= 1;
                    }
                }
            } else {
                sr = node_hash(&sr, c);
            }
            fnode >>= 1;
            snode >>= 1;
        }
        if snode != 0 {
            return Err(HistoryProofError::WrongLength);
        }
        if fr != old_root {
            return Err(HistoryProofError::OldRootMismatch {
                computed: fr,
                expected: old_root,
            });
        }
        if sr != new_root {
            return Err(HistoryProofError::RootMismatch {
                computed: sr,
                expected: new_root,
            });
        }
        Ok(())
    }
}

/// The right edge of a history tree: the roots of its complete subtrees, largest (leftmost)
/// first — O(log n) hashes from which the root and the next appends follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// (level, hash), levels strictly decreasing.
    peaks: Vec<(u8, Hash)>,
}

impl CompactRange {
    pub fn empty() -> CompactRange {
        CompactRange::default()
    }

    /// Reads the compact range of a tree of `size` leaves from stored nodes.
    pub fn load<S: NodeSource>(src: &S, size: u64) -> Result<CompactRange, S::Error> {
        let mut peaks = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1u64 << level) != 0 {
                peaks.push((level, src.node(level, start >> level)?));
                start += 1u64 << level;
            }
        }
        Ok(CompactRange { size, peaks })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the complete subtrees on the right border, largest (leftmost) first: the
    /// RFC 9162 compact range `[0, size)`.
    pub fn hashes(&self) -> Vec<Hash> {
        self.peaks.iter().map(|(_, h)| *h).collect()
    }

    /// The compact range of a tree of `size` leaves from its border roots (as [`Self::hashes`]
    /// gives them); `None` unless there is exactly one hash per set bit of `size`.
    pub fn from_hashes(size: u64, hashes: &[Hash]) -> Option<CompactRange> {
        if hashes.len() != size.count_ones() as usize {
            return None;
        }
        let levels = (0..64u8).rev().filter(|l| size & (1u64 << l) != 0);
        let peaks = levels.zip(hashes.iter().copied()).collect();
        Some(CompactRange { size, peaks })
    }

    /// The root of the tree; `None` when it is empty.
    pub fn root(&self) -> Option<RootHash> {
        let mut iter = self.peaks.iter().rev();
        let (_, last) = iter.next()?;
        let hash = iter.fold(*last, |acc, (_, left)| node_hash(left, &acc));
        Some(RootHash::new(hash, self.size))
    }

    /// The inclusion proof of the leaf that `append` would add next, in the tree one larger:
    /// the peaks, smallest first.
    pub fn next_leaf_proof(&self) -> InclusionProof {
        InclusionProof {
            index: self.size,
            tree_size: self.size + 1,
            path: self.peaks.iter().rev().map(|(_, h)| *h).collect(),
        }
    }

    /// Appends a leaf and returns every node that became complete, `(level, index, hash)`,
    /// the leaf itself first. These are exactly the nodes to store.
    pub fn append(&mut self, leaf: LeafHash) -> Vec<(u8, u64, Hash)> {
        let leaf = leaf.hash();
        let mut created = vec![(0u8, self.size, leaf)];
        let mut level = 0u8;
        let mut hash = leaf;
        let mut index = self.size;
        while let Some(&(l, left)) = self.peaks.last() {
            if l != level {
                break;
            }
            self.peaks.pop();
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            created.push((level, index, hash));
        }
        self.peaks.push((level, hash));
        self.size += 1;
        created
    }
}

/// History nodes held in memory: for tests, and for verifying a log as it is walked.
#[derive(Debug, Default, Clone)]
pub struct MemoryNodes {
    levels: Vec<Vec<Hash>>,
}

impl MemoryNodes {
    pub fn insert(&mut self, level: u8, index: u64, hash: Hash) {
        let level = usize::from(level);
        while self.levels.len() <= level {
            self.levels.push(Vec::new());
        }
        if let Some(row) = self.levels.get_mut(level) {
            let index = usize::try_from(index).unwrap_or(usize::MAX);
            if row.len() == index {
                row.push(hash);
            } else if let Some(slot) = row.get_mut(index) {
                *slot = hash;
            }
        }
    }

    /// Builds the nodes of a tree over `leaves`.
    pub fn from_leaves(leaves: &[LeafHash]) -> MemoryNodes {
        let mut nodes = MemoryNodes::default();
        let mut range = CompactRange::empty();
        for l in leaves {
            for (level, index, h) in range.append(*l) {
                nodes.insert(level, index, h);
            }
        }
        nodes
    }
}

/// A node that is not there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("history node (level {level}, index {index}) is missing")]
pub struct MissingNode {
    pub level: u8,
    pub index: u64,
}

impl NodeSource for MemoryNodes {
    type Error = MissingNode;
    fn node(&self, level: u8, index: u64) -> Result<Hash, MissingNode> {
        self.levels
            .get(usize::from(level))
            .and_then(|row| row.get(usize::try_from(index).ok()?))
            .copied()
            .ok_or(MissingNode { level, index })
    }
}
