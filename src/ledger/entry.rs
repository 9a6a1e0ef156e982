//! Ledger entries (format v1): one per call, serialised with the JSON Canonicalization Scheme
//! (RFC 8785). Those exact bytes are hashed (leaf = H(0x00 ‖ bytes)), stored and shipped; a reader
//! accepts an entry only if re-serialising it gives the same bytes, so one entry has one encoding.
//!
//! Entries hold commitments to the inputs and outputs, never the data: `input` = H(nonce ‖
//! JCS(inputs)), `output` = H(nonce ‖ JCS(outputs)), with a per-call random nonce that only the
//! caller receives.

use serde::{Deserialize, Serialize};

use super::hash::{leaf_hash, Hash};

/// Format version written in every entry and block header.
pub const FORMAT_VERSION: u8 = 1;

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
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryContext {
    /// The purpose the caller declared.
    pub purpose: Option<String>,
    /// Data categories declared or detected (sorted).
    pub data_categories: Vec<String>,
    /// Kinds of personal data detected in the inputs (sorted), never the values.
    pub pii: Vec<String>,
}

/// One ledger entry, exactly the fields of format v1 (all present, `null` where not applicable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub v: u8,
    pub seq: u64,
    /// RFC 3339 UTC with microseconds, set by the ledger.
    pub time: String,
    pub request_id: Option<String>,
    pub caller: Option<String>,
    pub credential: Option<String>,
    pub model: Option<ModelRef>,
    pub input: Option<Hash>,
    pub output: Option<Hash>,
    pub decision: Decision,
    pub rules: Vec<String>,
    pub obligations: Vec<String>,
    pub context: EntryContext,
    pub policy: Option<Hash>,
}

/// What an appender supplies: an entry without `v`, `seq` and `time`, which the ledger sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryDraft {
    pub request_id: Option<String>,
    pub caller: Option<String>,
    pub credential: Option<String>,
    pub model: Option<ModelRef>,
    pub input: Option<Hash>,
    pub output: Option<Hash>,
    pub decision: Decision,
    pub rules: Vec<String>,
    pub obligations: Vec<String>,
    pub context: EntryContext,
    pub policy: Option<Hash>,
}

/// An entry that cannot be read as a canonical format-v1 entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is {0} bytes, more than the {MAX_ENTRY_BYTES} allowed")]
    TooLarge(usize),
    #[error("entry is not a format-v1 entry: {0}")]
    Malformed(String),
    #[error("entry bytes are not in canonical (RFC 8785) form")]
    NotCanonical,
    #[error("entry has format version {0}, expected {FORMAT_VERSION}")]
    Version(u8),
}

impl EntryDraft {
    /// Completes the draft into the entry with the given `seq` and `time`. Lists are sorted and
    /// deduplicated so that equal facts give equal bytes.
    pub fn into_entry(self, seq: u64, time: String) -> Entry {
        Entry {
            v: FORMAT_VERSION,
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
            context: EntryContext {
                purpose: self.context.purpose,
                data_categories: sorted(self.context.data_categories),
                pii: sorted(self.context.pii),
            },
            policy: self.policy,
        }
    }
}

/// A draft serialised by its appender: the entry's canonical bytes but for its last three
/// members. RFC 8785 orders members by name and `seq`, `time` and `v` sort after all the others,
/// so the writer only appends `,"seq":N,"time":"T","v":1}` — the serialisation runs on the
/// appenders' threads, in parallel, instead of on the one writer thread.
#[derive(Debug, Clone)]
pub struct SealedDraft {
    pub(crate) draft: EntryDraft,
    head: Vec<u8>,
}

/// The members an appender serialises (all but `seq`, `time`, `v`), named as in [`Entry`].
#[derive(Serialize)]
struct Head<'a> {
    request_id: &'a Option<String>,
    caller: &'a Option<String>,
    credential: &'a Option<String>,
    model: &'a Option<ModelRef>,
    input: &'a Option<Hash>,
    output: &'a Option<Hash>,
    decision: Decision,
    rules: &'a [String],
    obligations: &'a [String],
    context: &'a EntryContext,
    policy: &'a Option<Hash>,
}

/// Room kept for `,"seq":…,"time":"…","v":1}`.
const TAIL_BYTES: usize = 80;

impl EntryDraft {
    /// Sorts the lists and serialises everything but `seq`, `time` and `v`.
    pub fn seal(self) -> Result<SealedDraft, EntryError> {
        let draft = EntryDraft {
            rules: sorted(self.rules),
            obligations: sorted(self.obligations),
            context: EntryContext {
                purpose: self.context.purpose,
                data_categories: sorted(self.context.data_categories),
                pii: sorted(self.context.pii),
            },
            ..self
        };
        let mut head = serde_jcs::to_vec(&Head {
            request_id: &draft.request_id,
            caller: &draft.caller,
            credential: &draft.credential,
            model: &draft.model,
            input: &draft.input,
            output: &draft.output,
            decision: draft.decision,
            rules: &draft.rules,
            obligations: &draft.obligations,
            context: &draft.context,
            policy: &draft.policy,
        })
        .map_err(|e| EntryError::Malformed(e.to_string()))?;
        if head.len() + TAIL_BYTES > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(head.len() + TAIL_BYTES));
        }
        if head.pop() != Some(b'}') {
            return Err(EntryError::Malformed(
                "a JSON object must end with '}'".into(),
            ));
        }
        Ok(SealedDraft { draft, head })
    }
}

impl SealedDraft {
    /// The entry's canonical bytes with `seq` and `time` (RFC 3339 as `format_time` writes it:
    /// digits, `-`, `:`, `.`, `T`, `Z`, nothing that needs escaping).
    pub fn finish(&self, seq: u64, time: &str) -> Vec<u8> {
        use std::io::Write as _;
        let mut bytes = Vec::with_capacity(self.head.len() + TAIL_BYTES);
        bytes.extend_from_slice(&self.head);
        let _ = write!(
            bytes,
            ",\"seq\":{seq},\"time\":\"{time}\",\"v\":{FORMAT_VERSION}}}"
        );
        bytes
    }
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

impl Entry {
    /// The canonical (RFC 8785) bytes of the entry.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EntryError> {
        let bytes = serde_jcs::to_vec(self).map_err(|e| EntryError::Malformed(e.to_string()))?;
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
        let entry: Entry =
            serde_json::from_slice(bytes).map_err(|e| EntryError::Malformed(e.to_string()))?;
        if entry.v != FORMAT_VERSION {
            return Err(EntryError::Version(entry.v));
        }
        if entry.to_bytes()? != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }
}

/// The leaf hash of an entry's bytes: H(0x00 ‖ bytes).
pub fn entry_leaf(bytes: &[u8]) -> Hash {
    leaf_hash(bytes)
}

/// A commitment under a nonce: H(nonce ‖ parts…). The server commits to JCS(request `inputs`)
/// (followed, for a binary-extension body, by its binary part) and to JCS(response `outputs`);
/// the caller opens them with its nonce. Server and verifier both compute it here.
pub fn commit_parts(nonce: &[u8; 32], parts: &[&[u8]]) -> Hash {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(nonce);
    for p in parts {
        h.update(p);
    }
    Hash(h.finalize().into())
}

/// A commitment to a JSON value: H(nonce ‖ JCS(value)).
pub fn commit(nonce: &[u8; 32], value: &serde_json::Value) -> Result<Hash, EntryError> {
    let bytes = serde_jcs::to_vec(value).map_err(|e| EntryError::Malformed(e.to_string()))?;
    Ok(commit_parts(nonce, &[&bytes]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(rules: Vec<&str>, request_id: Option<&str>) -> EntryDraft {
        EntryDraft {
            request_id: request_id.map(str::to_string),
            caller: Some("c\u{e9}\"\n".into()),
            credential: None,
            model: Some(ModelRef {
                name: "m".into(),
                version: "1".into(),
                sha256: Hash([7; 32]),
            }),
            input: Some(Hash([1; 32])),
            output: None,
            decision: Decision::Deny,
            rules: rules.into_iter().map(str::to_string).collect(),
            obligations: vec!["b".into(), "a".into(), "a".into()],
            context: EntryContext {
                purpose: None,
                data_categories: vec!["z".into(), "health".into()],
                pii: vec![],
            },
            policy: None,
        }
    }

    #[test]
    fn a_sealed_draft_finishes_to_the_entrys_canonical_bytes() {
        for (rules, id) in [
            (vec![], None),
            (vec!["x.b", "x.a"], Some("r-\u{1F600}")),
            (vec!["only"], Some("")),
        ] {
            let d = draft(rules, id);
            for (seq, time) in [
                (0u64, "2026-11-29T10:04:43.000000Z"),
                (9_007_199_254_740_991, "1970-01-01T00:00:00.123456Z"),
            ] {
                let spliced = d.clone().seal().unwrap().finish(seq, time);
                let whole = d
                    .clone()
                    .into_entry(seq, time.to_string())
                    .to_bytes()
                    .unwrap();
                assert_eq!(
                    String::from_utf8(spliced.clone()).unwrap(),
                    String::from_utf8(whole).unwrap()
                );
                Entry::from_bytes(&spliced).unwrap();
            }
        }
    }
}
