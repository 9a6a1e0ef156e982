//! The canonical-form check a verifier runs on every entry (DESIGN.md "The ledger (format v1)",
//! **Entry**: one entry, one encoding; RFC 8785): the entry is read into a view that borrows the
//! input's strings, and the view, written in RFC 8785 member order, is compared with the input
//! piece by piece, without a buffer. Whenever that does not apply or does not match,
//! [`Entry::from_bytes`] decides, so both accept and refuse the same bytes with the same errors.

use std::borrow::Cow;
use std::io::Write as _;

use serde::{Deserialize, Serialize};

use super::{Decision, Entry, EntryError, Seq, ENTRY_VERSIONS, MAX_ENTRY_BYTES, MAX_EXACT_INTEGER};

/// The `seq` and `time` of an entry read with [`read_canonical`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryFacts<'a> {
    pub seq: Seq,
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
    if !ENTRY_VERSIONS.contains(&view.v) || view.seq > MAX_EXACT_INTEGER {
        return None;
    }
    let c = &view.context;
    let judged = match (&c.declared, c.input_bytes, c.pii_scan_complete) {
        (Some(_), Some(n), Some(_)) if n <= MAX_EXACT_INTEGER => true,
        (None, None, None) => false,
        _ => return None,
    };
    if judged && view.v == 1 {
        return None;
    }
    if !view.written_as(bytes) {
        return None;
    }
    Some(EntryFacts {
        seq: Seq::new(view.seq),
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

    fn bool(&mut self, b: bool) -> bool {
        self.lit(if b { b"true" } else { b"false" })
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
        let declared = |w: &mut Same<'_>| match &c.declared {
            None => true,
            Some(d) => {
                w.lit(br#","declared":{"categories":"#)
                    && w.strs(&d.categories)
                    && w.lit(br#","commercial":"#)
                    && w.bool(d.commercial)
                    && w.lit(br#","consent":"#)
                    && w.bool(d.consent)
                    && w.lit(br#","separate_consent":"#)
                    && w.bool(d.separate_consent)
                    && w.lit(br#","terms_version":"#)
                    && w.opt_str(&d.terms_version)
                    && w.lit(b"}")
            }
        };
        let input_bytes = |w: &mut Same<'_>| match c.input_bytes {
            None => true,
            Some(n) => w.lit(br#","input_bytes":"#) && w.int(n),
        };
        let scan = |w: &mut Same<'_>| match c.pii_scan_complete {
            None => true,
            Some(b) => w.lit(br#","pii_scan_complete":"#) && w.bool(b),
        };
        w.lit(br#"{"caller":"#)
            && w.opt_str(&self.caller)
            && w.lit(br#","context":{"data_categories":"#)
            && w.strs(&c.data_categories)
            && declared(&mut w)
            && input_bytes(&mut w)
            && w.lit(br#","pii":"#)
            && w.strs(&c.pii)
            && scan(&mut w)
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

/// A digest as [`EntryView`] reads it: the 64 lowercase hex digits
/// [`Hash::from_hex`](super::Hash::from_hex) accepts, left as they are (written back as they were
/// read, which is how a [`Hash`](super::Hash) writes itself). A
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
/// the sealed head and then `seq`, `time`, `v`), read with the same rules as [`Entry`].
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

/// [`EntryContext`](super::EntryContext) as [`EntryView`] reads it: the members of version 2
/// absent or there, as there (`null` reads as absent, which is then written differently, so
/// the bytes are not taken on the fast way).
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ContextView<'a> {
    #[serde(borrow)]
    data_categories: Vec<Str<'a>>,
    #[serde(borrow, default, skip_serializing_if = "Option::is_none")]
    declared: Option<DeclaredView<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    input_bytes: Option<u64>,
    #[serde(borrow)]
    pii: Vec<Str<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pii_scan_complete: Option<bool>,
    #[serde(borrow)]
    purpose: Option<Str<'a>>,
}

/// [`Declared`](super::Declared) as [`EntryView`] reads it.
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct DeclaredView<'a> {
    #[serde(borrow)]
    categories: Vec<Str<'a>>,
    commercial: bool,
    consent: bool,
    separate_consent: bool,
    #[serde(borrow)]
    terms_version: Option<Str<'a>>,
}

/// [`ModelRef`](super::ModelRef) as [`EntryView`] reads it.
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

#[cfg(test)]
mod tests {
    use super::super::tests::{draft, recorded};
    use super::super::{Hash, ModelRef};
    use super::*;

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
    fn both_entry_versions_are_read_and_their_members_held_to_their_version() {
        let time = "2026-11-29T10:04:43.000001Z";
        let judged = draft(vec!["a"], Some("r")).into_entry(Seq::new(7), time.into());
        let mut audit = judged.clone();
        audit.context.declared = None;
        audit.context.input_bytes = None;
        audit.context.pii_scan_complete = None;
        let mut v1 = audit.clone();
        v1.v = 1;
        for e in [&judged, &audit, &v1] {
            let bytes = e.to_bytes().unwrap();
            assert!(same_as_slow(&bytes), "{}", String::from_utf8_lossy(&bytes));
            assert!(read_sorted(&bytes).is_some());
            assert_eq!(&Entry::from_bytes(&bytes).unwrap(), e);
        }
        let text = String::from_utf8(judged.to_bytes().unwrap()).unwrap();
        assert!(text.contains(
            r#""declared":{"categories":["health","z"],"commercial":true,"consent":false,"separate_consent":true,"terms_version":"2026-03"},"input_bytes":120,"pii":[],"pii_scan_complete":true,"#
        ), "{text}");
        let v1_text = String::from_utf8(v1.to_bytes().unwrap()).unwrap();
        let refused = [
            // Version 2's members under version 1.
            (
                text.replacen("\"v\":2", "\"v\":1", 1),
                EntryError::Members(1),
            ),
            // Some of version 2's members without the others.
            (
                text.replacen(",\"input_bytes\":120", "", 1),
                EntryError::Members(2),
            ),
            (
                text.replacen(",\"pii_scan_complete\":true", "", 1),
                EntryError::Members(2),
            ),
            // A version no reader knows.
            (
                v1_text.replacen("\"v\":1", "\"v\":3", 1),
                EntryError::Version(3),
            ),
            (
                text.replacen("\"input_bytes\":120", "\"input_bytes\":9007199254740992", 1),
                EntryError::Unrepresentable(1 << 53),
            ),
        ];
        for (bytes, error) in refused {
            assert!(!same_as_slow(bytes.as_bytes()), "{bytes}");
            assert_eq!(Entry::from_bytes(bytes.as_bytes()), Err(error), "{bytes}");
        }
        // `null` is not absent: not canonical.
        for bytes in [
            v1_text.replacen("\"pii\":", "\"input_bytes\":null,\"pii\":", 1),
            text.replacen("\"terms_version\":\"2026-03\"", "\"terms_version\":null", 1)
                .replacen("\"separate_consent\":true", "\"separate_consent\":null", 1),
            text.replacen("\"commercial\":true", "\"commercial\":1", 1),
            text.replacen("\"input_bytes\":120", "\"input_bytes\":120.0", 1),
        ] {
            assert!(!same_as_slow(bytes.as_bytes()), "{bytes}");
        }
        // A draft that would not make a version-2 entry is not sealed.
        let mut half = draft(vec![], None);
        half.context.input_bytes = None;
        assert_eq!(half.seal().unwrap_err(), EntryError::Members(2));
        let mut huge = draft(vec![], None);
        huge.context.input_bytes = Some(1 << 53);
        assert_eq!(
            huge.seal().unwrap_err(),
            EntryError::Unrepresentable(1 << 53)
        );
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
            d.caller = Some(recorded(s));
            d.credential = Some(recorded(s));
            d.context.purpose = Some(s.to_string());
            d.context.pii = vec![s.to_string()];
            d.context.data_categories = vec![s.to_string(), "~".into()];
            d.model = Some(ModelRef {
                name: s.to_string(),
                version: s.to_string(),
                sha256: Hash::from_bytes([i as u8; 32]),
            });
            for seq in [0u64, 255, 256, (1 << 53) - 1, 1 << 53, u64::MAX] {
                let bytes = d
                    .clone()
                    .into_entry(Seq::new(seq), time.into())
                    .to_bytes()
                    .unwrap();
                // Above 2^53 the general serialiser writes `seq` as a double; whatever it
                // decides, both ways decide the same.
                assert!(same_as_slow(&bytes) || seq > 1 << 53, "{s:?} {seq}");
                // The fast way takes every canonical entry below 2^53.
                assert_eq!(read_sorted(&bytes).is_some(), seq < 1 << 53, "{s:?} {seq}");
                canonical += 1;
                let text = String::from_utf8(bytes.clone()).unwrap();
                let hex = Hash::from_bytes([i as u8; 32]).to_hex();
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
}
