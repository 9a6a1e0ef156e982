//! A witness (C2SP `tlog-witness`): an independent party that cosigns a log's checkpoint only if
//! it is consistent with every checkpoint of that log it cosigned before, so that a log cannot
//! show one history to some and another to others without a witness refusing one of them
//! (`docs/LEDGER.md`, "Witnesses").
//!
//! The witness keeps, per log it follows (by origin), the size and root of the latest checkpoint
//! it cosigned, in sled. Checking a submission against that state and recording the new one is
//! one compare-and-swap, flushed to disk before the cosignature is returned: however requests
//! race and whenever the process is killed, the state only ever moves to a checkpoint
//! consistent with the one before, and no cosignature is returned for a state not on disk.
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | the state and [`Witness::add_checkpoint`]: the request's checks in the order of the spec |
//! | `request.rs` | reading an `add-checkpoint` body: the old size, the proof, the checkpoint |
//! | `http.rs` | the HTTP service: `POST /add-checkpoint` and its status codes |

mod http;
mod request;

use std::collections::HashMap;
use std::path::Path;

use crate::ledger::{
    Checkpoint, ConsistencyProof, CosignatureVerifier, Cosigner, Hash, NoteError, RootHash,
    SignerKey, VerifierKey,
};

pub use http::serve;
pub use request::{AddCheckpoint, MAX_PROOF_LINES, MAX_REQUEST_BYTES};

/// Why a checkpoint was not cosigned, each with the status the spec gives it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body is not an `add-checkpoint` request, or its old size exceeds the
    /// checkpoint's.
    #[error("{0}")]
    BadRequest(String),
    /// 403: no signature on the checkpoint verifies with a key trusted for its origin.
    #[error("the checkpoint carries no valid signature by a key trusted for {0}")]
    Forbidden(String),
    /// 404: the witness follows no log of this origin.
    #[error("this witness follows no log with origin {0}")]
    UnknownOrigin(String),
    /// 409: the old size is not the size of the latest checkpoint cosigned (the body of the
    /// answer is that size), or the sizes are equal and the roots are not.
    #[error("the latest checkpoint cosigned for this log has size {0}")]
    Conflict(u64),
    /// 422: the consistency proof does not verify.
    #[error("the consistency proof does not verify: {0}")]
    Unprocessable(String),
    /// 500: the state could not be read or written.
    #[error("the witness could not read or write its state: {0}")]
    Storage(String),
}

impl Refusal {
    /// The HTTP status of the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden(_) => 403,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Unprocessable(_) => 422,
            Refusal::Storage(_) => 500,
        }
    }
}

/// Why a witness could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("opening the witness state in {dir}: {source}")]
    State {
        dir: String,
        #[source]
        source: sled::Error,
    },
    #[error("the log key {0} is given twice")]
    DuplicateLog(String),
}

/// The size and root of the latest checkpoint cosigned for a log, as stored: size (u64,
/// big-endian) then the 32-byte root.
fn encode(size: u64, root: &Hash) -> [u8; 40] {
    let mut v = [0u8; 40];
    v[..8].copy_from_slice(&size.to_be_bytes());
    v[8..].copy_from_slice(root.as_bytes());
    v
}

fn decode(bytes: &[u8]) -> Option<(u64, Hash)> {
    let size = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    Some((size, Hash::from_slice(bytes.get(8..)?)?))
}

/// A witness: its cosigning key, the logs it follows and its state.
pub struct Witness {
    cosigner: Cosigner,
    logs: HashMap<String, Vec<VerifierKey>>,
    db: sled::Db,
    state: sled::Tree,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("cosigner", &self.cosigner)
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Witness {
    /// Opens the witness state in `dir` (created if missing), cosigning with `key` for the logs
    /// of `logs` (each origin the key's name; a log may have several keys).
    pub fn open(dir: &Path, key: &SignerKey, logs: Vec<VerifierKey>) -> Result<Witness, OpenError> {
        let db = sled::open(dir.join("witness")).map_err(|source| OpenError::State {
            dir: dir.display().to_string(),
            source,
        })?;
        let state = db.open_tree("latest").map_err(|source| OpenError::State {
            dir: dir.display().to_string(),
            source,
        })?;
        let mut by_origin: HashMap<String, Vec<VerifierKey>> = HashMap::new();
        for key in logs {
            let keys = by_origin.entry(key.name().to_string()).or_default();
            if keys.contains(&key) {
                return Err(OpenError::DuplicateLog(key.to_string()));
            }
            keys.push(key);
        }
        Ok(Witness {
            cosigner: Cosigner::new(key),
            logs: by_origin,
            db,
            state,
        })
    }

    /// Flushes the state (it is flushed after every cosignature already).
    pub fn close(&self) {
        let _ = self.db.flush();
    }

    /// The key clients check this witness's cosignatures with.
    pub fn verifier(&self) -> CosignatureVerifier {
        self.cosigner.verifier()
    }

    /// The origins of the logs followed, sorted.
    pub fn origins(&self) -> Vec<&str> {
        let mut o: Vec<&str> = self.logs.keys().map(String::as_str).collect();
        o.sort_unstable();
        o
    }

    /// The size and root of the latest checkpoint cosigned for `origin`, if any.
    pub fn latest(&self, origin: &str) -> Result<Option<(u64, Hash)>, Refusal> {
        let stored = self
            .state
            .get(origin.as_bytes())
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        stored
            .map(|v| {
                decode(&v)
                    .ok_or_else(|| Refusal::Storage(format!("a malformed state for {origin}")))
            })
            .transpose()
    }

    /// Handles one `add-checkpoint` request body at `now` (POSIX seconds): the checks of C2SP
    /// `tlog-witness` in its order, the new state recorded and flushed, and the cosignature
    /// line returned.
    pub fn add_checkpoint(&self, body: &[u8], now: u64) -> Result<String, Refusal> {
        let req = AddCheckpoint::parse(body).map_err(Refusal::BadRequest)?;
        let text = note_text(req.checkpoint).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        let cp = Checkpoint::parse_body(text).map_err(|e| Refusal::BadRequest(e.to_string()))?;
        let keys = self
            .logs
            .get(&cp.origin)
            .ok_or_else(|| Refusal::UnknownOrigin(cp.origin.clone()))?;
        // Signatures of unknown keys are ignored; one that verifies with a trusted key suffices.
        if !keys.iter().any(|k| k.open(req.checkpoint).is_ok()) {
            return Err(Refusal::Forbidden(cp.origin.clone()));
        }
        if req.old > cp.size {
            return Err(Refusal::BadRequest(format!(
                "the old size {} is larger than the checkpoint's {}",
                req.old, cp.size
            )));
        }
        loop {
            let current = self
                .state
                .get(cp.origin.as_bytes())
                .map_err(|e| Refusal::Storage(e.to_string()))?;
            let (size, root) = match &current {
                None => (0, None),
                Some(v) => {
                    let (size, root) = decode(v)
                        .ok_or_else(|| Refusal::Storage("a malformed state".to_string()))?;
                    (size, Some(root))
                }
            };
            if req.old != size {
                return Err(Refusal::Conflict(size));
            }
            check_consistency(&req, &cp, root)?;
            let new = encode(cp.size, &cp.root);
            match self
                .state
                .compare_and_swap(cp.origin.as_bytes(), current.as_deref(), Some(&new[..]))
                .map_err(|e| Refusal::Storage(e.to_string()))?
            {
                Ok(()) => break,
                // Another request moved the state between the read and the swap: judge again
                // against the state it left.
                Err(_) => continue,
            }
        }
        self.db
            .flush()
            .map_err(|e| Refusal::Storage(e.to_string()))?;
        self.cosigner
            .cosign(text, now)
            .map_err(|e| Refusal::BadRequest(e.to_string()))
    }
}

/// The note text of a signed note (up to and with the newline before the blank line).
fn note_text(note: &str) -> Result<&str, NoteError> {
    let split = note
        .rfind("\n\n")
        .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
    Ok(&note[..split + 1])
}

/// The proof from the state of `old` leaves with `root` to the checkpoint.
fn check_consistency(
    req: &AddCheckpoint<'_>,
    cp: &Checkpoint,
    root: Option<Hash>,
) -> Result<(), Refusal> {
    if req.old == 0 {
        if !req.proof.is_empty() {
            return Err(Refusal::Unprocessable(
                "the proof from size 0 must be empty".into(),
            ));
        }
        return Ok(());
    }
    let Some(root) = root else {
        return Err(Refusal::Conflict(0));
    };
    if req.old == cp.size {
        if root != cp.root {
            return Err(Refusal::Conflict(req.old));
        }
        if !req.proof.is_empty() {
            return Err(Refusal::Unprocessable(
                "the proof between equal sizes must be empty".into(),
            ));
        }
        return Ok(());
    }
    ConsistencyProof {
        old_size: req.old,
        new_size: cp.size,
        path: req.proof.clone(),
    }
    .verify(RootHash::new(root, req.old), cp.tree_root())
    .map_err(|e| Refusal::Unprocessable(e.to_string()))
}
