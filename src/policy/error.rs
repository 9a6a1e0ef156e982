//! [`PolicyError`], the one error type of the policy module, and [`PolicyErrorKind`], the kind of
//! failure each is. Load errors name the file and, where Cedar reports one, the line and column;
//! parameter errors name the parameter. What each kind means to the module's callers (how they
//! answer their own users) is theirs to choose, not this module's.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

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

/// What is missing from, or doubled in, a policy bundle's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BundleProblem {
    #[error("no *.cedarschema file")]
    NoSchema,
    #[error("more than one *.cedarschema file")]
    TwoSchemas,
    #[error("no bundle.toml")]
    NoSettings,
    #[error("no *.cedar rule file")]
    NoRules,
}

/// How the facts vouch provides fail the schema, found at load by building a sample call.
#[derive(Debug)]
pub enum FactsProblem {
    /// The sample caller's record was refused (a fault in vouch, not in the bundle).
    SampleCaller(CallerProblem),
    /// The sample caller and model are not entities the schema accepts.
    Entities(Box<cedar_policy::entities_errors::EntitiesError>),
    /// The sample request is not one the schema accepts.
    Request(Box<cedar_policy::RequestValidationError>),
    /// The context built from values for a call is not the one Cedar builds.
    ContextDiffers {
        built: Box<cedar_policy::Context>,
        cedar: Box<cedar_policy::Context>,
    },
}

impl fmt::Display for FactsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SampleCaller(problem) => write!(f, "{problem}"),
            Self::Entities(e) => write!(f, "{}", Chain(e.as_ref())),
            Self::Request(e) => write!(f, "{}", Chain(e.as_ref())),
            Self::ContextDiffers { built, cedar } => {
                write!(
                    f,
                    "the context built for a call, {built}, is not Cedar's, {cedar}"
                )
            }
        }
    }
}

/// An error and its sources, `: `-separated (Cedar puts the detail in the sources).
struct Chain<'a>(&'a dyn std::error::Error);

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
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
#[derive(Debug, Clone, thiserror::Error)]
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
    Entity(String, Arc<cedar_policy::EntityAttrEvaluationError>),
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("policy bundle {}: {problem}", dir.display())]
    BundleIncomplete {
        dir: PathBuf,
        problem: BundleProblem,
    },
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
    #[error("{}: the schema does not match the facts vouch provides: {problem}", file.display())]
    SchemaMismatch {
        file: PathBuf,
        problem: FactsProblem,
    },
    #[error("model {model}: input category {category:?} is not a known data category")]
    InputCategory { model: String, category: String },
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
    #[error("rule {rule} could not be evaluated: {source}")]
    Evaluation {
        rule: String,
        source: Box<cedar_policy::EvaluationError>,
    },
    /// A rule could not join a set of rules the engine builds from the bundle's (its id is
    /// already there; cannot happen for a bundle that loaded).
    #[error("rule {rule} cannot join a rule set: {source}")]
    RuleSet {
        rule: String,
        source: Box<cedar_policy::PolicySetError>,
    },
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

    /// The kind of failure this is.
    pub fn kind(&self) -> PolicyErrorKind {
        use PolicyErrorKind as K;
        match self {
            Self::Parameter { .. } | Self::Confidence(_) => K::InvalidCall,
            Self::BundleIncomplete { .. }
            | Self::Schema { .. }
            | Self::Syntax { .. }
            | Self::Validation { .. }
            | Self::Annotation { .. }
            | Self::DuplicateRuleId { .. }
            | Self::SchemaMismatch { .. }
            | Self::BundleConfig { .. }
            | Self::InputCategory { .. }
            | Self::CallersParse { .. }
            | Self::CallersInvalid { .. } => K::InvalidConfig,
            Self::Io { .. } | Self::CallersWrite { .. } => K::Io,
            Self::CallersSerialise(_)
            | Self::Entity(_)
            | Self::CallerWithoutFacts(_)
            | Self::Entities(_)
            | Self::Context(_)
            | Self::Request(_)
            | Self::Evaluation { .. }
            | Self::RuleSet { .. } => K::Internal,
        }
    }
}

/// The kind of failure a [`PolicyError`] is, for callers that answer them differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyErrorKind {
    /// What a call brought cannot be judged: a request parameter is wrong, or the top-class
    /// probability is outside [0, 1]. The call's fault.
    InvalidCall,
    /// The policy bundle or the caller registry is not valid: it cannot be loaded.
    InvalidConfig,
    /// A file could not be read or written.
    Io,
    /// Cedar could not build or judge what vouch asked of it: a fault in vouch or in a rule's
    /// evaluation, not in the call.
    Internal,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_a_call_brought_is_the_calls_fault() {
        let call = [
            PolicyError::parameter("purpose", ParameterProblem::BadToken),
            PolicyError::Confidence(1.5),
        ];
        assert!(call
            .iter()
            .all(|e| e.kind() == PolicyErrorKind::InvalidCall));
        let others = [
            (
                PolicyError::BundleIncomplete {
                    dir: "policies".into(),
                    problem: BundleProblem::NoRules,
                },
                PolicyErrorKind::InvalidConfig,
            ),
            (
                PolicyError::Io {
                    path: "policies".into(),
                    source: std::io::Error::other("x"),
                },
                PolicyErrorKind::Io,
            ),
            (
                PolicyError::CallerWithoutFacts("c".into()),
                PolicyErrorKind::Internal,
            ),
        ];
        for (e, kind) in others {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }

    #[test]
    fn a_bundle_problem_reads_as_before() {
        let e = PolicyError::BundleIncomplete {
            dir: "policies".into(),
            problem: BundleProblem::TwoSchemas,
        };
        assert_eq!(
            e.to_string(),
            "policy bundle policies: more than one *.cedarschema file"
        );
    }
}
