//! The crate's error: one type for a program that embeds vouch and wants to hold any of the
//! library's failures without naming each module's own.
//!
//! Each module keeps its typed error ([`LedgerError`], [`PolicyError`], [`InferenceError`],
//! [`LoadError`], …) and the layers above match on those; [`Error`] only gathers them. Each
//! variant displays as the module's error and passes on its source chain (match on the variant to
//! reach the module's error), and [`Error::is_input`] says whether the fault lies in what was
//! given.

use crate::inference::{ErrorKind as InferenceErrorKind, InferenceError};
use crate::ledger::{ExportError, KeyFileError, LedgerError, NoteError, ReceiptError, VerifyError};
use crate::policy::{PolicyError, PolicyErrorKind};
use crate::server::LoadError;
use crate::tls::TlsError;

/// Any failure of the library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The ledger could not append, read or prove.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// A log, export or checkpoint did not verify, or could not be read to verify it.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// An export could not be written or read.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// A receipt did not verify.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// A signed note (a checkpoint) did not parse or verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// A key file could not be read, or is not a key.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// The rules or the caller registry could not be loaded or applied.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A model could not be loaded or run.
    #[error(transparent)]
    Inference(#[from] InferenceError),
    /// A TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The service could not start.
    #[error(transparent)]
    Load(#[from] LoadError),
}

/// A result whose failure is the crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the fault lies in what was given (a file, a flag, a request) rather than in the
    /// machine (a disk, the runtime) or in what was checked (a log that does not verify).
    pub fn is_input(&self) -> bool {
        match self {
            Error::Ledger(_) | Error::Verify(_) | Error::Export(_) | Error::Receipt(_) => false,
            Error::Note(_) | Error::KeyFile(_) | Error::Tls(_) => true,
            Error::Policy(e) => matches!(
                e.kind(),
                PolicyErrorKind::InvalidCall | PolicyErrorKind::InvalidConfig
            ),
            Error::Inference(e) => matches!(
                e.kind(),
                InferenceErrorKind::NotFound | InferenceErrorKind::BadRequest
            ),
            Error::Load(e) => e.is_input(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn each_variant_says_what_its_module_error_says_and_its_kind_decides_is_input() {
        let io = || std::io::Error::other("disk gone");
        let policy_io = PolicyError::Io {
            path: "policies".into(),
            source: io(),
        };
        let text = policy_io.to_string();
        let policy_io = Error::from(policy_io);
        assert_eq!(policy_io.to_string(), text);
        assert!(!policy_io.is_input());
        assert_eq!(
            policy_io.source().map(ToString::to_string).as_deref(),
            Some("disk gone")
        );
        let config = Error::from(PolicyError::BundleConfig {
            file: "policies/bundle.toml".into(),
            source: Box::new(toml::from_str::<toml::Value>("= 1").unwrap_err()),
        });
        assert!(config.is_input());
        let load = Error::from(LoadError::NoKey {
            key: "data/log.key".into(),
        });
        assert!(load.is_input());
        assert!(load.to_string().contains("vouch keygen"), "{load}");
        let ledger = Error::from(LoadError::Metrics(prometheus::Error::Msg("taken".into())));
        assert!(!ledger.is_input());
    }
}
