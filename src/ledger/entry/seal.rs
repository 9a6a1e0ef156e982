//! Sealing a draft (DESIGN.md "The ledger (format v1)", **Entry**; RFC 8785 §3.2.3 member
//! order): the appender serialises its entry but for the members that sort last, `seq`, `time`
//! and `v`, which the writer appends once it knows them; and the direct writer of an entry's
//! canonical bytes in RFC 8785 member order, which is held to the general serialiser.

use std::io::Write as _;

use serde::Serialize;

use super::{Decision, Declared, Entry, EntryDraft, EntryError, Hash, Seq};
use super::{ENTRY_VERSION, MAX_ENTRY_BYTES, MAX_EXACT_INTEGER};
use crate::ids::{CallerId, CredentialId, RuleId};

/// A draft serialised by its appender: the entry's canonical bytes but for its last three
/// members. RFC 8785 orders members by name and `seq`, `time` and `v` sort after all the others,
/// so the writer only appends `,"seq":N,"time":"T","v":2}` — the serialisation runs on the
/// appenders' threads, in parallel, instead of on the one writer thread.
#[derive(Debug, Clone)]
pub struct SealedDraft {
    pub(crate) draft: EntryDraft,
    head: Vec<u8>,
}

/// The members an appender serialises (all but `seq`, `time`, `v`), in RFC 8785 order (sorted by
/// name; all names are ASCII, so UTF-16 order is byte order). None of them is a number and
/// serde_json escapes strings exactly as RFC 8785 prescribes (the one number, `input_bytes`, is
/// an integer below 2^53, which both write alike), so serde_json's output of this
/// struct is the RFC 8785 form (see [`Entry::sorted_bytes`]) — without the general serialiser's
/// sorted maps, which were most of an append's cost on the appender.
#[derive(Serialize)]
struct Head<'a> {
    caller: &'a Option<CallerId>,
    context: SortedContext<'a>,
    credential: &'a Option<CredentialId>,
    decision: Decision,
    input: &'a Option<Hash>,
    model: Option<SortedModel<'a>>,
    obligations: &'a [String],
    output: &'a Option<Hash>,
    policy: &'a Option<Hash>,
    request_id: &'a Option<String>,
    rules: &'a [RuleId],
}

/// The [`Head`] of an [`Entry`] or an [`EntryDraft`] (they share these fields).
macro_rules! head_of {
    ($e:expr) => {
        Head {
            caller: &$e.caller,
            context: SortedContext {
                data_categories: &$e.context.data_categories,
                declared: &$e.context.declared,
                input_bytes: &$e.context.input_bytes,
                pii: &$e.context.pii,
                pii_scan_complete: &$e.context.pii_scan_complete,
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
/// `,"seq":N,"time":"T","v":V}`.
fn write_tail(bytes: &mut Vec<u8>, seq: Seq, time: &str, v: u8) {
    let _ = write!(bytes, ",\"seq\":{seq},\"time\":");
    // RFC 3339 as `format_time` writes it needs no escaping; an entry read from elsewhere may.
    let _ = serde_json::to_writer(&mut *bytes, time);
    let _ = write!(bytes, ",\"v\":{v}}}");
}

/// Room kept for `,"seq":…,"time":"…","v":2}`.
const TAIL_BYTES: usize = 80;

impl EntryDraft {
    /// Sorts the lists and serialises everything but `seq`, `time` and `v`. Refuses a draft
    /// that would not make an entry of version [`ENTRY_VERSION`]: some of the context's
    /// version-2 members without the others, or an input size above 2^53 − 1.
    pub fn seal(self) -> Result<SealedDraft, EntryError> {
        let draft = EntryDraft {
            rules: super::sorted(self.rules),
            obligations: super::sorted(self.obligations),
            context: self.context.sorted(),
            ..self
        };
        if draft.context.judged_members().is_none() {
            return Err(EntryError::Members(ENTRY_VERSION));
        }
        if let Some(n) = draft.context.input_bytes.filter(|n| *n > MAX_EXACT_INTEGER) {
            return Err(EntryError::Unrepresentable(n));
        }
        let mut head = serde_json::to_vec(&head_of!(draft))?;
        if head.len() + TAIL_BYTES > MAX_ENTRY_BYTES {
            return Err(EntryError::TooLarge(head.len() + TAIL_BYTES));
        }
        if head.pop() != Some(b'}') {
            return Err(EntryError::NotAnObject);
        }
        Ok(SealedDraft { draft, head })
    }
}

impl SealedDraft {
    /// The entry's canonical bytes with `seq` and `time`.
    pub fn finish(&self, seq: Seq, time: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.head.len() + TAIL_BYTES);
        bytes.extend_from_slice(&self.head);
        write_tail(&mut bytes, seq, time, ENTRY_VERSION);
        bytes
    }
}

impl Entry {
    /// The canonical bytes written directly, members in RFC 8785 order, when the general
    /// serialiser is not needed: every member name is ASCII (so UTF-16 order is byte order),
    /// strings are escaped as RFC 8785 §3.2.2.2 prescribes (serde_json escapes exactly `"`, `\`
    /// and the control characters, with `\b \t \n \f \r` and lowercase `\u00xx`), and the
    /// only numbers above 255 are `seq` and `input_bytes`, printed as integers — which RFC 8785
    /// also does below 2^53. `None` at or above 2^53, and for an entry whose members are not
    /// those of its version.
    pub(super) fn sorted_bytes(&self) -> Option<Vec<u8>> {
        if self.seq.get() > MAX_EXACT_INTEGER {
            return None;
        }
        if self.check_version().is_err() {
            return None;
        }
        let mut bytes = serde_json::to_vec(&head_of!(self)).ok()?;
        if bytes.pop() != Some(b'}') {
            return None;
        }
        write_tail(&mut bytes, self.seq, &self.time, self.v);
        Some(bytes)
    }
}

/// A member of version 2 an entry does not have is left out, not written `null`.
fn absent<T>(member: &&Option<T>) -> bool {
    member.is_none()
}

#[derive(Serialize)]
struct SortedContext<'a> {
    data_categories: &'a [String],
    #[serde(skip_serializing_if = "absent")]
    declared: &'a Option<Declared>,
    #[serde(skip_serializing_if = "absent")]
    input_bytes: &'a Option<u64>,
    pii: &'a [String],
    #[serde(skip_serializing_if = "absent")]
    pii_scan_complete: &'a Option<bool>,
    purpose: &'a Option<String>,
}

#[derive(Serialize)]
struct SortedModel<'a> {
    name: &'a str,
    sha256: &'a Hash,
    version: &'a str,
}

#[cfg(test)]
mod tests {
    use super::super::tests::{draft, recorded};
    use super::super::ModelRef;
    use super::*;

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
            d.caller = Some(recorded(s));
            d.context.purpose = Some(s.to_string());
            d.context.pii = vec![s.to_string()];
            d.model = Some(ModelRef {
                name: s.to_string(),
                version: s.to_string(),
                sha256: Hash::from_bytes([i as u8; 32]),
            });
            for seq in [0u64, 255, 256, (1 << 53) - 1] {
                let e = d
                    .clone()
                    .into_entry(Seq::new(seq), "2026-11-29T10:04:43.000001Z".into());
                let jcs = e.to_bytes().unwrap();
                assert_eq!(e.sorted_bytes().unwrap(), jcs, "{s:?} {seq}");
                assert_eq!(Entry::from_bytes(&jcs).unwrap(), e);
            }
            let mut e = d.into_entry(Seq::new(1 << 53), "2026-11-29T10:04:43.000001Z".into());
            assert!(e.sorted_bytes().is_none());
            e.model = None;
            let mut bytes = e.to_bytes().unwrap();
            assert!(Entry::from_bytes(&bytes).is_ok());
            bytes.insert(1, b' ');
            assert_eq!(Entry::from_bytes(&bytes), Err(EntryError::NotCanonical));
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
                d.caller = Some(recorded(s));
                d.context.purpose = Some(s.to_string());
                d.context.pii = vec![s.to_string(), "a".into()];
                d.model = Some(ModelRef {
                    name: s.to_string(),
                    version: s.to_string(),
                    sha256: Hash::from_bytes([7; 32]),
                });
            }
            for (seq, time) in [
                (0u64, "2026-11-29T10:04:43.000000Z"),
                (9_007_199_254_740_991, "1970-01-01T00:00:00.123456Z"),
            ] {
                let spliced = d.clone().seal().unwrap().finish(Seq::new(seq), time);
                let whole = d
                    .clone()
                    .into_entry(Seq::new(seq), time.to_string())
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
