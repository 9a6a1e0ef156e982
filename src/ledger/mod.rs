//! The append-only, Merkle-chained, signed ledger (format v1, specified in `docs/LEDGER.md`).
//!
//! Every call becomes an [`Entry`]; entries appended together form a block whose header commits
//! to them (a CBMT root) and to the previous block (`prev`); block hashes are the leaves of an
//! RFC 9162 history tree; after every block the log signs a C2SP checkpoint of that tree. Callers
//! get a [`Receipt`] that [`Receipt::verify`] checks with the verifier key alone.
//!
//! Knows nothing of HTTP, models or policies: an entry is ids, digests and facts.

mod block;
mod cosignature;
mod entry;
mod error;
mod export;
mod hash;
mod history;
mod keyfile;
mod note;
mod position;
mod query;
mod receipt;
mod recover;
mod store;
mod tiles;
mod tiles_verify;
mod verifier;
mod walker;
mod writer;

use std::path::Path;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

pub use block::{
    block_hash, proof_from_stored_nodes, BlockHeader, EntriesTree, EntryProof, EntryProofError,
    HeaderError,
};
pub use cosignature::{
    cosigned_by, CosignatureVerifier, Cosigner, QuorumError, ALG_COSIGNATURE_V1,
};
pub use entry::{
    canonical_json, commit, commit_parts, entry_leaf, Decision, Declared, Entry, EntryContext,
    EntryDraft, EntryError, JsonError, ModelRef, SealedDraft, ENTRY_VERSION, ENTRY_VERSIONS,
    FORMAT_VERSION,
};
pub use error::LedgerError;
pub use export::{
    for_each_export_entry, verify_export, write_export, ExportBase, ExportError, ExportReadError,
    ExportSummary, MAX_BLOCK_BYTES, MAX_LINE_BYTES,
};
pub use hash::{leaf_hash, node_hash, BlockHash, Hash, HashParseError, LeafHash, RootHash, ZERO};
pub use history::{
    consistency_proof, inclusion_proof, root, CompactRange, ConsistencyProof, HistoryProofError,
    InclusionProof, MemoryNodes, MissingNode, NodeSource, ProofRangeError, ProofRequestError,
};
pub use keyfile::{
    read_signer_key, read_verifier_key, write_key_pair, write_verifier_key, KeyFileError,
    PRIVATE_KEY_FILE, VERIFIER_KEY_FILE,
};
pub use note::{key_id, Checkpoint, KeyId, NoteError, SignerKey, VerifierKey, MAX_NOTE_BYTES};
pub use position::{Height, Seq};
pub use query::{heights_in_time, stats, Dimension, Extent, Filter, Page, Query};
pub use receipt::{ProvenEntry, Receipt, ReceiptError, VerifiedReceipt};
/// For the fuzz target of the blocks file's records (`src/fuzzing.rs`).
pub(crate) use store::reread_record;
pub use store::{Corruption, Store, StoreError, Stored, StoredLayout, TailDamage};
pub use tiles::{encode_index, hash_tile, push_bundled, split_bundle, TilePath, TILE_WIDTH};
pub use tiles_verify::{verify_tiles, Fetched, TilesError};
pub use verifier::{
    verify_consistency, ConsistencyError, Fault, Place, VerifyError, VerifySummary,
};
pub use walker::{
    for_each_stored_entry, verify_blocks_from, verify_store, verify_store_from, WalkError,
};
pub use writer::{format_time, CommitStats, Head, Health, SealedBlock};

use writer::{Msg, Tail, Writer};

/// Tuning of group commit.
#[derive(Debug, Clone)]
pub struct LedgerConfig {
    /// Most entries in one block.
    pub max_batch: usize,
    /// How long the writer waits for more entries once it has one; zero takes only what is
    /// already waiting (appends that arrive during a flush form the next block).
    pub max_wait: Duration,
    /// What stamps each block with its time (the system clock unless a test pins it).
    pub clock: crate::sources::Clock,
}

impl Default for LedgerConfig {
    fn default() -> Self {
        LedgerConfig {
            max_batch: 4096,
            max_wait: Duration::ZERO,
            clock: crate::sources::Clock::system(),
        }
    }
}

/// An appended entry: its seq and the block it was sealed in (for the receipt).
#[derive(Debug, Clone)]
pub struct Appended {
    pub seq: Seq,
    pub block: Arc<SealedBlock>,
    index: usize,
}

impl Appended {
    /// The entry's receipt, without a nonce.
    pub fn receipt(&self) -> Receipt {
        // PANIC SAFETY: the writer hands out indexes of entries it put into this very block.
        #[allow(clippy::expect_used)]
        self.block
            .receipt(self.index)
            .expect("the writer answers with an index inside its block")
    }

    /// Appends the entry's receipt with `nonce` as JSON, the bytes `serde_json` writes for
    /// [`Receipt`]; the members all receipts of the block share are serialised once per block.
    pub fn write_receipt_json(
        &self,
        nonce: Option<&[u8; 32]>,
        out: &mut Vec<u8>,
    ) -> Result<(), serde_json::Error> {
        let proof = self.block.tree.proof(self.index as u64).ok_or_else(|| {
            <serde_json::Error as serde::ser::Error>::custom("an entry outside its block")
        })?;
        out.extend_from_slice(b"{\"v\":");
        serde_json::to_writer(&mut *out, &FORMAT_VERSION)?;
        out.extend_from_slice(b",\"entry\":");
        receipt::write_b64_json(out, self.entry_bytes());
        out.extend_from_slice(b",\"entry_proof\":");
        serde_json::to_writer(&mut *out, &proof)?;
        out.extend_from_slice(self.block.shared_json()?);
        out.extend_from_slice(b",\"nonce\":");
        match nonce {
            Some(n) => receipt::write_b64_json(out, n),
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        Ok(())
    }

    /// The entry's bytes.
    pub fn entry_bytes(&self) -> &[u8] {
        self.block
            .entries
            .get(self.index)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

struct Inner {
    store: Store,
    verifier: VerifierKey,
    tx: Sender<Msg>,
    head: Arc<RwLock<Head>>,
    health: Arc<writer::HealthCell>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// A handle on an open ledger; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ledger({})", self.inner.verifier.name())
    }
}

impl Ledger {
    /// Opens the ledger in `dir` (creating it if empty), checks that its tail holds together, and
    /// starts the writer.
    pub fn open(
        dir: &Path,
        signer: SignerKey,
        config: LedgerConfig,
    ) -> Result<Ledger, LedgerError> {
        Self::open_with(dir, signer, config, None)
    }

    /// As [`Ledger::open`], calling `on_commit` after every durable block (for metrics).
    pub fn open_with(
        dir: &Path,
        signer: SignerKey,
        config: LedgerConfig,
        on_commit: Option<Arc<dyn Fn(CommitStats) + Send + Sync>>,
    ) -> Result<Ledger, LedgerError> {
        let store = Store::open(dir)?;
        let verifier = signer.verifier();
        let new_metadata = match store.meta("verifier")? {
            Some(stored) if stored != verifier.to_string() => {
                return Err(LedgerError::WrongKey {
                    stored: store.meta("origin")?.unwrap_or_default(),
                    stored_key: stored,
                    given: verifier.to_string(),
                });
            }
            Some(_) => false,
            None => {
                let empty =
                    store.last(store::BLOCK)?.is_none() && store.last(store::ENTRY)?.is_none();
                // An index rebuilt from the blocks file lost its metadata; the recovery below
                // opens the last checkpoint with this key before they are written again.
                if !empty && !store.rebuilt() {
                    return Err(LedgerError::Tail {
                        what: "metadata",
                        expected: "a verifier key for a non-empty ledger".into(),
                        found: "none".into(),
                    });
                }
                true
            }
        };
        let (tail, head) = recover::recover(&store, &verifier)?;
        if new_metadata {
            store.set_meta("format", "1")?;
            store.set_meta("origin", verifier.name())?;
            store.set_meta("verifier", &verifier.to_string())?;
        }
        if store.rebuilt() {
            tracing::warn!(
                blocks = head.blocks,
                entries = head.entries,
                "the ledger's index was rebuilt from the blocks file"
            );
        }
        let head = Arc::new(RwLock::new(head));
        let (tx, rx) = mpsc::channel();
        let health = Arc::new(writer::HealthCell::default());
        let writer = Writer {
            health: Arc::clone(&health),
            store: store.clone(),
            signer,
            tail,
            head: Arc::clone(&head),
            max_batch: config.max_batch.max(1),
            max_wait: config.max_wait,
            clock: config.clock.clone(),
            last_batch: 0,
            on_commit,
        };
        let thread = std::thread::Builder::new()
            .name("ledger-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(|e| LedgerError::Store(StoreError::Sled(sled::Error::Io(e))))?;
        Ok(Ledger {
            inner: Arc::new(Inner {
                store,
                verifier,
                tx,
                head,
                health,
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// Seals the draft on the caller's thread and hands it to the writer.
    fn submit(&self, draft: EntryDraft) -> Result<writer::ReplyReceiver, LedgerError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        let sealed = draft.seal().map_err(LedgerError::Entry)?;
        self.inner
            .tx
            .send(Msg::Append(sealed, reply))
            .map_err(|_| LedgerError::Closed)?;
        Ok(rx)
    }

    fn appended(
        answer: Result<writer::Answer, tokio::sync::oneshot::error::RecvError>,
    ) -> Result<Appended, LedgerError> {
        let (block, index) = answer.map_err(|_| LedgerError::Closed)??;
        Ok(Appended {
            seq: block.header.first_seq + index as u64,
            block,
            index,
        })
    }

    /// Appends one entry; resolves once it is durable and covered by a signed checkpoint.
    pub async fn append(&self, draft: EntryDraft) -> Result<Appended, LedgerError> {
        let rx = self.submit(draft)?;
        Self::appended(rx.await)
    }

    /// [`Ledger::append`] for threads outside an async runtime.
    pub fn append_blocking(&self, draft: EntryDraft) -> Result<Appended, LedgerError> {
        let rx = self.submit(draft)?;
        Self::appended(rx.blocking_recv())
    }

    /// Stops the writer after it has written everything already sent, and waits for it.
    pub fn close(&self) {
        let _ = self.inner.tx.send(Msg::Stop);
        let handle = self.inner.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Whether the ledger can append now (readiness).
    pub fn health(&self) -> Health {
        self.inner.health.get()
    }

    /// The log's verifier key.
    pub fn verifier(&self) -> &VerifierKey {
        &self.inner.verifier
    }

    /// Sizes and the latest checkpoint.
    pub fn head(&self) -> Head {
        self.inner
            .head
            .read()
            .map(|h| h.clone())
            .unwrap_or_default()
    }

    /// The underlying store, for readers (queries, export, verification).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The number of blocks, if the log holds at least `size` of them.
    fn blocks_up_to(&self, size: u64) -> Result<u64, LedgerError> {
        let blocks = self.head().blocks;
        if size > blocks {
            return Err(LedgerError::NoSize { size, blocks });
        }
        Ok(blocks)
    }

    /// A fresh receipt for the entry at `seq`, against the latest checkpoint.
    pub fn receipt(&self, seq: Seq) -> Result<Receipt, LedgerError> {
        let head = self.head();
        if seq.get() >= head.entries {
            return Err(LedgerError::NoEntry {
                seq,
                size: head.entries,
            });
        }
        let checkpoint = head
            .checkpoint
            .ok_or(LedgerError::NoEntry { seq, size: 0 })?;
        receipt_at(&self.inner.store, seq, head.blocks, checkpoint)
    }

    /// The receipt of entry `seq` against the tree of its first `blocks` blocks, carrying
    /// `checkpoint` — the note of that tree, signed by the log and possibly cosigned (what a
    /// witnessed receipt carries). [`LedgerError::NoEntry`] for an entry not in those blocks.
    pub fn receipt_against(
        &self,
        seq: Seq,
        blocks: u64,
        checkpoint: String,
    ) -> Result<Receipt, LedgerError> {
        let head = self.head();
        let in_tree = blocks <= head.blocks
            && self
                .inner
                .store
                .block_of(seq)?
                .is_some_and(|h| h.get() < blocks);
        if !in_tree {
            return Err(LedgerError::NoEntry {
                seq,
                size: head.entries,
            });
        }
        receipt_at(&self.inner.store, seq, blocks, checkpoint)
    }

    /// The extent of the log at its latest checkpoint, and that checkpoint: what a reader
    /// answers from so that everything it returns is proven against one signed tree.
    pub fn snapshot(&self) -> Option<(Extent, String)> {
        let head = self.head();
        let checkpoint = head.checkpoint?;
        Some((
            Extent {
                blocks: head.blocks,
                entries: head.entries,
            },
            checkpoint,
        ))
    }

    /// The entries `seqs` with their proofs, all against the tree of `extent.blocks` blocks
    /// (whose checkpoint the caller pairs with them). Blocks shared by several entries are read
    /// and proven once.
    pub fn proven_at(&self, seqs: &[Seq], extent: Extent) -> Result<Vec<ProvenEntry>, LedgerError> {
        let store = &self.inner.store;
        let mut out = Vec::with_capacity(seqs.len());
        let mut block: Option<(Height, sled::IVec, Seq, Vec<u8>, InclusionProof)> = None;
        for &seq in seqs {
            if seq.get() >= extent.entries {
                return Err(LedgerError::NoEntry {
                    seq,
                    size: extent.entries,
                });
            }
            let corrupt = |what: &'static str| {
                LedgerError::Store(StoreError::Corrupt(Corruption::MissingForSeq { what, seq }))
            };
            let height = store.block_of(seq)?.ok_or_else(|| corrupt("the block"))?;
            if block.as_ref().map(|b| b.0) != Some(height) {
                let header = store.header(height)?.ok_or_else(|| corrupt("the header"))?;
                let first_seq = store::trusted_header(&header, height)?.first_seq;
                let nodes = store
                    .cbmt_bytes(height)?
                    .ok_or_else(|| corrupt("the CBMT"))?;
                let proof = inclusion_proof(store, height.get(), extent.blocks)
                    .map_err(LedgerError::from_proof)?;
                block = Some((height, header, first_seq, nodes, proof));
            }
            let Some((_, header, first_seq, nodes, block_proof)) = &block else {
                return Err(corrupt("the block"));
            };
            let entry_proof = block::proof_from_stored_nodes(nodes, seq - *first_seq)
                .ok_or_else(|| corrupt("the entry proof"))?;
            let entry = store.entry(seq)?.ok_or_else(|| corrupt("the entry"))?;
            out.push(ProvenEntry {
                seq,
                entry: entry.to_vec(),
                entry_proof,
                block: header.to_vec(),
                block_proof: block_proof.clone(),
            });
        }
        Ok(out)
    }

    /// The signed checkpoint of the tree of `size` blocks.
    pub fn checkpoint(&self, size: u64) -> Result<String, LedgerError> {
        let blocks = self.blocks_up_to(size)?;
        if size == 0 {
            return Err(LedgerError::SizeZero);
        }
        self.inner
            .store
            .checkpoint(Height::new(size - 1))?
            .ok_or(LedgerError::NoBlock {
                height: Height::new(size - 1),
                size: blocks,
            })
    }

    /// RFC 9162 inclusion proof of block `height` in the tree of `size` blocks.
    pub fn inclusion_proof(
        &self,
        height: Height,
        size: u64,
    ) -> Result<InclusionProof, LedgerError> {
        self.blocks_up_to(size)?;
        inclusion_proof(&self.inner.store, height.get(), size).map_err(LedgerError::from_proof)
    }

    /// RFC 9162 consistency proof between the trees of `old` and `new` blocks.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<ConsistencyProof, LedgerError> {
        self.blocks_up_to(new)?;
        consistency_proof(&self.inner.store, old, new).map_err(LedgerError::from_proof)
    }
}

/// Builds the receipt of `seq` against the tree of `blocks` blocks whose checkpoint is given.
fn receipt_at(
    store: &Store,
    seq: Seq,
    blocks: u64,
    checkpoint: String,
) -> Result<Receipt, LedgerError> {
    let corrupt = |what: &'static str| {
        LedgerError::Store(StoreError::Corrupt(Corruption::MissingForSeq { what, seq }))
    };
    let height = store.block_of(seq)?.ok_or_else(|| corrupt("the block"))?;
    let header_bytes = store
        .header(height)?
        .ok_or_else(|| corrupt("the block header"))?;
    let header = store::trusted_header(&header_bytes, height)?;
    // Only the O(log c) nodes on the entry's path are read out of the block's node array.
    let entry_proof = store
        .entry_proof(height, seq - header.first_seq)?
        .ok_or_else(|| corrupt("the entry proof"))?;
    let entry = store.entry(seq)?.ok_or_else(|| corrupt("the entry"))?;
    let block_proof =
        inclusion_proof(store, height.get(), blocks).map_err(LedgerError::from_proof)?;
    Ok(Receipt {
        v: FORMAT_VERSION,
        entry: entry.to_vec(),
        entry_proof,
        block: header_bytes.to_vec(),
        block_proof,
        checkpoint,
        nonce: None,
    })
}
