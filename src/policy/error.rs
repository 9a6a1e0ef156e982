//! [`PolicyError`], the one error type of the policy module. Load errors name the file and, where
//! Cedar reports one, the line and column; parameter errors name the parameter (the server turns
//! those into HTTP 400).

use std::fmt;
use std::path::PathBuf;

/// A 1-based line and column (in characters) inside a policy or schema file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourcePos {
    pub line: usize,
    pub column: usize,
}

impl SourcePos {
    /// The position of byte `offset` in `text` (clamped to the text's end).
    pub fn of_offset(text: &str, offset: usize) -> Self {
        let mut line = 1;
        let mut column = 1;
        for (i, c) in text.char_indices() {
            if i >= offset {
                break;
            }
            if c == '\n' {
                line += 1;
                column = 1;
            } else {
                column += 1;
            }
        }
        Self { line, column }
    }
}

impl fmt::Display for SourcePos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// `file:line:column`, or `file` when Cedar gave no position.
struct At<'a>(&'a PathBuf, &'a Option<SourcePos>);

impl fmt::Display for At<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(pos) => write!(f, "{}:{pos}", self.0.display()),
            None => write!(f, "{}", self.0.display()),
        }
    }
}

fn at<'a>(file: &'a PathBuf, pos: &'a Option<SourcePos>) -> impl fmt::Display + 'a {
    At(file, pos)
}

/// What is wrong with a rule's annotations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotationProblem {
    #[error("the rule has no @{0}(\"…\") annotation")]
    Missing(&'static str),
    #[error("@category({0:?}) is not one of ip, privacy, liability, access")]
    UnknownCategory(String),
    #[error("@id({0:?}) must be non-empty lowercase letters, digits, '.', '-'")]
    BadId(String),
    #[error("@obligation is only allowed on permit rules")]
    ObligationOnForbid,
    #[error("templates are not supported; write the rule out")]
    Template,
}

/// What is wrong with a request parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParameterProblem {
    #[error("must be a {0}")]
    WrongType(&'static str),
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must be lowercase letters, digits, '-' and '.' (e.g. \"medical-triage\")")]
    BadToken,
    #[error("{0:?} is not a known data category (personal, health, genetic, biometric, children, financial, government-id, location)")]
    UnknownCategory(String),
}

/// What is wrong with an entry of the caller registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerProblem {
    #[error("caller id {0:?} must be lowercase letters, digits, '.', '_', '-'")]
    BadCallerId(String),
    #[error("caller {0:?} is listed twice")]
    DuplicateCaller(String),
    #[error("credential id {0:?} must be 8 to 32 lowercase hex digits")]
    BadCredentialId(String),
    #[error("credential {0:?} is listed twice")]
    DuplicateCredential(String),
    #[error("credential {0:?}: sha256 must be 64 lowercase hex digits")]
    BadHash(String),
    #[error(
        "caller {0:?}: jurisdiction {1:?} must be an assigned ISO 3166-1 alpha-2 country code, \
         upper case (e.g. DE, US, CN)"
    )]
    BadJurisdiction(String, String),
    #[error(
        "caller {0:?}: terms version {1:?} must be a token as calls name it: lowercase letters, \
         digits, '.' and '-' (not first), at most 64 characters (e.g. 2026-01)"
    )]
    BadTermsVersion(String, String),
    #[error("caller {0:?}: the {1} must not be empty")]
    Empty(String, &'static str),
    #[error("caller {0:?} has no roles")]
    NoRoles(String),
    #[error("caller {0:?}: Cedar refused its attributes: {1}")]
    Entity(String, String),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy bundle {}: {what}", dir.display())]
    BundleIncomplete { dir: PathBuf, what: &'static str },
    #[error("{}: schema error: {message}", at(file, pos))]
    Schema {
        file: PathBuf,
        pos: Option<SourcePos>,
        message: String,
    },
    #[error("{}: syntax error: {message}", at(file, pos))]
    Syntax {
        file: PathBuf,
        pos: Option<SourcePos>,
        message: String,
    },
    #[error(
        "{}: rule {rule:?} does not match the schema: {message}",
        at(file, pos)
    )]
    Validation {
        file: PathBuf,
        pos: Option<SourcePos>,
        rule: String,
        message: String,
    },
    #[error("{}: {problem}", at(file, pos))]
    Annotation {
        file: PathBuf,
        pos: Option<SourcePos>,
        problem: AnnotationProblem,
    },
    #[error("rule id {id:?} is used twice: {} and {}", first.display(), second.display())]
    DuplicateRuleId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    /// The schema asks for facts vouch does not provide (or types them differently).
    #[error("{}: the schema does not match the facts vouch provides: {message}", file.display())]
    SchemaMismatch { file: PathBuf, message: String },
    #[error("{}: {source}", file.display())]
    BundleConfig {
        file: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("parameter {name:?} {problem}")]
    Parameter {
        name: String,
        problem: ParameterProblem,
    },
    #[error("top probability {0} is not in [0, 1]")]
    Confidence(f64),
    #[error("{}: {source}", path.display())]
    CallersParse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("{}: {problem}", path.display())]
    CallersInvalid {
        path: PathBuf,
        problem: CallerProblem,
    },
    #[error("cannot write {}: {source}", path.display())]
    CallersWrite {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot serialise the caller registry: {0}")]
    CallersSerialise(#[from] toml::ser::Error),
    #[error("building the Cedar entities failed: {0}")]
    Entity(Box<cedar_policy::EntityAttrEvaluationError>),
    /// A `Caller` built without `Caller::from_record` (cannot happen through the public API).
    #[error("caller {0} has no Cedar entity")]
    CallerWithoutFacts(String),
    #[error("building the Cedar entity store failed: {0}")]
    Entities(Box<cedar_policy::entities_errors::EntitiesError>),
    #[error("building the Cedar context failed: {0}")]
    Context(Box<cedar_policy::ContextCreationError>),
    #[error("building the Cedar request failed: {0}")]
    Request(Box<cedar_policy::RequestValidationError>),
    /// A rule could not be evaluated (Cedar would skip it; a skipped forbid rule would fail open,
    /// so the call is refused as an error instead).
    #[error("rule {rule} could not be evaluated: {message}")]
    Evaluation { rule: String, message: String },
}

/// Cedar's errors are large; they are boxed so that `Result<_, PolicyError>` stays small.
macro_rules! boxed_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for PolicyError {
            fn from(e: $t) -> Self {
                Self::$v(Box::new(e))
            }
        }
    )*};
}

boxed_from! {
    cedar_policy::EntityAttrEvaluationError => Entity,
    cedar_policy::entities_errors::EntitiesError => Entities,
    cedar_policy::ContextCreationError => Context,
    cedar_policy::RequestValidationError => Request,
}

impl PolicyError {
    pub(crate) fn parameter(name: &str, problem: ParameterProblem) -> Self {
        Self::Parameter {
            name: name.to_owned(),
            problem,
        }
    }

    /// Whether the error comes from what the request sent (HTTP 400), not from vouch itself.
    pub fn is_bad_request(&self) -> bool {
        matches!(self, Self::Parameter { .. } | Self::Confidence(_))
    }
}
