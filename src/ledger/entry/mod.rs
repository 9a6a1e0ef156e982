//! Ledger entries (DESIGN.md "The ledger (format v1)", **Entry**; `docs/LEDGER.md`, "Entry
//! versions"): one per call, serialised with the JSON Canonicalization Scheme (RFC 8785). Those exact bytes are hashed
//! (leaf = H(0x00 ‖ bytes)), stored and shipped; a reader accepts an entry only if re-serialising
//! it gives the same bytes, so one entry has one encoding.
//!
//! Entries hold commitments to the inputs and outputs, never the data: `input` = H(nonce ‖
//! JCS(inputs)), `output` = H(nonce ‖ JCS(outputs)), with a per-call random nonce that only the
//! caller receives.
//!
//! Entries carry their own version `v`. Version 1 is DESIGN.md's entry; version 2, written since,
//! adds what the decision relied on beyond the purpose and the categories: the caller's
//! declarations as the rules read them (`context.declared`), the input's size
//! (`context.input_bytes`) and whether the scan for personal data read all of it
//! (`context.pii_scan_complete`). Readers accept both; a log may hold both (one written before an
//! upgrade and continued after).
//!
//! | file | what |
//! | --- | --- |
//! | `mod.rs` | the entry's types, its RFC 8785 bytes read and written by the general serialiser, its leaf hash |
//! | `error.rs` | `EntryError`, and `JsonError`: serde_json's error as a value errors can carry |
//! | `seal.rs` | sealing a draft on the appender's thread, and the direct writer of the RFC 8785 member order |
//! | `canonical.rs` | the fast canonical-form check a verifier runs on every entry, held to [`Entry::from_bytes`] |
//! | `commitment.rs` | the input and output commitments H(nonce ‖ …) |
//! | `jcs.rs` | the RFC 8785 writer of any JSON value, held to the general serialiser |

mod canonical;
mod commitment;
mod error;
mod jcs;
mod seal;

use serde::{Deserialize, Serialize};

use super::hash::{leaf_hash, Hash, LeafHash};
use super::position::Seq;
use crate::ids::{CallerId, CredentialId, RuleId};

pub(crate) use canonical::read_canonical;
pub use commitment::{commit, commit_parts};
pub use error::{EntryError, JsonError};
pub use jcs::canonical_json;
pub use seal::SealedDraft;

/// Format version of the log's containers: block headers, checkpoints, receipts and exports.
/// Entries carry their own version ([`ENTRY_VERSION`]).
pub const FORMAT_VERSION: u8 = 1;

/// The version of every entry written: 2, which records the declarations the decision relied on.
pub const ENTRY_VERSION: u8 = 2;

/// The entry versions a reader accepts: 1 (DESIGN.md's entry) and 2.
pub const ENTRY_VERSIONS: std::ops::RangeInclusive<u8> = 1..=ENTRY_VERSION;

/// Integers above this are written by RFC 8785 as doubles, not as the integer.
const MAX_EXACT_INTEGER: u64 = (1 << 53) - 1;

/// Longest accepted encoding of one entry. Entries hold ids and digests only; anything larger is
/// a caller error, refused before it reaches the writer.
pub const MAX_ENTRY_BYTES: usize = 16 * 1024;

/// What was decided for the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The policy allowed the call and the model answered.
    Allow,
    /// The policy denied the call; the model did not run.
    Deny,
    /// The call was allowed but failed (inference error, timeout).
    Error,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Error => "error",
        }
    }
}

/// The model that answered (or would have): name, version and the SHA-256 of its ONNX file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelRef {
    pub name: String,
    pub version: String,
    pub sha256: Hash,
}

/// The facts the call was judged on, without any of its data.
///
/// `declared`, `input_bytes` and `pii_scan_complete` are members of entry version 2: all three
/// present in an entry of a judged call, all three absent in one of version 1 and in one that
/// records no judged call (an audit read). Absent is not `null`: an entry with `null` there is
/// not canonical.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryContext {
    /// The purpose the caller declared.
    pub purpose: Option<String>,
    /// The categories the rules saw (sorted): declared, detected, and the model's own.
    pub data_categories: Vec<String>,
    /// Kinds of personal data detected in the inputs (sorted), never the values.
    pub pii: Vec<String>,
    /// What the caller declared about the call, as the rules read it (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declared: Option<Declared>,
    /// The size of the request's inputs in bytes, as the rules read it (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_bytes: Option<u64>,
    /// Whether the scan for personal data read every text of the call (version 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii_scan_complete: Option<bool>,
}

impl EntryContext {
    /// Whether the members of version 2 are there: `Some(true)` all, `Some(false)` none, `None`
    /// some but not all.
    fn judged_members(&self) -> Option<bool> {
        match (
            self.declared.is_some(),
            self.input_bytes.is_some(),
            self.pii_scan_complete.is_some(),
        ) {
            (true, true, true) => Some(true),
            (false, false, false) => Some(false),
            _ => None,
        }
    }
}

/// The caller's declarations as the rules read them, defaults applied (a call that does not say
/// `commercial` is commercial; one that says nothing of consent has none). Members in RFC 8785
/// order, so that serde_json writes this struct canonically.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    /// The data categories the caller declared (sorted), before detection added any.
    pub categories: Vec<String>,
    /// Whether the use is commercial.
    pub commercial: bool,
    /// Whether the data subjects consented.
    pub consent: bool,
    /// Whether they gave the separate consent sensitive data needs (PIPL Art. 29).
    pub separate_consent: bool,
    /// The version of the terms of use the caller accepted, if it named one.
    pub terms_version: Option<String>,
}

/// One ledger entry: the fields of DESIGN.md's entry (all present, `null` where not applicable),
/// and in version 2 those [`EntryContext`] adds. Made only by [`EntryDraft::into_entry`] (its
/// lists sorted, version [`ENTRY_VERSION`]) or read by [`Entry::from_bytes`] (canonical bytes of
/// a version in [`ENTRY_VERSIONS`]); read through its accessors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    v: u8,
    seq: Seq,
    /// RFC 3339 UTC with microseconds, set by the ledger.
    time: String,
    request_id: Option<String>,
    caller: Option<CallerId>,
    credential: Option<CredentialId>,
    model: Option<ModelRef>,
    input: Option<Hash>,
    output: Option<Hash>,
    decision: Decision,
    rules: Vec<RuleId>,
    obligations: Vec<String>,
    context: EntryContext,
    policy: Option<Hash>,
}

/// What an appender supplies: an entry without `v`, `seq` and `time`, which the ledger sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDraft {
    pub request_id: Option<String>,
    pub caller: Option<CallerId>,
    pub credential: Option<CredentialId>,
    pub model: Option<ModelRef>,
    pub input: Option<Hash>,
    pub output: Option<Hash>,
    pub decision: Decision,
    pub rules: Vec<RuleId>,
    pub obligations: Vec<String>,
    pub context: EntryContext,
    pub policy: Option<Hash>,
}

impl EntryDraft {
    /// Completes the draft into the entry with the given `seq` and `time`. Lists are sorted and
    /// deduplicated so that equal facts give equal bytes.
    pub fn into_entry(self, seq: Seq, time: String) -> Entry {
        Entry {
            v: ENTRY_VERSION,
            seq,
            time,
            request_id: self.request_id,
            caller: self.caller,
            credential: self.credential,
            model: self.model,
            input: self.input,
            output: self.output,
            decision: self.decision,
            rules: sorted(self.rules),
            obligations: sorted(self.obligations),
            context: self.context.sorted(),
            policy: self.policy,
        }
    }
}

impl EntryContext {
    /// The context with its lists sorted and deduplicated.
    fn sorted(self) -> EntryContext {
        EntryContext {
            data_categories: sorted(self.data_categories),
            pii: sorted(self.pii),
            declared: self.declared.map(|d| Declared {
                categories: sorted(d.categories),
                ..d
            }),
            ..self
        }
    }
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v.dedup();
    v
}

impl Entry {
    /// The entry's version: one of [`ENTRY_VERSIONS`].
    pub fn version(&self) -> u8 {
        self.v
    }

    /// The entry's position in the log.
    pub fn seq(&self) -> Seq {
        self.seq
    }

    /// When its block was sealed: RFC 3339 UTC with microseconds.
    pub fn time(&self) -> &str {
        &self.time
    }

    /// The caller's request id, as it sent it.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    pub fn caller(&self) -> Option<&CallerId> {
        self.caller.as_ref()
    }

    /// The id of the key that authenticated the call (never the key).
    pub fn credential(&self) -> Option<&CredentialId> {
        self.credential.as_ref()
    }

    pub fn model(&self) -> Option<&ModelRef> {
        self.model.as_ref()
    }

    /// The commitment to the inputs.
    pub fn input(&self) -> Option<Hash> {
        self.input
    }

    /// The commitment to the outputs.
    pub fn output(&self) -> Option<Hash> {
        self.output
    }

    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The ids of the rules that decided, sorted.
    pub fn rules(&self) -> &[RuleId] {
        &self.rules
    }

    /// The obligations, sorted.
    pub fn obligations(&self) -> &[String] {
        &self.obligations
    }

    pub fn context(&self) -> &EntryContext {
        &self.context
    }

    /// The hash of the policy bundle in force.
    pub fn policy(&self) -> Option<Hash> {
        self.policy
    }

    /// The canonical (RFC 8785) bytes of the entry.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EntryError> {
        let bytes = serde_jcs::to_vec(self)?;
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        Ok(bytes)
    }

    /// Reads an entry, accepting only its canonical encoding.
    pub fn from_bytes(bytes: &[u8]) -> Result<Entry, EntryError> {
        if bytes.len() > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(bytes.len()));
        }
        let entry: Entry = serde_json::from_slice(bytes)?;
        entry.check_version()?;
        // The fast form first (a verifier reads millions of entries); the general RFC 8785
        // serialiser decides whenever the fast form does not apply or does not match.
        if entry.sorted_bytes().as_deref() != Some(bytes) && entry.to_bytes()? != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }
}

impl Entry {
    /// The version is one readers know, and the members are those of that version.
    fn check_version(&self) -> Result<(), EntryError> {
        if !ENTRY_VERSIONS.contains(&self.v) {
            return Err(EntryError::Version(self.v));
        }
        match (self.v, self.context.judged_members()) {
            (1, Some(false)) | (2, Some(_)) => {}
            _ => return Err(EntryError::Members(self.v)),
        }
        match self.context.input_bytes {
            Some(n) if n > MAX_EXACT_INTEGER => Err(EntryError::Unrepresentable(n)),
            _ => Ok(()),
        }
    }
}

/// The leaf hash of an entry's bytes: H(0x00 ‖ bytes).
pub fn entry_leaf(bytes: &[u8]) -> LeafHash {
    leaf_hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An id as a log may hold it: any string (ids are not judged again when read).
    pub(super) fn recorded<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_json::from_value(serde_json::Value::from(s)).unwrap()
    }

    pub(super) fn draft(rules: Vec<&str>, request_id: Option<&str>) -> EntryDraft {
        EntryDraft {
            request_id: request_id.map(str::to_string),
            caller: Some(recorded("c\u{e9}\"\n")),
            credential: None,
            model: Some(ModelRef {
                name: "m".into(),
                version: "1".into(),
                sha256: Hash::from_bytes([7; 32]),
            }),
            input: Some(Hash::from_bytes([1; 32])),
            output: None,
            decision: Decision::Deny,
            rules: rules.into_iter().map(recorded).collect(),
            obligations: vec!["b".into(), "a".into(), "a".into()],
            context: EntryContext {
                purpose: None,
                data_categories: vec!["z".into(), "health".into()],
                pii: vec![],
                declared: Some(Declared {
                    categories: vec!["z".into(), "health".into(), "z".into()],
                    commercial: true,
                    consent: false,
                    separate_consent: true,
                    terms_version: Some("2026-03".into()),
                }),
                input_bytes: Some(120),
                pii_scan_complete: Some(true),
            },
            policy: None,
        }
    }
}
