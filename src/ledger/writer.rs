//! Group commit: one writer thread owns the tail of the log. Appenders, from any number of tasks
//! or threads, send drafts through a channel; the writer takes what is waiting (at most
//! `max_batch`, after sleeping `max_wait` under load to let more arrive), seals it as one block,
//! writes the block's record to the blocks file and syncs it, applies its keys to sled (where the
//! record is, last), and only then answers each appender. The checkpoint is signed before the
//! record is written and stored in it, so an answer always means: durable and covered by a signed
//! checkpoint.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};

use super::block::{block_hash, BlockHeader, EntriesTree};
use super::entry::{entry_leaf, SealedDraft, FORMAT_VERSION};
use super::hash::{BlockHash, RootHash};
use super::history::{CompactRange, InclusionProof};
use super::note::{Checkpoint, SignerKey};
use super::position::{Height, Seq};
use super::receipt::Receipt;
use super::store::{self, key_history, key_u64, Store};
use super::LedgerError;
use crate::ids::CallerId;

/// One sealed, durable block, shared by the appenders it answers; each builds its own receipt.
#[derive(Debug)]
pub struct SealedBlock {
    pub(crate) header_bytes: Vec<u8>,
    pub(crate) header: BlockHeader,
    pub(crate) tree: EntriesTree,
    pub(crate) entries: Vec<Vec<u8>>,
    pub(crate) block_proof: InclusionProof,
    pub(crate) checkpoint: String,
    /// The members every receipt of this block shares, as JSON: built once, by the first
    /// appender that writes its receipt as JSON.
    shared_json: OnceLock<Vec<u8>>,
}

impl SealedBlock {
    /// `,"block":…,"block_proof":…,"checkpoint":…` as [`Receipt`] serialises them.
    pub(crate) fn shared_json(&self) -> Result<&[u8], serde_json::Error> {
        if let Some(done) = self.shared_json.get() {
            return Ok(done);
        }
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(b",\"block\":");
        super::receipt::write_b64_json(&mut out, &self.header_bytes);
        out.extend_from_slice(b",\"block_proof\":");
        serde_json::to_writer(&mut out, &self.block_proof)?;
        out.extend_from_slice(b",\"checkpoint\":");
        serde_json::to_writer(&mut out, &self.checkpoint)?;
        Ok(self.shared_json.get_or_init(|| out))
    }

    /// The receipt of the entry at `index` in this block (without a nonce).
    pub fn receipt(&self, index: usize) -> Option<Receipt> {
        Some(Receipt {
            v: FORMAT_VERSION,
            entry: self.entries.get(index)?.clone(),
            entry_proof: self.tree.proof(index as u64)?,
            block: self.header_bytes.clone(),
            block_proof: self.block_proof.clone(),
            checkpoint: self.checkpoint.clone(),
            nonce: None,
        })
    }
}

/// The writer's answer to one append: the sealed block and the entry's index in it.
pub(crate) type Answer = Result<(Arc<SealedBlock>, usize), LedgerError>;
pub(crate) type Reply = tokio::sync::oneshot::Sender<Answer>;
pub(crate) type ReplyReceiver = tokio::sync::oneshot::Receiver<Answer>;

// Appends are the hot path and `Stop` is sent once: boxing the draft would cost an allocation
// per append to save a few bytes per message.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Append(SealedDraft, Reply),
    Stop,
}

/// What the writer knows of the tail of the log.
pub(crate) struct Tail {
    pub(crate) next_seq: Seq,
    pub(crate) prev: BlockHash,
    pub(crate) range: CompactRange,
    pub(crate) last_time: DateTime<Utc>,
}

/// What readers see of the tail: sizes and the latest signed checkpoint.
#[derive(Debug, Clone, Default)]
pub struct Head {
    /// Number of entries (the next seq).
    pub entries: u64,
    /// Number of blocks (the history tree's size).
    pub blocks: u64,
    /// The latest signed checkpoint, if any block was written.
    pub checkpoint: Option<String>,
}

/// Figures of one commit, for metrics.
#[derive(Debug, Clone, Copy)]
pub struct CommitStats {
    pub entries: usize,
    /// The whole commit: seal, write and sync the record, apply its keys.
    pub write: Duration,
    /// The sync alone (`fdatasync` of the blocks file).
    pub sync: Duration,
}

/// Whether the ledger can append now, as the writer last found it (readiness reads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Blocks are being written.
    Appending,
    /// The last block could not be written (the disk is full, say); nothing of it is in the
    /// log. The writer tries again with every append and, while idle, once a second; it is
    /// `Appending` again as soon as a write goes through.
    Failing,
    /// A write failed after its block reached the blocks file (its index could not be
    /// updated): appends are refused until a restart has checked the tail.
    Stopped,
}

/// The writer's [`Health`], shared with readers.
#[derive(Debug, Default)]
pub(crate) struct HealthCell(AtomicU8);

impl HealthCell {
    pub(crate) fn get(&self) -> Health {
        match self.0.load(Ordering::Acquire) {
            0 => Health::Appending,
            1 => Health::Failing,
            _ => Health::Stopped,
        }
    }

    fn set(&self, h: Health) {
        let v = match h {
            Health::Appending => 0,
            Health::Failing => 1,
            Health::Stopped => 2,
        };
        self.0.store(v, Ordering::Release);
    }
}

/// How often an idle writer whose last write failed checks whether it could write again.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// How much room a probe asks of the blocks file: more than most blocks need.
const PROBE_BYTES: usize = 256 * 1024;

pub(crate) struct Writer {
    /// What readiness reports.
    pub(crate) health: Arc<HealthCell>,
    pub(crate) store: Store,
    pub(crate) signer: SignerKey,
    pub(crate) tail: Tail,
    pub(crate) head: Arc<RwLock<Head>>,
    pub(crate) max_batch: usize,
    pub(crate) max_wait: Duration,
    pub(crate) clock: crate::sources::Clock,
    /// Entries in the last block taken.
    pub(crate) last_batch: usize,
    pub(crate) on_commit: Option<Arc<dyn Fn(CommitStats) + Send + Sync>>,
}

/// How long the writer waits for more entries once it has one, given the size of the block
/// before: `max_wait` only under concurrent load (that block held more than one entry). One
/// appender at a time would pay the wait on every append and gain nothing.
fn linger(last_batch: usize, max_wait: Duration) -> Duration {
    if last_batch > 1 {
        max_wait
    } else {
        Duration::ZERO
    }
}

/// Formats a time as format v1 does: RFC 3339, UTC, microseconds.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Writer {
    pub(crate) fn run(mut self, rx: Receiver<Msg>) {
        let mut poisoned: Option<Arc<LedgerError>> = None;
        loop {
            let first = if self.health.get() == Health::Failing {
                rx.recv_timeout(RETRY_EVERY)
            } else {
                rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
            };
            let (draft, reply) = match first {
                Ok(Msg::Append(d, r)) => (d, r),
                Err(RecvTimeoutError::Timeout) => {
                    // Idle after a failed write: is there room again? Readiness follows.
                    if self.store.probe_room(PROBE_BYTES).is_ok() {
                        tracing::info!("the ledger can write again");
                        self.health.set(Health::Appending);
                    }
                    continue;
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut jobs = vec![(draft, reply)];
            let mut stop = false;
            // The wait is slept through, not spent receiving: a receiver blocked on the channel
            // is woken by every send (a futex wake for the appender, a context switch for the
            // writer), some 20 a block under load. What arrived meanwhile is taken after.
            let wait = linger(self.last_batch, self.max_wait);
            if !wait.is_zero() {
                std::thread::sleep(wait);
            }
            while jobs.len() < self.max_batch {
                match rx.try_recv() {
                    Ok(Msg::Append(d, r)) => jobs.push((d, r)),
                    Ok(Msg::Stop) | Err(TryRecvError::Disconnected) => {
                        stop = true;
                        break;
                    }
                    Err(TryRecvError::Empty) => break,
                }
            }
            self.last_batch = jobs.len();
            if let Some(why) = &poisoned {
                for (_, reply) in jobs {
                    let _ = reply.send(Err(LedgerError::Poisoned(Arc::clone(why))));
                }
            } else {
                if let Err(e) = self.commit(jobs) {
                    if self.health.get() == Health::Stopped {
                        poisoned = Some(e);
                    }
                }
            }
            if stop {
                break;
            }
        }
        // Spares the next open a replay; the blocks are durable without it.
        if let Err(e) = self.store.flush() {
            tracing::warn!(error = %e, "flushing sled at close failed; the next open replays");
        }
    }

    /// Seals `jobs` into one block and makes it durable, then answers every job: with the sealed
    /// block, or with why it could not be written.
    fn commit(&mut self, jobs: Vec<(SealedDraft, Reply)>) -> Result<(), Arc<LedgerError>> {
        let (drafts, replies): (Vec<SealedDraft>, Vec<Reply>) = jobs.into_iter().unzip();
        let written = self.write_block(drafts);
        // Health is set before anyone is answered: an appender told its block failed sees the
        // ledger failing from then on.
        self.judge(&written);
        match written {
            Ok(Some(sealed)) => {
                for (i, reply) in replies.into_iter().enumerate() {
                    let _ = reply.send(Ok((Arc::clone(&sealed), i)));
                }
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => {
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(LedgerError::WriteFailed(Arc::clone(&e))));
                }
                Err(e)
            }
        }
    }

    /// The writer's health after a block's write.
    fn judge(&self, written: &Result<Option<Arc<SealedBlock>>, LedgerError>) {
        let was = self.health.get();
        match written {
            Ok(_) => {
                if was == Health::Failing {
                    tracing::info!("the ledger can write again");
                }
                self.health.set(Health::Appending);
            }
            // Nothing of the block reached the log: the tail is as it was, and the next block
            // takes the same height.
            Err(LedgerError::Store(e @ store::StoreError::Unwritten(_))) => {
                if was == Health::Appending {
                    tracing::error!(error = %e, "ledger write failed; calls are refused until a write goes through");
                }
                self.health.set(Health::Failing);
            }
            // The block may be in the blocks file: stop appending until a restart has checked
            // the tail, rather than risk reusing a seq or a height.
            Err(e) => {
                tracing::error!(error = %e, "ledger write failed; refusing further appends until restart");
                self.health.set(Health::Stopped);
            }
        }
    }

    /// Seals `drafts` into one block and makes it durable; `None` if there are none.
    fn write_block(
        &mut self,
        drafts: Vec<SealedDraft>,
    ) -> Result<Option<Arc<SealedBlock>>, LedgerError> {
        let started = Instant::now();
        // Time never goes backwards in the log, even if the clock does.
        let now = self.clock.now().max(self.tail.last_time);
        let time = format_time(now);
        let first_seq = self.tail.next_seq;

        let mut index = store::BlockIndex::default();
        let mut entries = Vec::with_capacity(drafts.len());
        let mut leaves = Vec::with_capacity(drafts.len());
        for sealed in drafts {
            let seq = first_seq + entries.len() as u64;
            let bytes = sealed.finish(seq, &time);
            let d = &sealed.draft;
            let offset = entries.len() as u32;
            let model = d
                .model
                .as_ref()
                .map(|m| (m.name.as_str(), m.version.as_str()));
            let caller = d.caller.as_ref().map(CallerId::as_str);
            index.add_entry(caller, model, d.decision.as_str(), &d.rules, offset);
            leaves.push(entry_leaf(&bytes));
            entries.push(bytes);
        }
        if entries.is_empty() {
            return Ok(None);
        }

        let height = Height::new(self.tail.range.size());
        let h = height.get();
        let mut record = self.store.begin_block(h);
        let tree = EntriesTree::build(&leaves);
        let header = BlockHeader {
            v: FORMAT_VERSION,
            log: self.signer.name().to_string(),
            height,
            first_seq,
            count: entries.len() as u64,
            time,
            entries_root: tree.root(),
            prev: self.tail.prev,
        };
        let header_bytes = header.to_bytes().map_err(LedgerError::Header)?;
        let hash = block_hash(&header_bytes);
        let block_proof = self.tail.range.next_leaf_proof();
        let mut range = self.tail.range.clone();
        for (level, index, node) in range.append(hash.leaf()) {
            record.insert(key_history(level, index), *node.as_bytes());
        }
        let root = range.root().map(RootHash::hash).unwrap_or_default();
        let checkpoint = Checkpoint {
            origin: self.signer.name().to_string(),
            size: height.tree_size(),
            root,
        }
        .sign(&self.signer)
        .map_err(LedgerError::Key)?;

        for (key, offsets) in index.pairs(h) {
            record.insert(key, offsets);
        }
        record.insert(key_u64(store::BLOCK, h), header_bytes.as_slice());
        record.insert(key_u64(store::CHECKPOINT, h), checkpoint.as_bytes());
        record.insert(key_u64(store::SEQ_BLOCK, first_seq.get()), h.to_be_bytes());
        let micros = u64::try_from(now.timestamp_micros()).unwrap_or(0);
        let mut tkey = key_u64(store::TIME, micros).to_vec();
        tkey.extend_from_slice(&h.to_be_bytes());
        record.insert(tkey, Vec::new());

        let chunks = entries.chunks(store::CHUNK).enumerate();
        record
            .put_entries(
                chunks.map(|(i, chunk)| (first_seq.get() + (i * store::CHUNK) as u64, chunk)),
                tree.nodes(),
            )
            .map_err(LedgerError::Store)?;
        let sync = self.store.commit(record).map_err(LedgerError::Store)?;

        let count = entries.len();
        self.tail = Tail {
            next_seq: first_seq + count as u64,
            prev: hash,
            range,
            last_time: now,
        };
        if let Ok(mut head) = self.head.write() {
            *head = Head {
                entries: self.tail.next_seq.get(),
                blocks: height.tree_size(),
                checkpoint: Some(checkpoint.clone()),
            };
        }
        if let Some(cb) = &self.on_commit {
            cb(CommitStats {
                entries: count,
                write: started.elapsed(),
                sync,
            });
        }
        Ok(Some(Arc::new(SealedBlock {
            header_bytes,
            header,
            tree,
            entries,
            block_proof,
            checkpoint,
            shared_json: OnceLock::new(),
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_waits_for_company_only_after_a_shared_block() {
        let wait = Duration::from_micros(500);
        assert_eq!(linger(0, wait), Duration::ZERO, "first block");
        assert_eq!(linger(1, wait), Duration::ZERO, "a lone appender");
        assert_eq!(linger(2, wait), wait);
        assert_eq!(linger(4096, wait), wait);
        assert_eq!(linger(7, Duration::ZERO), Duration::ZERO);
    }
}
