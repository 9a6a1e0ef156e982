//! Why a subcommand did not complete, and the one place that turns that into an [`ExitCode`].
//!
//! The library's errors stay typed up to the command line. Here a failure is two things only: the
//! exit code a script branches on, chosen by its [`Kind`], and the sentence a person reads on
//! standard error (or in the `error` member of `--json` output). The constructors classify each
//! source once — a file, an HTTP status, a transport failure — so that every subcommand answers
//! the same kind of trouble with the same code.

use std::fmt;
use std::path::Path;

use super::ExitCode;
use crate::policy::PolicyError;
use crate::Error;

/// What went wrong, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Something that must verify does not: a log, a receipt, a checkpoint, a server's answer.
    Verification,
    /// The server refused the credential or the role, or the policy denied the call.
    Denied,
    /// An argument, a file's contents or a value is malformed.
    BadInput,
    /// A file could not be read or written, or the server could not be reached.
    Io,
    /// The command line asks for something it cannot (clap catches most of these itself).
    Usage,
}

impl Kind {
    /// The exit code of this kind of failure (the table in `docs/CLI.md`).
    pub fn exit_code(self) -> ExitCode {
        match self {
            Kind::Verification => ExitCode::VerificationFailed,
            Kind::Denied => ExitCode::Denied,
            Kind::BadInput => ExitCode::BadInput,
            Kind::Io => ExitCode::Io,
            Kind::Usage => ExitCode::Usage,
        }
    }
}

/// A subcommand's failure: its kind and what to tell the person who ran it.
#[derive(Debug)]
pub struct Failure {
    kind: Kind,
    message: String,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
        }
    }

    pub fn verification(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Verification, message)
    }

    pub fn bad_input(message: impl fmt::Display) -> Failure {
        Failure::new(Kind::BadInput, message.to_string())
    }

    pub fn io(message: impl fmt::Display) -> Failure {
        Failure::new(Kind::Io, message.to_string())
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message)
    }

    /// Reading or writing `path` failed.
    pub fn file(path: &Path, e: &std::io::Error) -> Failure {
        Failure::io(format_args!("{}: {e}", path.display()))
    }

    /// The server answered `what` with the error status `code` and the message `said`:
    /// `401`/`403` refused the credential or role, `400`/`404` refused what was asked, anything
    /// else (a `5xx`, a `429` that did not pass) is the server's trouble.
    pub fn status(what: &str, code: u16, said: &str) -> Failure {
        let kind = match code {
            401 | 403 => Kind::Denied,
            400 | 404 => Kind::BadInput,
            _ => Kind::Io,
        };
        let said = if said.is_empty() {
            "(no error message)"
        } else {
            said
        };
        Failure::new(kind, format!("{what}: the server answered {code}: {said}"))
    }

    /// The server at `url` could not be reached (no HTTP status), said in words.
    pub fn transport(url: &str, e: &ureq::Transport) -> Failure {
        Failure::io(super::http::describe(url, e))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    pub fn exit_code(&self) -> ExitCode {
        self.kind.exit_code()
    }

    /// The `--json` answer of a verifying subcommand that could not verify.
    pub fn unverified_json(&self) -> serde_json::Value {
        serde_json::json!({"verified": false, "error": self.to_string()})
    }

    /// Prints the failure on standard error as `vouch <command>: …` and returns its exit code.
    pub fn report(&self, command: &str) -> ExitCode {
        eprintln!("vouch {command}: {self}");
        self.exit_code()
    }
}

/// A verification failure is loud; the others are their message.
impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == Kind::Verification {
            f.write_str("VERIFICATION FAILED: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// A rule bundle or caller registry that cannot be read or written is I/O; one that does not
/// parse or check is bad input.
/// A library failure: a verification failure when something did not verify, bad input when the
/// fault lies in what was given, otherwise the machine's.
impl From<Error> for Failure {
    fn from(e: Error) -> Failure {
        match e {
            Error::Verify(_) | Error::Receipt(_) => Failure::verification(e.to_string()),
            _ if e.is_input() => Failure::bad_input(e),
            _ => Failure::io(e),
        }
    }
}

impl From<&PolicyError> for Failure {
    fn from(e: &PolicyError) -> Failure {
        match e {
            PolicyError::Io { .. } | PolicyError::CallersWrite { .. } => Failure::io(e),
            _ => Failure::bad_input(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_one_exit_code_each() {
        for (code, exit) in [
            (401, ExitCode::Denied),
            (403, ExitCode::Denied),
            (400, ExitCode::BadInput),
            (404, ExitCode::BadInput),
            (429, ExitCode::Io),
            (500, ExitCode::Io),
            (503, ExitCode::Io),
        ] {
            assert_eq!(
                Failure::status("/v1/x", code, "no").exit_code(),
                exit,
                "{code}"
            );
        }
    }

    #[test]
    fn a_verification_failure_says_so() {
        let f = Failure::verification("the root differs");
        assert_eq!(f.to_string(), "VERIFICATION FAILED: the root differs");
        assert_eq!(f.exit_code(), ExitCode::VerificationFailed);
        assert_eq!(Failure::bad_input("x").to_string(), "x");
    }
}
