//! The ids of who called and what decided, shared by the policy (which issues and checks them)
//! and the ledger (which records them): [`CallerId`], [`CredentialId`], [`RuleId`]. A leaf: it
//! knows nothing of either.
//!
//! Each is a string checked once, where it is made ([`CallerId::parse`], …), then passed as it
//! is. In JSON each is that string (`#[serde(transparent)]`), so a ledger entry's bytes are what
//! they were when the ids were bare strings. Reading one back (from a ledger entry, say) does not
//! judge it again: a log is read as it was written, and a verifier must not refuse an entry of
//! format v1 for an id this version would not issue (`docs/LEDGER.md` sets no form for ids).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A caller's id, as recorded in ledger entries (`caller`): `[a-z0-9][a-z0-9._-]*`, at most 64
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallerId(String);

impl CallerId {
    /// Longest caller id.
    pub const MAX_LEN: usize = 64;

    /// `[a-z0-9][a-z0-9._-]*`, at most [`CallerId::MAX_LEN`] characters.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = s.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || (i > 0 && matches!(b, b'.' | b'_' | b'-'))
        });
        (ok && !s.is_empty() && s.len() <= Self::MAX_LEN).then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of one API key, as recorded in ledger entries (`credential`); never the key itself:
/// 8 to 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialId(String);

impl CredentialId {
    /// 8 to 32 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = (8..=32).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id of a newly drawn key: the 8 random bytes in lowercase hex.
    pub fn from_random(bytes: [u8; 8]) -> Self {
        Self(hex::encode(bytes))
    }
}

/// The id of a rule, from its `@id("…")` annotation (e.g. `privacy.consent-required`), as
/// recorded in ledger entries (`rules`): non-empty lowercase letters, digits, `.` and `-`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(String);

impl RuleId {
    /// Non-empty `[a-z0-9.-]*`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::is_valid(s).then(|| Self(s.to_owned()))
    }

    /// Whether `s` is a rule id ([`RuleId::parse`] takes it).
    pub fn is_valid(s: &str) -> bool {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    }

    /// A rule id the policy bundle has checked with [`RuleId::is_valid`] as it loaded the rule
    /// (it refuses any other, naming the rule's file and position).
    pub(crate) fn new(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! str_like {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        /// Equal, hashed and ordered as its string is (the derived traits compare the string).
        impl std::borrow::Borrow<str> for $t {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    )*};
}

str_like!(CallerId, CredentialId, RuleId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked_where_they_are_made() {
        assert!(CallerId::parse("acme-clinic").is_some());
        assert!(CallerId::parse("a.b_c-1").is_some());
        for bad in ["", "-a", "Acme", "a b", "é", &"a".repeat(65)] {
            assert!(CallerId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(CallerId::parse(&"a".repeat(64)).is_some());
        assert!(CredentialId::parse("0123abcd").is_some());
        for bad in ["0123abc", "0123ABCD", &"a".repeat(33), "0123abcg"] {
            assert!(CredentialId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RuleId::parse("privacy.consent-required").is_some());
        for bad in ["", "a_b", "A", "a b"] {
            assert!(RuleId::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn in_json_an_id_is_its_string_and_is_read_back_as_written() {
        let id = CallerId::parse("acme").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"acme\"");
        assert_eq!(serde_json::from_str::<CallerId>("\"acme\"").unwrap(), id);
        // A log is read as it was written: an id this version would not issue still reads.
        let odd: RuleId = serde_json::from_str("\"Odd \\\"rule\\\"\"").unwrap();
        assert_eq!(odd.as_str(), "Odd \"rule\"");
        assert_eq!(serde_json::to_string(&odd).unwrap(), "\"Odd \\\"rule\\\"\"");
        assert!(serde_json::from_str::<CredentialId>("7").is_err());
    }
}
