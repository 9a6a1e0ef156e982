//! Why bytes are not a canonical entry of a known version (DESIGN.md "The ledger (format v1)",
//! **Entry**; `docs/LEDGER.md`, "Entry versions"; RFC 8785): [`EntryError`], and [`JsonError`], serde_json's error kept as a value
//! that errors which are cloned and compared can carry.

use std::fmt;
use std::sync::Arc;

use serde_json::error::Category;

use super::{ENTRY_VERSION, MAX_ENTRY_BYTES};

/// Bytes that cannot be read as a canonical entry of a version readers know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("entry is {0} bytes, more than the {MAX_ENTRY_BYTES} allowed")]
    TooLarge(usize),
    /// Not JSON, or not the members and types of an entry.
    #[error("entry is not a vouch entry: {0}")]
    Json(JsonError),
    /// What serde_json wrote for an entry does not end an object (it always does).
    #[error("entry is not a vouch entry: a JSON object must end with '}}'")]
    NotAnObject,
    /// A number RFC 8785 cannot write: it has no finite IEEE 754 double.
    #[error("entry is not a vouch entry: the number {0} is not a finite double")]
    NotFinite(serde_json::Number),
    /// An integer RFC 8785 would write as a double (above 2^53 − 1), which entries never hold.
    #[error("entry is not a vouch entry: input_bytes {0} is above 2^53 - 1")]
    Unrepresentable(u64),
    /// The members of one version with the number of another (or some of version 2's
    /// `declared`, `input_bytes`, `pii_scan_complete` without the others).
    #[error(
        "entry of version {0} does not have that version's members (version 2 adds context \
         members declared, input_bytes and pii_scan_complete, all or none)"
    )]
    Members(u8),
    #[error("entry bytes are not in canonical (RFC 8785) form")]
    NotCanonical,
    #[error("entry has version {0}; this vouch reads versions 1 to {ENTRY_VERSION}")]
    Version(u8),
}

impl From<serde_json::Error> for EntryError {
    fn from(e: serde_json::Error) -> EntryError {
        EntryError::Json(e.into())
    }
}

/// What serde_json found wrong with some JSON, and where: displayed as serde_json displays it,
/// cloned cheaply, and equal to another when both say the same thing at the same place.
#[derive(Debug, Clone)]
pub struct JsonError(Arc<serde_json::Error>);

impl JsonError {
    /// Whether the input was not JSON, JSON of the wrong shape, cut short, or could not be read.
    pub fn category(&self) -> Category {
        self.0.classify()
    }

    /// The line (from 1) where the fault was found; 0 when it was not met reading text.
    pub fn line(&self) -> usize {
        self.0.line()
    }

    /// The column (from 1) where the fault was found; 0 when it was not met reading text.
    pub fn column(&self) -> usize {
        self.0.column()
    }

    /// The error as serde_json gave it.
    pub fn inner(&self) -> &serde_json::Error {
        &self.0
    }
}

impl From<serde_json::Error> for JsonError {
    fn from(e: serde_json::Error) -> JsonError {
        JsonError(Arc::new(e))
    }
}

impl PartialEq for JsonError {
    fn eq(&self, other: &JsonError) -> bool {
        (self.category(), self.line(), self.column())
            == (other.category(), other.line(), other.column())
            && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for JsonError {}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for JsonError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_say_what_serde_json_says_and_compare_by_it() {
        let parse = |s: &str| JsonError::from(serde_json::from_str::<u8>(s).unwrap_err());
        let junk = parse("  x");
        assert_eq!(
            junk.to_string(),
            serde_json::from_str::<u8>("  x").unwrap_err().to_string()
        );
        assert_eq!(junk.category(), Category::Syntax);
        assert_eq!((junk.line(), junk.column()), (1, 3));
        assert_eq!(junk, parse("  x"));
        assert_ne!(junk, parse(" x"));
        assert_eq!(parse("[").category(), Category::Data);
        assert_ne!(parse("300"), parse("301"));
        let e = EntryError::from(serde_json::from_str::<u8>("x").unwrap_err());
        assert!(
            e.to_string()
                .starts_with("entry is not a vouch entry: expected value"),
            "{e}"
        );
        assert_eq!(
            EntryError::NotAnObject.to_string(),
            "entry is not a vouch entry: a JSON object must end with '}'"
        );
    }
}
