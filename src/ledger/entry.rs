//! Ledger entries (format v1): one per call, serialised with the JSON Canonicalization Scheme
//! (RFC 8785). Those exact bytes are hashed (leaf = H(0x00 ‖ bytes)), stored and shipped; a reader
//! accepts an entry only if re-serialising it gives the same bytes, so one entry has one encoding.
//!
//! Entries hold commitments to the inputs and outputs, never the data: `input` = H(nonce ‖
//! JCS(inputs)), `output` = H(nonce ‖ JCS(outputs)), with a per-call random nonce that only the
//! caller receives.

use std::borrow::Cow;
use std::io::Write as _;

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

/// The members an appender serialises (all but `seq`, `time`, `v`), in RFC 8785 order (sorted by
/// name; all names are ASCII, so UTF-16 order is byte order). None of them is a number and
/// serde_json escapes strings exactly as RFC 8785 prescribes, so serde_json's output of this
/// struct is the RFC 8785 form (see [`Entry::sorted_bytes`]) — without the general serialiser's
/// sorted maps, which were most of an append's cost on the appender.
#[derive(Serialize)]
struct Head<'a> {
    caller: &'a Option<String>,
    context: SortedContext<'a>,
    credential: &'a Option<String>,
    decision: Decision,
    input: &'a Option<Hash>,
    model: Option<SortedModel<'a>>,
    obligations: &'a [String],
    output: &'a Option<Hash>,
    policy: &'a Option<Hash>,
    request_id: &'a Option<String>,
    rules: &'a [String],
}

/// The [`Head`] of an [`Entry`] or an [`EntryDraft`] (they share these fields).
macro_rules! head_of {
    ($e:expr) => {
        Head {
            caller: &$e.caller,
            context: SortedContext {
                data_categories: &$e.context.data_categories,
                pii: &$e.context.pii,
                purpose: &$e.context.purpose,
            },
            credential: &$e.credential,
            decision: $e.decision,
            input: &$e.input,
            model: $e.model.as_ref().map(|m| SortedModel {
                name: &m.name,
                sha256: &m.sha256,
                version: &m.version,
            }),
            obligations: &$e.obligations,
            output: &$e.output,
            policy: &$e.policy,
            request_id: &$e.request_id,
            rules: &$e.rules,
        }
    };
}

/// Completes a head (serialised, without its closing `}`) with the members that sort last:
/// `,"seq":N,"time":"T","v":1}`.
fn write_tail(bytes: &mut Vec<u8>, seq: u64, time: &str) {
    let _ = write!(bytes, ",\"seq\":{seq},\"time\":");
    // RFC 3339 as `format_time` writes it needs no escaping; an entry read from elsewhere may.
    let _ = serde_json::to_writer(&mut *bytes, time);
    let _ = write!(bytes, ",\"v\":{FORMAT_VERSION}}}");
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
        let mut head = serde_json::to_vec(&head_of!(draft))
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
    /// The entry's canonical bytes with `seq` and `time`.
    pub fn finish(&self, seq: u64, time: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.head.len() + TAIL_BYTES);
        bytes.extend_from_slice(&self.head);
        write_tail(&mut bytes, seq, time);
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
        // The fast form first (a verifier reads millions of entries); the general RFC 8785
        // serialiser decides whenever the fast form does not apply or does not match.
        if entry.sorted_bytes().as_deref() != Some(bytes) && entry.to_bytes()? != bytes {
            return Err(EntryError::NotCanonical);
        }
        Ok(entry)
    }

    /// The canonical bytes written directly, members in RFC 8785 order, when the general
    /// serialiser is not needed: every member name is ASCII (so UTF-16 order is byte order),
    /// strings are escaped as RFC 8785 §3.2.2.2 prescribes (serde_json escapes exactly `"`, `\`
    /// and the control characters, with `\b \t \n \f \r` and lowercase `\u00xx`), and the
    /// only number above 255 is `seq`, printed as an integer — which RFC 8785 also does below
    /// 2^53. `None` at or above 2^53.
    fn sorted_bytes(&self) -> Option<Vec<u8>> {
        if self.seq >= 1 << 53 {
            return None;
        }
        if self.v != FORMAT_VERSION {
            return None;
        }
        let mut bytes = serde_json::to_vec(&head_of!(self)).ok()?;
        if bytes.pop() != Some(b'}') {
            return None;
        }
        write_tail(&mut bytes, self.seq, &self.time);
        Some(bytes)
    }
}

/// The `seq` and `time` of an entry read with [`read_canonical`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryFacts<'a> {
    pub seq: u64,
    pub time: Cow<'a, str>,
}

/// Reads an entry that must be canonical, as [`Entry::from_bytes`] does — the same entries are
/// accepted and refused with the same errors — returning only what a verifier checks against
/// the block. The fast way first: the members are read into a view that borrows the input's
/// strings, and the view, written in RFC 8785 member order (as [`Entry::sorted_bytes`] writes an
/// entry), is compared with the input as it is written, without a buffer. Whenever that does not
/// apply or does not match, [`Entry::from_bytes`] decides.
pub(crate) fn read_canonical(bytes: &[u8]) -> Result<EntryFacts<'_>, EntryError> {
    if let Some(facts) = read_sorted(bytes) {
        return Ok(facts);
    }
    let entry = Entry::from_bytes(bytes)?;
    Ok(EntryFacts {
        seq: entry.seq,
        time: Cow::Owned(entry.time),
    })
}

/// The fast way of [`read_canonical`]: `Some` only if the bytes are the sorted form of an entry
/// that [`Entry::from_bytes`] accepts. Reading the view accepts exactly the JSON that reading an
/// [`Entry`] accepts (same members, types and digest rules; strings borrowed or, with escapes,
/// copied), and a view writes the bytes its [`Entry`] writes with [`Entry::sorted_bytes`].
fn read_sorted(bytes: &[u8]) -> Option<EntryFacts<'_>> {
    if bytes.len() > MAX_ENTRY_BYTES {
        return None;
    }
    let view: EntryView<'_> = serde_json::from_slice(bytes).ok()?;
    if view.v != FORMAT_VERSION || view.seq >= 1 << 53 {
        return None;
    }
    if !view.written_as(bytes) {
        return None;
    }
    Some(EntryFacts {
        seq: view.seq,
        time: view.time.0,
    })
}

/// A writer that only checks that what is written is the next part of `rest`.
struct Same<'a> {
    rest: &'a [u8],
}

impl Same<'_> {
    // Through the `io::Write` below, which compares what is written with what is left.
    fn lit(&mut self, b: &[u8]) -> bool {
        self.write_all(b).is_ok()
    }

    /// A string as serde_json writes it. One read without escapes holds no `"`, `\` or control
    /// character (the reader refuses those raw), the only characters serde_json escapes: it is
    /// written as it is.
    fn str(&mut self, s: &Str<'_>) -> bool {
        match &s.0 {
            Cow::Borrowed(s) => self.lit(b"\"") && self.lit(s.as_bytes()) && self.lit(b"\""),
            Cow::Owned(s) => serde_json::to_writer(&mut *self, s).is_ok(),
        }
    }

    fn opt_str(&mut self, s: &Option<Str<'_>>) -> bool {
        match s {
            None => self.lit(b"null"),
            Some(s) => self.str(s),
        }
    }

    fn strs(&mut self, v: &[Str<'_>]) -> bool {
        if !self.lit(b"[") {
            return false;
        }
        for (i, s) in v.iter().enumerate() {
            if (i > 0 && !self.lit(b",")) || !self.str(s) {
                return false;
            }
        }
        self.lit(b"]")
    }

    fn opt_hex(&mut self, h: &Option<HexStr<'_>>) -> bool {
        match h {
            None => self.lit(b"null"),
            Some(h) => self.lit(b"\"") && self.lit(h.0.as_bytes()) && self.lit(b"\""),
        }
    }

    /// An integer in decimal, as serde_json writes integers.
    fn int(&mut self, n: u64) -> bool {
        write!(self, "{n}").is_ok()
    }
}

impl EntryView<'_> {
    /// Whether `bytes` are exactly what serde_json writes for this view (members in declaration
    /// order, which is RFC 8785 order), compared piece by piece without writing them.
    fn written_as(&self, bytes: &[u8]) -> bool {
        let mut w = Same { rest: bytes };
        let c = &self.context;
        let model = |w: &mut Same<'_>| match &self.model {
            None => w.lit(b"null"),
            Some(m) => {
                w.lit(br#"{"name":"#)
                    && w.str(&m.name)
                    && w.lit(br#","sha256":"#)
                    && w.opt_hex(&Some(HexStr(m.sha256.0)))
                    && w.lit(br#","version":"#)
                    && w.str(&m.version)
                    && w.lit(b"}")
            }
        };
        w.lit(br#"{"caller":"#)
            && w.opt_str(&self.caller)
            && w.lit(br#","context":{"data_categories":"#)
            && w.strs(&c.data_categories)
            && w.lit(br#","pii":"#)
            && w.strs(&c.pii)
            && w.lit(br#","purpose":"#)
            && w.opt_str(&c.purpose)
            && w.lit(br#"},"credential":"#)
            && w.opt_str(&self.credential)
            && w.lit(br#","decision":""#)
            && w.lit(self.decision.as_str().as_bytes())
            && w.lit(br#"","input":"#)
            && w.opt_hex(&self.input)
            && w.lit(br#","model":"#)
            && model(&mut w)
            && w.lit(br#","obligations":"#)
            && w.strs(&self.obligations)
            && w.lit(br#","output":"#)
            && w.opt_hex(&self.output)
            && w.lit(br#","policy":"#)
            && w.opt_hex(&self.policy)
            && w.lit(br#","request_id":"#)
            && w.opt_str(&self.request_id)
            && w.lit(br#","rules":"#)
            && w.strs(&self.rules)
            && w.lit(br#","seq":"#)
            && w.int(self.seq)
            && w.lit(br#","time":"#)
            && w.str(&self.time)
            && w.lit(br#","v":"#)
            && w.int(u64::from(self.v))
            && w.lit(b"}")
            && w.rest.is_empty()
    }
}

impl std::io::Write for Same<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self.rest.strip_prefix(buf) {
            Some(rest) => {
                self.rest = rest;
                Ok(buf.len())
            }
            // A plain error kind: nothing is allocated for a mismatch.
            None => Err(std::io::ErrorKind::InvalidData.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A JSON string, borrowed from the input unless it had escapes.
struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Str<'a>, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Str<'a>, E> {
                Ok(Str(Cow::Owned(s.to_string())))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl Serialize for Str<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A digest as [`EntryView`] reads it: the 64 lowercase hex digits [`Hash::from_hex`] accepts,
/// left as they are (written back as they were read, which is how a [`Hash`] writes itself). A
/// digest with an escape is refused: its canonical form has none, so the input is not canonical
/// and [`Entry::from_bytes`] decides.
#[derive(Clone, Copy)]
struct HexStr<'a>(&'a str);

impl<'de: 'a, 'a> Deserialize<'de> for HexStr<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<HexStr<'a>, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = HexStr<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("64 lowercase hex digits")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<HexStr<'a>, E> {
                let hex = |b: u8| b.is_ascii_digit() | (b'a'..=b'f').contains(&b);
                if s.len() == 64 && s.bytes().fold(true, |ok, b| ok & hex(b)) {
                    Ok(HexStr(s))
                } else {
                    Err(E::custom("not a digest"))
                }
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

impl Serialize for HexStr<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

/// [`Entry`] borrowing its strings, members declared in RFC 8785 order (that of
/// [`Head`] and then `seq`, `time`, `v`), read with the same rules as [`Entry`].
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct EntryView<'a> {
    #[serde(borrow)]
    caller: Option<Str<'a>>,
    #[serde(borrow)]
    context: ContextView<'a>,
    #[serde(borrow)]
    credential: Option<Str<'a>>,
    decision: Decision,
    #[serde(borrow)]
    input: Option<HexStr<'a>>,
    #[serde(borrow)]
    model: Option<ModelView<'a>>,
    #[serde(borrow)]
    obligations: Vec<Str<'a>>,
    #[serde(borrow)]
    output: Option<HexStr<'a>>,
    #[serde(borrow)]
    policy: Option<HexStr<'a>>,
    #[serde(borrow)]
    request_id: Option<Str<'a>>,
    #[serde(borrow)]
    rules: Vec<Str<'a>>,
    seq: u64,
    #[serde(borrow)]
    time: Str<'a>,
    v: u8,
}

/// [`EntryContext`] as [`EntryView`] reads it.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ContextView<'a> {
    #[serde(borrow)]
    data_categories: Vec<Str<'a>>,
    #[serde(borrow)]
    pii: Vec<Str<'a>>,
    #[serde(borrow)]
    purpose: Option<Str<'a>>,
}

/// [`ModelRef`] as [`EntryView`] reads it.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ModelView<'a> {
    #[serde(borrow)]
    name: Str<'a>,
    #[serde(borrow)]
    sha256: HexStr<'a>,
    #[serde(borrow)]
    version: Str<'a>,
}

#[derive(Serialize)]
struct SortedContext<'a> {
    data_categories: &'a [String],
    pii: &'a [String],
    purpose: &'a Option<String>,
}

#[derive(Serialize)]
struct SortedModel<'a> {
    name: &'a str,
    sha256: &'a Hash,
    version: &'a str,
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
    let bytes = canonical_json(value)?;
    Ok(commit_parts(nonce, &[&bytes]))
}

/// The RFC 8785 bytes of a JSON value, written straight from the tree: members sorted by their
/// UTF-16 code units, numbers as ECMAScript prints the double, strings escaped as RFC 8785 says
/// (which is how `serde_json` escapes them). The same bytes as the general JCS serialiser, which
/// a property test holds it to; this one skips that serialiser's per-write boxing and re-parsing
/// of every key, which made it the largest cost of a call's commitments.
pub fn canonical_json(value: &serde_json::Value) -> Result<Vec<u8>, EntryError> {
    let mut out = Vec::with_capacity(128);
    write_canonical(value, &mut out)?;
    Ok(out)
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) -> Result<(), EntryError> {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            let f = n.as_f64().filter(|f| f.is_finite()).ok_or_else(|| {
                EntryError::Malformed(format!("the number {n} is not a finite double"))
            })?;
            out.extend_from_slice(ryu_js::Buffer::new().format_finite(f).as_bytes());
        }
        Value::String(s) => write_string(s, out)?,
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            out.push(b'{');
            for (i, (key, item)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out)?;
                out.push(b':');
                write_canonical(item, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) -> Result<(), EntryError> {
    serde_json::to_writer(&mut *out, s).map_err(|e| EntryError::Malformed(e.to_string()))
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
    fn the_fast_sorted_form_is_the_rfc8785_form() {
        let strings = [
            "plain",
            "",
            "quote \" backslash \\ slash /",
            "controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} del \u{7f}",
            "unicode \u{e9} \u{2028} \u{2029} \u{fffd} \u{1F600}",
        ];
        for (i, s) in strings.iter().enumerate() {
            let mut d = draft(vec![s, "z"], Some(s));
            d.caller = Some(s.to_string());
            d.context.purpose = Some(s.to_string());
            d.context.pii = vec![s.to_string()];
            d.model = Some(ModelRef {
                name: s.to_string(),
                version: s.to_string(),
                sha256: Hash([i as u8; 32]),
            });
            for seq in [0u64, 255, 256, (1 << 53) - 1] {
                let e = d
                    .clone()
                    .into_entry(seq, "2026-11-29T10:04:43.000001Z".into());
                let jcs = e.to_bytes().unwrap();
                assert_eq!(e.sorted_bytes().unwrap(), jcs, "{s:?} {seq}");
                assert_eq!(Entry::from_bytes(&jcs).unwrap(), e);
            }
            let mut e = d.into_entry(1 << 53, "2026-11-29T10:04:43.000001Z".into());
            assert!(e.sorted_bytes().is_none());
            e.model = None;
            let mut bytes = e.to_bytes().unwrap();
            assert!(Entry::from_bytes(&bytes).is_ok());
            bytes.insert(1, b' ');
            assert_eq!(Entry::from_bytes(&bytes), Err(EntryError::NotCanonical));
        }
    }

    /// [`read_canonical`] against [`Entry::from_bytes`]: the same verdict and error, and the
    /// same seq and time.
    fn same_as_slow(bytes: &[u8]) -> bool {
        // The piecewise comparison says what comparing with serde_json's writing of the view
        // says.
        if let Ok(view) = serde_json::from_slice::<EntryView<'_>>(bytes) {
            let written = serde_json::to_vec(&view).unwrap();
            assert_eq!(view.written_as(bytes), written == bytes);
        }
        let fast = read_canonical(bytes);
        let slow = Entry::from_bytes(bytes);
        match (&fast, &slow) {
            (Ok(f), Ok(e)) => assert_eq!((f.seq, &*f.time), (e.seq, e.time.as_str())),
            (Err(f), Err(e)) => assert_eq!(f, e),
            _ => panic!(
                "{:?}: fast {fast:?}, slow {slow:?}",
                String::from_utf8_lossy(bytes)
            ),
        }
        slow.is_ok()
    }

    #[test]
    fn reading_through_the_borrowed_view_decides_as_the_full_reader_does() {
        let strings = [
            "plain",
            "",
            "quote \" backslash \\ slash /",
            "controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} del \u{7f}",
            "unicode \u{e9} \u{2028} \u{2029} \u{fffd} \u{1F600}",
        ];
        let time = "2026-11-29T10:04:43.000001Z";
        let mut canonical = 0;
        for (i, s) in strings.iter().enumerate() {
            let mut d = draft(vec![s, "z"], Some(s));
            d.caller = Some(s.to_string());
            d.credential = Some(s.to_string());
            d.context.purpose = Some(s.to_string());
            d.context.pii = vec![s.to_string()];
            d.context.data_categories = vec![s.to_string(), "~".into()];
            d.model = Some(ModelRef {
                name: s.to_string(),
                version: s.to_string(),
                sha256: Hash([i as u8; 32]),
            });
            for seq in [0u64, 255, 256, (1 << 53) - 1, 1 << 53, u64::MAX] {
                let bytes = d.clone().into_entry(seq, time.into()).to_bytes().unwrap();
                // Above 2^53 the general serialiser writes `seq` as a double; whatever it
                // decides, both ways decide the same.
                assert!(same_as_slow(&bytes) || seq > 1 << 53, "{s:?} {seq}");
                // The fast way takes every canonical entry below 2^53.
                assert_eq!(read_sorted(&bytes).is_some(), seq < 1 << 53, "{s:?} {seq}");
                canonical += 1;
                let text = String::from_utf8(bytes.clone()).unwrap();
                let hex = Hash([i as u8; 32]).to_hex();
                let mutants = [
                    text.replacen('{', "{ ", 1),
                    text.replacen("\"caller\"", "\"c\\u0061ller\"", 1),
                    text.replacen(&hex, &hex.to_uppercase(), 1),
                    text.replacen("\"v\":1", "\"v\":2", 1),
                    text.replacen("\"v\":1", "\"v\":1.0", 1),
                    text.replacen("\"v\":1}", "\"v\":1,\"x\":0}", 1),
                    text.replacen("\"v\":1}", "\"v\":1,\"v\":1}", 1),
                    text.replacen(",\"v\":1", "", 1),
                    text.replacen("\"policy\":null", "\"policy\":\"\"", 1),
                    text.replacen("\"decision\":\"deny\"", "\"decision\":\"Deny\"", 1),
                    text.replacen("\\\"", "\\u0022", 1),
                    text.replacen("\\n", "\\u000a", 1),
                    text.replacen("\\u001f", "\\u001F", 1),
                    text.replacen('/', "\\/", 1),
                    text.replacen("\u{e9}", "\\u00e9", 1),
                    text.replacen("\u{1F600}", "\\ud83d\\ude00", 1),
                    // Members out of order: `time` before `seq`.
                    text.replacen(
                        &format!("\"seq\":{seq},\"time\":\"{time}\""),
                        &format!("\"time\":\"{time}\",\"seq\":{seq}"),
                        1,
                    ),
                    text.replacen(&format!("\"seq\":{seq}"), &format!("\"seq\":{seq}.0"), 1),
                    text.replacen(&format!("\"seq\":{seq}"), "\"seq\":-1", 1),
                    format!("{text} "),
                    text[..text.len() - 1].to_string(),
                    format!("{}{}", text, " ".repeat(MAX_ENTRY_BYTES)),
                ];
                for m in mutants.iter().filter(|m| **m != text) {
                    assert!(!same_as_slow(m.as_bytes()) || seq >= 1 << 53, "{m}");
                    assert!(read_sorted(m.as_bytes()).is_none(), "{m}");
                }
                let mut bad = bytes.clone();
                bad[10] = 0xff;
                same_as_slow(&bad);
            }
        }
        assert_eq!(canonical, strings.len() * 6);
        for junk in [&b""[..], b"null", b"[]", b"{}", b"\"x\"", b"{\"v\":1}"] {
            assert!(!same_as_slow(junk));
        }
    }

    #[test]
    fn a_sealed_draft_finishes_to_the_entrys_canonical_bytes() {
        for (rules, id) in [
            (vec![], None),
            (vec!["x.b", "x.a"], Some("r-\u{1F600}")),
            (vec!["only"], Some("")),
            (vec!["z", "a", "z"], Some("quote \" backslash \\ slash /")),
            (
                vec!["\u{e9}", "e"],
                Some("controls \u{0}\u{1}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}\u{1f} \u{7f}"),
            ),
            (vec![], Some("unicode \u{2028} \u{2029} \u{fffd}")),
        ] {
            let mut d = draft(rules, id);
            if let Some(s) = id {
                d.caller = Some(s.to_string());
                d.context.purpose = Some(s.to_string());
                d.context.pii = vec![s.to_string(), "a".into()];
                d.model = Some(ModelRef {
                    name: s.to_string(),
                    version: s.to_string(),
                    sha256: Hash([7; 32]),
                });
            }
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

    mod canonical_json {
        use proptest::prelude::*;
        use serde_json::{json, Value};

        fn values() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(Value::from),
                any::<f32>()
                    .prop_filter("finite", |f| f.is_finite())
                    .prop_map(|f| Value::from(f64::from(f))),
                // Control characters, quotes, backslashes, non-ASCII and astral code points.
                "[\\x00-\\x1f\"\\\\/a-z\u{7f}\u{e9}\u{2028}\u{fffd}\u{1f600}]{0,8}"
                    .prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 48, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                    prop::collection::btree_map(
                        "[a-zA-Z\u{e9}\u{ff61}\u{1f600}\u{10000}_]{0,4}",
                        inner,
                        0..6
                    )
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn gives_the_bytes_of_the_general_serialiser(v in values()) {
                let general = serde_jcs::to_vec(&v).unwrap();
                prop_assert_eq!(
                    String::from_utf8(super::super::canonical_json(&v).unwrap()).unwrap(),
                    String::from_utf8(general).unwrap()
                );
            }
        }

        #[test]
        fn known_answers() {
            // RFC 8785 §3.2.3's sorting example: keys ordered by UTF-16 code units, so U+1F600
            // (a surrogate pair, 0xD83D…) sorts before U+FB33.
            let v = json!({"\u{20ac}": "Euro Sign", "\r": "Carriage Return", "\u{fb33}": "Hebrew Letter Dalet With Dagesh", "1": "One", "\u{1f600}": "Emoji: Grinning Face", "\u{80}": "Control", "\u{f6}": "Latin Small Letter O With Diaeresis"});
            let text = String::from_utf8(super::super::canonical_json(&v).unwrap()).unwrap();
            assert_eq!(
                text,
                "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{f6}\":\"Latin Small Letter O With Diaeresis\",\"\u{20ac}\":\"Euro Sign\",\"\u{1f600}\":\"Emoji: Grinning Face\",\"\u{fb33}\":\"Hebrew Letter Dalet With Dagesh\"}"
            );
            // Numbers as ECMAScript prints the double.
            let n = json!([
                1e21,
                1e-7,
                0.000001,
                -0.0,
                9007199254740993u64,
                1.5e300,
                333333333.3333333
            ]);
            assert_eq!(
                String::from_utf8(super::super::canonical_json(&n).unwrap()).unwrap(),
                "[1e+21,1e-7,0.000001,0,9007199254740992,1.5e+300,333333333.3333333]"
            );
        }
    }
}
