//! Personal-data detectors. Cedar has no regular expressions, so these run in Rust before the
//! policy and hand it the kinds found ([`PiiReport`]): counts per kind, never the values.
//!
//! Each kind is a pattern (the `regex` crate, compiled once) plus a check that weeds out look-alikes:
//!
//! | kind | pattern | check |
//! | --- | --- | --- |
//! | `email` | `local@domain.tld`, ASCII or internationalised (RFC 6531) | UTF-8, no `..`, local part ≤ 64 bytes |
//! | `iban` | 2 letters, 2 digits, 11–30 letters/digits, groups of 4 | known country and length, mod 97 = 1 (ISO 13616) |
//! | `cn-resident-id` | 18 characters, area code, birth date, sequence, check; or the 15-digit first generation | GB 11643 MOD 11-2 and a real date; for 15 digits a province code, a real date, no reference word before it |
//! | `payment-card` | 13–19 digits, spaces or dashes allowed | issuer prefix and its lengths (4: 13 or 16–19; 51–55 and 2221–2720: 16; 34/37: 15; 30/36/38: 14–19; 35, 6: 16–19), Luhn |
//! | `us-ssn` | `AAA-GG-SSSS` (dashes or spaces) | never-issued ranges excluded |
//! | `phone` | `+` and 8–15 digits; Chinese mobile `1[3-9]` + 9 digits; NANP `(AAA) EEE-NNNN`; national `0AAA NNNNNN` | digit count, NANP area and exchange |
//! | `ip-address` | dotted quad; IPv6 with at least two colons | not part of a version string or a longer dotted run; IPv6 parses and has a digit |
//! | `health-term` | health conditions and treatments in English, German and Chinese | none (the list leaves out words with common other senses) |
//!
//! A span claimed by one kind is not counted again by a later one (in the order of the table),
//! so a card number is not also a phone number. Texts are scanned up to [`MAX_SCAN_BYTES`] per
//! call in total; beyond that the report says `truncated` and the policy decides.

mod checksum;

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::LazyLock;

use super::context::DataCategory;
use regex::bytes::{Regex, RegexSet};
use serde::Serialize;

/// The most bytes scanned per call, over all texts together (1 MiB).
pub const MAX_SCAN_BYTES: usize = 1 << 20;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PiiKind {
    Email,
    Phone,
    CnResidentId,
    PaymentCard,
    Iban,
    UsSsn,
    IpAddress,
    /// A word naming a health condition or treatment (English, German, Chinese): the text is
    /// about someone's health. The words are never reported.
    HealthTerm,
}

impl PiiKind {
    pub const ALL: [PiiKind; 8] = [
        Self::Email,
        Self::Phone,
        Self::CnResidentId,
        Self::PaymentCard,
        Self::Iban,
        Self::UsSsn,
        Self::IpAddress,
        Self::HealthTerm,
    ];

    /// The kind of a name [`Self::as_str`] gives (as a ledger entry records it).
    pub fn parse(name: &str) -> Option<PiiKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The name used in the Cedar context (`context.pii`), the ledger and the docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::CnResidentId => "cn-resident-id",
            Self::PaymentCard => "payment-card",
            Self::Iban => "iban",
            Self::UsSsn => "us-ssn",
            Self::IpAddress => "ip-address",
            Self::HealthTerm => "health-term",
        }
    }

    /// The data category a found value of this kind is, counted exactly as if the caller had
    /// declared it (`docs/POLICIES.md`, "Detected data"): identity numbers are `government-id`,
    /// card and account numbers `financial` (both sensitive under PIPL Art. 28), contact details
    /// and addresses `personal`, a health term `health`.
    pub fn category(self) -> DataCategory {
        match self {
            Self::CnResidentId | Self::UsSsn => DataCategory::GovernmentId,
            Self::PaymentCard | Self::Iban => DataCategory::Financial,
            Self::HealthTerm => DataCategory::Health,
            Self::Email | Self::Phone | Self::IpAddress => DataCategory::Personal,
        }
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the detectors found: how many of each kind, and whether everything was scanned.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PiiReport {
    counts: BTreeMap<PiiKind, u32>,
    scanned_bytes: usize,
    truncated: bool,
}

impl PiiReport {
    /// The report a ledger entry records: the kinds found (each counted once: counts are not
    /// recorded) and whether the scan was complete.
    pub fn recorded(kinds: impl IntoIterator<Item = PiiKind>, complete: bool) -> PiiReport {
        PiiReport {
            counts: kinds.into_iter().map(|k| (k, 1)).collect(),
            scanned_bytes: 0,
            truncated: !complete,
        }
    }

    /// Kinds found, sorted, each once.
    pub fn kinds(&self) -> impl Iterator<Item = PiiKind> + '_ {
        self.counts.keys().copied()
    }

    /// Names of the kinds found, sorted (as recorded in the ledger's `context.pii`).
    pub fn kind_names(&self) -> Vec<&'static str> {
        self.kinds().map(PiiKind::as_str).collect()
    }

    pub fn count(&self, kind: PiiKind) -> u32 {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    pub fn counts(&self) -> &BTreeMap<PiiKind, u32> {
        &self.counts
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    /// True when some input lay beyond [`MAX_SCAN_BYTES`] and was not scanned.
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    pub fn scanned_bytes(&self) -> usize {
        self.scanned_bytes
    }

    fn add(&mut self, kind: PiiKind) {
        let n = self.counts.entry(kind).or_insert(0);
        *n = n.saturating_add(1);
    }
}

/// Scans every text (BYTES input elements, free-text parameters) and reports what it found.
pub fn scan<I, T>(texts: I) -> PiiReport
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let mut report = PiiReport::default();
    for text in texts {
        let text = text.as_ref();
        let budget = MAX_SCAN_BYTES.saturating_sub(report.scanned_bytes);
        let (part, truncated) = match text.get(..budget) {
            Some(part) if part.len() < text.len() => (part, true),
            Some(part) => (part, false),
            None => (text, false),
        };
        scan_one(part, &mut report);
        report.scanned_bytes += part.len();
        report.truncated |= truncated;
    }
    report
}

/// The free-text request parameters: every string value in `parameters` (nested ones too),
/// except the policy parameters `CallContext` reads, which are tokens and flags.
pub fn parameter_texts(parameters: &serde_json::Map<String, serde_json::Value>) -> Vec<&str> {
    fn walk<'a>(value: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match value {
            serde_json::Value::String(s) => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            serde_json::Value::Object(map) => map.values().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    for (key, value) in parameters {
        if !super::context::POLICY_PARAMETERS.contains(&key.as_str()) {
            walk(value, &mut out);
        }
    }
    out
}

struct Detector {
    kind: PiiKind,
    /// The pattern, compiled once into [`COMPILED`].
    source: &'static str,
    /// Whether the text can hold this kind at all (skips the pattern when it cannot).
    gate: fn(&Gates) -> bool,
    check: fn(&[u8], &[u8], Range<usize>) -> bool,
}

/// Characters every pattern needs, counted in one pass over the text.
#[derive(Default)]
struct Gates {
    digits: bool,
    at: bool,
    dots: bool,
    colons: usize,
}

impl Gates {
    fn of(text: &[u8]) -> Self {
        let mut g = Self::default();
        for &b in text {
            match b {
                b'0'..=b'9' => g.digits = true,
                b'@' => g.at = true,
                b'.' => g.dots = true,
                b':' => g.colons += 1,
                _ => {}
            }
        }
        g
    }
}

/// Letters and digits of an address, ASCII or any non-ASCII byte (internationalised addresses,
/// RFC 6531: `张三@例子.中国`); the check refuses what is not valid UTF-8.
const EMAIL: &str = r"(?i-u)(?:\b[a-z0-9]|[\x80-\xff])[a-z0-9._%+\-\x80-\xff]{0,63}@[a-z0-9\x80-\xff](?:[a-z0-9\-\x80-\xff]{0,61}[a-z0-9\x80-\xff])?(?:\.[a-z0-9\x80-\xff](?:[a-z0-9\-\x80-\xff]{0,61}[a-z0-9\x80-\xff])?)*\.(?:[a-z]{2,24}\b|[\x80-\xff]{4,72})";
const IBAN: &str = r"(?i-u)\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b";
const CN_ID: &str = r"(?-u)\b[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]\b";
/// First-generation resident IDs: 15 digits, no check character.
const CN_ID_15: &str =
    r"(?-u)\b[1-8][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}\b";
const CARD: &str = r"(?-u)\b[2-6][0-9]{3}(?:[ \-]?[0-9]){9,15}\b";
const SSN: &str = r"(?-u)\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b|\b[0-9]{3} [0-9]{2} [0-9]{4}\b";
/// International (`+`), Chinese mobile, NANP, and national numbers with a trunk `0`, the
/// area code set apart (`030 901820`, `0151 23456789`, `07911 123456`, `010-12345678`).
const PHONE: &str = r"(?-u)\+[1-9][0-9]{0,3}(?:[ .\-]?\(?[0-9]{1,5}\)?){1,6}\b|\b1[3-9][0-9][ \-]?[0-9]{4}[ \-]?[0-9]{4}\b|(?:\([0-9]{3}\) ?|\b[0-9]{3}[\-. ])[0-9]{3}[\-. ][0-9]{4}\b|\b0[1-9][0-9]{1,4}(?:[ /\-]|\) ?)[0-9]{3,8}(?:[ \-][0-9]{2,4})?\b";
/// Health conditions and treatments. English and German stems open at a word boundary and may
/// run on (German compounds: `Diabetesberatung`, `Krebspatientin`); Chinese words stand alone.
/// Words with common other senses (`depression` of the economy, `stroke` of a pen, `AIDS` and
/// `aids`, `Rezept`) are left out or only taken in a medical phrase.
const HEALTH: &str = r"(?i-u)\b(?:diabet|cancer|tumou?r|chemotherap|radiotherap|leuka?emia|hiv\b|asthma|epilep|schizophren|bipolar disorder|insulin|hypertensi|blood pressure|pregnan|diagnos|dementia|alzheimer|parkinson|hepatitis|heart attack|myocardial|chronic pain|clinical depression|depressiv|antidepress|illness|disease|medical (?:record|history|condition)|check-up for|krebs|leukämie|bluthochdruck|blutdruck|schwanger|demenz|herzinfarkt|schlaganfall|depressionen|erkrank|krankheit|vorsorgeuntersuchung|arztbesuch|krankenhaus)|糖尿病|癌症|肿瘤|化疗|艾滋病|哮喘|癫痫|抑郁症|胰岛素|高血压|怀孕|确诊|诊断|病历|痴呆|肝炎|白血病|中风|心脏病|住院";
const IPV4: &str = r"(?-u)\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b";
const IPV6: &str = r"(?i-u)(?:[0-9a-f]{1,4})?(?::[0-9a-f]{0,4}){2,7}";

/// The detectors' patterns, each on its own (to find matches) and all in one set (one pass that
/// says which patterns match at all, so clean text costs one scan instead of eight).
struct Compiled {
    each: Vec<Regex>,
    set: RegexSet,
}

// PANIC SAFETY: the patterns are constants compiled by every test that scans, so compiling them
// cannot fail at run time.
#[allow(clippy::expect_used)]
static COMPILED: LazyLock<Compiled> = LazyLock::new(|| Compiled {
    each: DETECTORS
        .iter()
        .map(|d| Regex::new(d.source).expect("constant pattern"))
        .collect(),
    set: RegexSet::new(DETECTORS.iter().map(|d| d.source)).expect("constant patterns"),
});

static DETECTORS: [Detector; 10] = [
    Detector {
        kind: PiiKind::Email,
        source: EMAIL,
        gate: |g| g.at && g.dots,
        check: check_email,
    },
    Detector {
        kind: PiiKind::Iban,
        source: IBAN,
        gate: |g| g.digits,
        check: |m, _, _| checksum::iban(m),
    },
    Detector {
        kind: PiiKind::CnResidentId,
        source: CN_ID,
        gate: |g| g.digits,
        check: |m, _, _| checksum::cn_resident_id(m),
    },
    Detector {
        kind: PiiKind::CnResidentId,
        source: CN_ID_15,
        gate: |g| g.digits,
        check: check_cn_id_15,
    },
    Detector {
        kind: PiiKind::PaymentCard,
        source: CARD,
        gate: |g| g.digits,
        check: check_card,
    },
    Detector {
        kind: PiiKind::UsSsn,
        source: SSN,
        gate: |g| g.digits,
        check: |m, _, _| checksum::us_ssn(m),
    },
    Detector {
        kind: PiiKind::Phone,
        source: PHONE,
        gate: |g| g.digits,
        check: check_phone,
    },
    Detector {
        kind: PiiKind::IpAddress,
        source: IPV4,
        gate: |g| g.digits && g.dots,
        check: check_ipv4,
    },
    Detector {
        kind: PiiKind::IpAddress,
        source: IPV6,
        gate: |g| g.digits && g.colons >= 2,
        check: check_ipv6,
    },
    Detector {
        kind: PiiKind::HealthTerm,
        source: HEALTH,
        gate: |_| true,
        check: check_health,
    },
];

fn scan_one(text: &[u8], report: &mut PiiReport) {
    let gates = Gates::of(text);
    let compiled = &*COMPILED;
    let hits = compiled.set.matches(text);
    if !hits.matched_any() {
        return;
    }
    let mut taken: Vec<Range<usize>> = Vec::new();
    for (index, (detector, pattern)) in DETECTORS.iter().zip(&compiled.each).enumerate() {
        if !hits.matched(index) || !(detector.gate)(&gates) {
            continue;
        }
        for m in pattern.find_iter(text) {
            let range = m.range();
            if taken
                .iter()
                .any(|t| t.start < range.end && range.start < t.end)
            {
                continue;
            }
            if (detector.check)(m.as_bytes(), text, range.clone()) {
                report.add(detector.kind);
                taken.push(range);
            } else if detector.kind == PiiKind::Iban {
                // A trailing word may have been taken for the last group: try without it.
                if let Some(shorter) = iban_without_tail(m.as_bytes()) {
                    report.add(detector.kind);
                    taken.push(range.start..range.start + shorter);
                }
            }
        }
    }
}

fn iban_without_tail(m: &[u8]) -> Option<usize> {
    let mut end = m.len();
    while let Some(space) = m
        .get(..end)
        .and_then(|s| s.iter().rposition(|&b| b == b' '))
    {
        end = space;
        if m.get(..end).is_some_and(checksum::iban) {
            return Some(end);
        }
    }
    None
}

fn check_email(m: &[u8], _: &[u8], _: Range<usize>) -> bool {
    let Some(at) = m.iter().position(|&b| b == b'@') else {
        return false;
    };
    let local = m.get(..at).unwrap_or_default();
    std::str::from_utf8(m).is_ok()
        && local.len() <= 64
        && !local.ends_with(b".")
        && !local.windows(2).any(|w| w == b"..")
}

/// Words that make the number after them a reference, not an identity number.
const REFERENCE_WORDS: [&[u8]; 12] = [
    b"order",
    b"invoice",
    b"tracking",
    b"ticket",
    b"ref",
    b"no.",
    b"#",
    b"bestell",
    b"rechnung",
    b"sendung",
    "订单".as_bytes(),
    "单号".as_bytes(),
];

/// A 15-digit resident ID has no check character: beside its province and date, a number that
/// a reference word stands just before (`order 110105491231002`) is taken for a reference.
fn check_cn_id_15(m: &[u8], text: &[u8], range: Range<usize>) -> bool {
    checksum::cn_resident_id_15(m) && !preceded_by(text, range, 24, &REFERENCE_WORDS)
}

/// Words before a capitalised `Cancer` that make it the star sign or the tropic.
const ZODIAC_WORDS: [&[u8]; 4] = [b"zodiac", b"sign", b"horoscope", b"tropic"];

/// Health words have no check, but `Cancer` after a word of astrology or geography is not one.
fn check_health(m: &[u8], text: &[u8], range: Range<usize>) -> bool {
    !(m.starts_with(b"Cancer") && preceded_by(text, range, 40, &ZODIAC_WORDS))
}

/// Whether one of `words` (lower case) stands in the `span` bytes before the match, whatever
/// their case in the text. A word that begins with a letter or digit counts only at the start of
/// a word of the text (`ref` is in `ref.` and `Ref-Nr`, not in `prefecture`).
fn preceded_by(text: &[u8], range: Range<usize>, span: usize, words: &[&[u8]]) -> bool {
    let from = range.start.saturating_sub(span);
    let before = text
        .get(from..range.start)
        .unwrap_or_default()
        .to_ascii_lowercase();
    let starts_word = |i: usize| {
        (from + i)
            .checked_sub(1)
            .and_then(|j| text.get(j))
            .is_none_or(|b| !b.is_ascii_alphanumeric())
    };
    words.iter().any(|w| {
        let needs_start = w.first().is_some_and(u8::is_ascii_alphanumeric);
        before
            .windows(w.len())
            .enumerate()
            .any(|(i, x)| x == *w && (!needs_start || starts_word(i)))
    })
}

fn digits(m: &[u8]) -> Vec<u8> {
    m.iter().copied().filter(u8::is_ascii_digit).collect()
}

/// Issuer identification numbers in use (ISO/IEC 7812): no card starts with `20` (so dates and
/// compact timestamps are not cards), `1`, `7`, `8`, `9` or `0` as far as this check is concerned.
fn check_card(m: &[u8], _: &[u8], _: Range<usize>) -> bool {
    let d = digits(m);
    let prefix = |n: usize| -> u32 {
        d.iter()
            .take(n)
            .fold(0, |acc, &b| acc * 10 + u32::from(b - b'0'))
    };
    // Each issuer's lengths: only Visa has 13 digits, so a 13-digit EAN that passes Luhn is not
    // taken for a card.
    let n = d.len();
    let issuer_ok = match d.first() {
        Some(b'4') => matches!(n, 13 | 16..=19),
        Some(b'5') => n == 16 && (51..=55).contains(&prefix(2)),
        Some(b'6') => (16..=19).contains(&n),
        Some(b'3') => match prefix(2) {
            34 | 37 => n == 15,
            30 | 36 | 38 => (14..=19).contains(&n),
            35 => (16..=19).contains(&n),
            _ => false,
        },
        Some(b'2') => n == 16 && (2221..=2720).contains(&prefix(4)),
        _ => false,
    };
    issuer_ok && checksum::luhn(&d)
}

fn check_phone(m: &[u8], _: &[u8], _: Range<usize>) -> bool {
    let d = digits(m);
    if m.first() == Some(&b'+') {
        return (8..=15).contains(&d.len());
    }
    if d.first() == Some(&b'0') {
        // A national number: trunk 0, area code, subscriber (ITU-T E.164 leaves 15 digits in
        // all; national forms in Europe and China run 9 to 12 with the 0).
        return (9..=12).contains(&d.len());
    }
    if d.len() == 11 {
        // Chinese mobile: the pattern already pins 1[3-9].
        return d.first() == Some(&b'1');
    }
    // NANP: area code and exchange start with 2-9.
    d.len() == 10 && d.first().is_some_and(|&b| b >= b'2') && d.get(3).is_some_and(|&b| b >= b'2')
}

/// Words that make a dotted quad a version number, not an address.
const VERSION_WORDS: [&[u8]; 6] = [b"version", b"ver", b"v", b"release", b"build", b"rev"];

fn check_ipv4(_: &[u8], text: &[u8], range: Range<usize>) -> bool {
    let before = text.get(..range.start).unwrap_or_default();
    let after = text.get(range.end..).unwrap_or_default();
    // Part of a longer dotted run (1.2.3.4.5) or of a dotted word (v1.2.3.4, a.1.2.3.4).
    if before.last() == Some(&b'.')
        || (after.first() == Some(&b'.') && after.get(1).is_some_and(u8::is_ascii_alphanumeric))
    {
        return false;
    }
    let word_end = before
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let head = before.get(..word_end).unwrap_or_default();
    let word_start = head
        .iter()
        .rposition(|b| !b.is_ascii_alphabetic())
        .map_or(0, |i| i + 1);
    let word = head
        .get(word_start..)
        .unwrap_or_default()
        .to_ascii_lowercase();
    !VERSION_WORDS.contains(&word.as_slice())
}

fn check_ipv6(m: &[u8], text: &[u8], range: Range<usize>) -> bool {
    let word = |b: &u8| b.is_ascii_alphanumeric() || *b == b':' || *b == b'_';
    if range.start > 0 && text.get(range.start - 1).is_some_and(word) {
        return false;
    }
    // A dot after it ends a sentence unless more of a dotted run follows (`::ffff:1.2.3.4`).
    let dotted_run = text.get(range.end) == Some(&b'.')
        && text
            .get(range.end + 1)
            .is_some_and(u8::is_ascii_alphanumeric);
    if text.get(range.end).is_some_and(word) || dotted_run {
        return false;
    }
    let Ok(s) = std::str::from_utf8(m) else {
        return false;
    };
    m.iter().any(u8::is_ascii_digit)
        && s.parse::<std::net::Ipv6Addr>()
            .is_ok_and(|a| !a.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<&'static str> {
        scan([text]).kind_names()
    }

    #[test]
    fn patterns_compile() {
        assert_eq!(COMPILED.each.len(), DETECTORS.len());
        assert_eq!(COMPILED.set.len(), DETECTORS.len());
    }

    #[test]
    fn cap_marks_truncation() {
        let big = "a".repeat(MAX_SCAN_BYTES + 10);
        let report = scan([big.as_str(), "x@example.com"]);
        assert!(report.truncated());
        assert_eq!(report.scanned_bytes(), MAX_SCAN_BYTES);
        assert!(report.is_empty());
    }

    #[test]
    fn one_span_one_kind() {
        assert_eq!(kinds("card 4111 1111 1111 1111 only"), ["payment-card"]);
        assert_eq!(kinds("id 11010519491231002X"), ["cn-resident-id"]);
    }
}
