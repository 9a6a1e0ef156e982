//! Receipts: what a caller gets with every answer, and the pure verifier that checks one with
//! nothing but the log's verifier key — no server, no database.
//!
//! A receipt carries the entry bytes, the entry's CBMT path to its block's `entries_root`, the
//! block header bytes, the block's RFC 9162 inclusion proof in the history tree, and the signed
//! checkpoint of that tree. Verifying it: open the checkpoint with the key; walk the entry up to
//! `entries_root`; walk the block hash up to the checkpoint's root; check `first_seq + index = seq`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::block::{block_hash, BlockHeader, EntryProof, EntryProofError, HeaderError};
use super::entry::{entry_leaf, Entry, EntryError, FORMAT_VERSION};
use super::hash::Hash;
use super::history::{HistoryProofError, InclusionProof};
use super::note::{Checkpoint, NoteError, VerifierKey};
use super::position::{Height, Seq};

/// The receipt of one ledger entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    pub v: u8,
    /// The entry's bytes, base64.
    #[serde(with = "b64")]
    pub entry: Vec<u8>,
    pub entry_proof: EntryProof,
    /// The block header's bytes, base64.
    #[serde(with = "b64")]
    pub block: Vec<u8>,
    pub block_proof: InclusionProof,
    /// The signed checkpoint (C2SP signed note text) the block proof leads to.
    pub checkpoint: String,
    /// The nonce of the input and output commitments, base64; only in the receipt handed to the
    /// caller with its answer (the ledger never stores it), `null` in receipts fetched later.
    #[serde(default, with = "b64_opt")]
    pub nonce: Option<[u8; 32]>,
}

/// One entry with its proofs against a tree whose signed checkpoint travels separately — a page of
/// the audit API carries one checkpoint for all its entries: a receipt without checkpoint and
/// nonce, and its seq.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenEntry {
    pub seq: Seq,
    /// The entry's bytes, base64.
    #[serde(with = "b64")]
    pub entry: Vec<u8>,
    pub entry_proof: EntryProof,
    /// The block header's bytes, base64.
    #[serde(with = "b64")]
    pub block: Vec<u8>,
    pub block_proof: InclusionProof,
}

/// The checks of a receipt after its checkpoint is opened: the entry and header are canonical,
/// of one log, the entry walks up to `entries_root` at `first_seq + index = seq`, and the block
/// walks up to the checkpoint's root in a tree of its size.
fn verify_proofs(
    entry_bytes: &[u8],
    entry_proof: &EntryProof,
    block_bytes: &[u8],
    block_proof: &InclusionProof,
    checkpoint: Checkpoint,
) -> Result<VerifiedReceipt, ReceiptError> {
    let entry = Entry::from_bytes(entry_bytes).map_err(ReceiptError::Entry)?;
    let header = BlockHeader::from_bytes(block_bytes).map_err(ReceiptError::Header)?;
    if header.log != checkpoint.origin {
        return Err(ReceiptError::LogMismatch {
            header: header.log,
            checkpoint: checkpoint.origin,
        });
    }
    let p = entry_proof;
    if p.count != header.count {
        return Err(ReceiptError::CountMismatch {
            proof: p.count,
            header: header.count,
        });
    }
    if header.first_seq.checked_add(p.index) != Some(entry.seq()) {
        return Err(ReceiptError::SeqMismatch {
            seq: entry.seq(),
            first_seq: header.first_seq,
            index: p.index,
        });
    }
    let computed = p
        .root_from(entry_leaf(entry_bytes))
        .map_err(ReceiptError::EntryProof)?;
    if computed != header.entries_root {
        return Err(ReceiptError::EntriesRoot {
            computed,
            expected: header.entries_root,
        });
    }
    let bp = block_proof;
    if bp.index != header.height.get() {
        return Err(ReceiptError::HeightMismatch {
            proof: bp.index,
            header: header.height,
        });
    }
    if bp.tree_size != checkpoint.size {
        return Err(ReceiptError::TreeSizeMismatch {
            proof: bp.tree_size,
            checkpoint: checkpoint.size,
        });
    }
    bp.verify(block_hash(block_bytes).leaf(), checkpoint.tree_root())
        .map_err(ReceiptError::BlockProof)?;
    Ok(VerifiedReceipt {
        entry,
        header,
        checkpoint,
    })
}

impl ProvenEntry {
    /// Verifies the proofs against an opened checkpoint (a page's, opened once for all its
    /// entries) and that the entry is the seq it was served as.
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<VerifiedReceipt, ReceiptError> {
        let v = verify_proofs(
            &self.entry,
            &self.entry_proof,
            &self.block,
            &self.block_proof,
            checkpoint.clone(),
        )?;
        if v.entry.seq() != self.seq {
            return Err(ReceiptError::ServedAs {
                served: self.seq,
                seq: v.entry.seq(),
            });
        }
        Ok(v)
    }

    /// The receipt these proofs make with the checkpoint they lead to (without a nonce).
    pub fn into_receipt(self, checkpoint: String) -> Receipt {
        Receipt {
            v: FORMAT_VERSION,
            entry: self.entry,
            entry_proof: self.entry_proof,
            block: self.block,
            block_proof: self.block_proof,
            checkpoint,
            nonce: None,
        }
    }
}

/// What a verified receipt proves: this entry is in this block, under this signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub entry: Entry,
    pub header: BlockHeader,
    pub checkpoint: Checkpoint,
}

/// Exactly what failed in a receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    #[error("receipt version {0} is not {FORMAT_VERSION}")]
    Version(u8),
    #[error("checkpoint: {0}")]
    Checkpoint(NoteError),
    #[error("entry: {0}")]
    Entry(EntryError),
    #[error("block header: {0}")]
    Header(HeaderError),
    #[error("entry proof: {0}")]
    EntryProof(EntryProofError),
    #[error("entry proof says the block holds {proof} entries, the header says {header}")]
    CountMismatch { proof: u64, header: u64 },
    #[error("entry {seq} is not at index {index} of a block starting at seq {first_seq}")]
    SeqMismatch {
        seq: Seq,
        first_seq: Seq,
        index: u64,
    },
    #[error("the entry leads to entries_root {computed}, the block header says {expected}")]
    EntriesRoot { computed: Hash, expected: Hash },
    #[error("block proof is for height {proof}, the header is at height {header}")]
    HeightMismatch { proof: u64, header: Height },
    #[error("block proof is against a tree of {proof} blocks, the checkpoint's has {checkpoint}")]
    TreeSizeMismatch { proof: u64, checkpoint: u64 },
    #[error("block is from log {header:?}, the checkpoint from {checkpoint:?}")]
    LogMismatch { header: String, checkpoint: String },
    #[error("block proof: {0}")]
    BlockProof(HistoryProofError),
    #[error("entry served as seq {served} is seq {seq}")]
    ServedAs { served: Seq, seq: Seq },
}

impl Receipt {
    /// Checks the receipt with the log's verifier key. Does not panic on any input.
    pub fn verify(&self, key: &VerifierKey) -> Result<VerifiedReceipt, ReceiptError> {
        if self.v != FORMAT_VERSION {
            return Err(ReceiptError::Version(self.v));
        }
        let checkpoint =
            Checkpoint::open(&self.checkpoint, key).map_err(ReceiptError::Checkpoint)?;
        verify_proofs(
            &self.entry,
            &self.entry_proof,
            &self.block,
            &self.block_proof,
            checkpoint,
        )
    }
}

/// Appends `bytes` in base64 as a JSON string. Base64 has nothing JSON escapes, so these are the
/// bytes `serde_json` writes for the same string.
pub(crate) fn write_b64_json(out: &mut Vec<u8>, bytes: &[u8]) {
    let at = out.len() + 1;
    let len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    out.push(b'"');
    out.resize(at + len, 0);
    if let Some(tail) = out.get_mut(at..) {
        let written = B64.encode_slice(bytes, tail).unwrap_or(0);
        out.truncate(at + written);
    }
    out.push(b'"');
}

mod b64 {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

mod b64_opt {
    use super::*;
    pub fn serialize<S: serde::Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_str(&B64.encode(n)),
            None => s.serialize_none(),
        }
    }
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<[u8; 32]>, D::Error> {
        let s = <Option<std::borrow::Cow<'de, str>>>::deserialize(d)?;
        match s {
            None => Ok(None),
            Some(s) => {
                let raw = B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)?;
                let n: [u8; 32] = raw
                    .try_into()
                    .map_err(|_| serde::de::Error::custom("a nonce is 32 bytes"))?;
                Ok(Some(n))
            }
        }
    }
}
