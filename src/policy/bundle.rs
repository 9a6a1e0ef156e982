//! The policy bundle: the folder `policies/` read, checked and hashed once at start-up.
//!
//! A bundle is the top-level regular files of the folder whose names end in `.cedarschema`
//! (exactly one: the schema), `.cedar` (at least one: the rules) or are `bundle.toml` (operator
//! settings). Other files (a README, editor backups) are neither loaded nor hashed.
//!
//! Every rule must carry `@id`, `@category` and `@reason`; `@obligation` only on permit rules;
//! ids are unique across the bundle and become the Cedar policy ids, so Cedar's diagnostics name
//! rules directly. Every rule is validated against the schema in strict mode: a syntax error, an
//! unknown attribute or a type error stops loading with the file, line and column.
//!
//! Bundle hash (also in `docs/POLICIES.md`): the files sorted by the bytes of their names;
//! `H(name_1 ‖ 0x00 ‖ H(content_1) ‖ … ‖ name_n ‖ 0x00 ‖ H(content_n))`, H = SHA-256, digests as
//! 32 raw bytes, names as UTF-8 without any directory part.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use cedar_policy::{Effect, PolicyId, PolicySet, Schema, ValidationMode, Validator};
use miette::Diagnostic;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::{AnnotationProblem, BundleProblem, PolicyError, SourcePos};
use super::{Category, RuleId};

/// Largest policy, schema or settings file read (a guard, not a limit anyone should reach).
pub const MAX_FILE_BYTES: u64 = 1 << 20;

const SETTINGS_FILE: &str = "bundle.toml";

/// SHA-256 of the bundle, laid out as in the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleHash([u8; 32]);

impl BundleHash {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex, as recorded in ledger entries (`policy`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The hash of the given `(file name, file content)` pairs, in any order.
    pub fn compute<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut sorted: Vec<(&str, &[u8])> = files.into_iter().collect();
        sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut outer = Sha256::new();
        for (name, content) in sorted {
            outer.update(name.as_bytes());
            outer.update([0u8]);
            outer.update(Sha256::digest(content));
        }
        Self(outer.finalize().into())
    }
}

impl fmt::Display for BundleHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// What a rule's annotations say about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMeta {
    pub id: RuleId,
    pub category: Category,
    pub reason: String,
    pub obligation: Option<String>,
    pub effect: Effect,
    /// The file the rule is in (name only).
    pub file: String,
}

/// Operator settings in `bundle.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Settings {
    /// The version of the terms of use in force.
    pub terms_version: String,
}

/// A loaded, validated bundle.
pub(crate) struct Bundle {
    pub schema: Schema,
    pub policies: PolicySet,
    pub rules: HashMap<PolicyId, RuleMeta>,
    pub settings: Settings,
    pub hash: BundleHash,
    pub files: Vec<String>,
    /// The schema file's path, for errors found after loading.
    pub schema_file: PathBuf,
}

struct File {
    name: String,
    path: PathBuf,
    text: String,
}

/// Reads, checks and hashes the bundle in `dir`.
pub(crate) fn load(dir: &Path) -> Result<Bundle, PolicyError> {
    let files = read_files(dir)?;
    let hash = BundleHash::compute(files.iter().map(|f| (f.name.as_str(), f.text.as_bytes())));

    let mut schemas = files.iter().filter(|f| f.name.ends_with(".cedarschema"));
    let schema_file = schemas.next().ok_or(PolicyError::BundleIncomplete {
        dir: dir.to_owned(),
        problem: BundleProblem::NoSchema,
    })?;
    if schemas.next().is_some() {
        return Err(PolicyError::BundleIncomplete {
            dir: dir.to_owned(),
            problem: BundleProblem::TwoSchemas,
        });
    }
    let schema = parse_schema(schema_file)?;

    let settings_file =
        files
            .iter()
            .find(|f| f.name == SETTINGS_FILE)
            .ok_or(PolicyError::BundleIncomplete {
                dir: dir.to_owned(),
                problem: BundleProblem::NoSettings,
            })?;
    let settings: Settings =
        toml::from_str(&settings_file.text).map_err(|source| PolicyError::BundleConfig {
            file: settings_file.path.clone(),
            source: Box::new(source),
        })?;

    let validator = Validator::new(schema.clone());
    let mut policies = PolicySet::new();
    let mut rules: HashMap<PolicyId, RuleMeta> = HashMap::new();
    let mut where_defined: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut any_rules = false;
    for file in files.iter().filter(|f| f.name.ends_with(".cedar")) {
        any_rules = true;
        let parsed = parse_rules(file)?;
        validate(&validator, file, &parsed)?;
        for (policy, meta) in parsed {
            if let Some(first) =
                where_defined.insert(meta.id.as_str().to_owned(), file.path.clone())
            {
                return Err(PolicyError::DuplicateRuleId {
                    id: meta.id.as_str().to_owned(),
                    first,
                    second: file.path.clone(),
                });
            }
            let id = PolicyId::new(meta.id.as_str());
            // The id is new (checked just above), so adding cannot clash.
            policies
                .add(policy.new_id(id.clone()))
                .map_err(|_| PolicyError::DuplicateRuleId {
                    id: meta.id.as_str().to_owned(),
                    first: file.path.clone(),
                    second: file.path.clone(),
                })?;
            rules.insert(id, meta);
        }
    }
    if !any_rules {
        return Err(PolicyError::BundleIncomplete {
            dir: dir.to_owned(),
            problem: BundleProblem::NoRules,
        });
    }
    Ok(Bundle {
        schema,
        policies,
        rules,
        settings,
        hash,
        schema_file: schema_file.path.clone(),
        files: files.iter().map(|f| f.name.clone()).collect(),
    })
}

fn read_files(dir: &Path) -> Result<Vec<File>, PolicyError> {
    fn io(path: &Path) -> impl Fn(std::io::Error) -> PolicyError + '_ {
        move |source| PolicyError::Io {
            path: path.to_owned(),
            source,
        }
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let in_bundle =
            name == SETTINGS_FILE || name.ends_with(".cedar") || name.ends_with(".cedarschema");
        if !in_bundle || name.starts_with('.') {
            continue;
        }
        let meta = std::fs::metadata(&path).map_err(io(&path))?;
        if !meta.is_file() {
            continue;
        }
        if meta.len() > MAX_FILE_BYTES {
            return Err(PolicyError::Io {
                path,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, "larger than 1 MiB"),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        files.push(File { name, path, text });
    }
    files.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    Ok(files)
}

/// The message and position of the first labelled span of a Cedar diagnostic.
fn describe(diag: &dyn Diagnostic, text: &str) -> (String, Option<SourcePos>) {
    let pos = diag
        .labels()
        .and_then(|mut labels| labels.next())
        .map(|label| SourcePos::of_offset(text, label.offset()));
    let mut message = diag.to_string();
    if let Some(help) = diag.help() {
        message.push_str(&format!(" ({help})"));
    }
    (message, pos)
}

fn parse_schema(file: &File) -> Result<Schema, PolicyError> {
    match Schema::from_cedarschema_str(&file.text) {
        Ok((schema, _warnings)) => Ok(schema),
        Err(err) => {
            // The outer error often only says "failed to parse schema"; its related errors carry
            // the span.
            let inner: Option<&dyn Diagnostic> = err.related().and_then(|mut r| r.next());
            let (mut message, mut pos) = describe(&err, &file.text);
            if let Some(inner) = inner {
                let (m, p) = describe(inner, &file.text);
                message = format!("{message}: {m}");
                pos = pos.or(p);
            }
            Err(PolicyError::Schema {
                file: file.path.clone(),
                pos,
                message,
            })
        }
    }
}

/// Parses one rule file and checks every rule's annotations.
fn parse_rules(file: &File) -> Result<Vec<(cedar_policy::Policy, RuleMeta)>, PolicyError> {
    let set = PolicySet::from_str(&file.text).map_err(|errs| {
        let first: &dyn Diagnostic = errs
            .iter()
            .next()
            .map_or(&errs as &dyn Diagnostic, |e| e as &dyn Diagnostic);
        let (message, pos) = describe(first, &file.text);
        PolicyError::Syntax {
            file: file.path.clone(),
            pos,
            message,
        }
    })?;
    let starts = statement_starts(&file.text);
    let position = |index: usize| {
        starts
            .get(index)
            .map(|&offset| SourcePos::of_offset(&file.text, offset))
    };
    if let Some(template) = set.templates().next() {
        let index = default_index(template.id());
        return Err(PolicyError::Annotation {
            file: file.path.clone(),
            pos: index.and_then(position),
            problem: AnnotationProblem::Template,
        });
    }
    let mut out = Vec::new();
    for policy in set.policies() {
        let index = default_index(policy.id());
        let fail = |problem| PolicyError::Annotation {
            file: file.path.clone(),
            pos: index.and_then(position),
            problem,
        };
        let id = policy
            .annotation("id")
            .ok_or_else(|| fail(AnnotationProblem::Missing("id")))?;
        if !valid_rule_id(id) {
            return Err(fail(AnnotationProblem::BadId(id.to_owned())));
        }
        let category = policy
            .annotation("category")
            .ok_or_else(|| fail(AnnotationProblem::Missing("category")))?;
        let category = Category::parse(category)
            .ok_or_else(|| fail(AnnotationProblem::UnknownCategory(category.to_owned())))?;
        let reason = policy
            .annotation("reason")
            .ok_or_else(|| fail(AnnotationProblem::Missing("reason")))?;
        let obligation = policy.annotation("obligation").map(str::to_owned);
        if obligation.is_some() && policy.effect() == Effect::Forbid {
            return Err(fail(AnnotationProblem::ObligationOnForbid));
        }
        let meta = RuleMeta {
            id: RuleId::new(id.to_owned()),
            category,
            reason: reason.to_owned(),
            obligation,
            effect: policy.effect(),
            file: file.name.clone(),
        };
        out.push((index, policy.clone(), meta));
    }
    // Report problems in source order on the next load, and keep the order stable.
    out.sort_by_key(|(index, _, _)| *index);
    Ok(out
        .into_iter()
        .map(|(_, policy, meta)| (policy, meta))
        .collect())
}

/// Validates one file's rules (strict mode checks each rule on its own, so per file is the same
/// as all at once, and the file is known).
fn validate(
    validator: &Validator,
    file: &File,
    rules: &[(cedar_policy::Policy, RuleMeta)],
) -> Result<(), PolicyError> {
    let mut set = PolicySet::new();
    for (policy, meta) in rules {
        // Fresh ids within one file: a duplicate is reported by the caller with both files.
        if set
            .add(policy.new_id(PolicyId::new(meta.id.as_str())))
            .is_err()
        {
            return Err(PolicyError::DuplicateRuleId {
                id: meta.id.as_str().to_owned(),
                first: file.path.clone(),
                second: file.path.clone(),
            });
        }
    }
    let result = validator.validate(&set, ValidationMode::Strict);
    if let Some(err) = result.validation_errors().next() {
        let (message, pos) = describe(err, &file.text);
        return Err(PolicyError::Validation {
            file: file.path.clone(),
            pos,
            rule: err.policy_id().to_string(),
            message,
        });
    }
    Ok(())
}

/// `policy7` → 7: the index Cedar gives the n-th statement of a file.
fn default_index(id: &PolicyId) -> Option<usize> {
    id.to_string()
        .strip_prefix("policy")
        .and_then(|n| n.parse().ok())
}

/// Byte offsets where each statement of a Cedar file begins (skipping comments and whitespace;
/// a statement ends at a `;` outside string literals).
fn statement_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    let mut in_statement = false;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|&c| c != b'\n') {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
                i += 1;
                while let Some(&c) = bytes.get(i) {
                    i += if c == b'\\' { 2 } else { 1 };
                    if c == b'"' {
                        break;
                    }
                }
                continue;
            }
            b';' => in_statement = false,
            c if c.is_ascii_whitespace() => {}
            _ => {
                if !in_statement {
                    starts.push(i);
                    in_statement = true;
                }
            }
        }
        i += 1;
    }
    starts
}

fn valid_rule_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_starts_skip_comments_and_strings() {
        let text = "// a; comment\n@id(\"a;b\")\npermit(principal, action, resource);\n  forbid(principal, action, resource);";
        let starts = statement_starts(text);
        assert_eq!(starts.len(), 2);
        assert_eq!(
            SourcePos::of_offset(text, starts[0]),
            SourcePos { line: 2, column: 1 }
        );
        assert_eq!(
            SourcePos::of_offset(text, starts[1]),
            SourcePos { line: 4, column: 3 }
        );
    }

    #[test]
    fn hash_is_order_independent_and_sensitive_to_names_and_content() {
        let a = BundleHash::compute([("a.cedar", &b"x"[..]), ("b.cedar", &b"y"[..])]);
        let b = BundleHash::compute([("b.cedar", &b"y"[..]), ("a.cedar", &b"x"[..])]);
        assert_eq!(a, b);
        assert_ne!(
            a,
            BundleHash::compute([("a.cedar", &b"y"[..]), ("b.cedar", &b"x"[..])])
        );
        assert_ne!(a, BundleHash::compute([("a.cedar", &b"x"[..])]));
    }

    #[test]
    fn hash_known_answer() {
        // Computed independently with Python's hashlib:
        // sha256(b"a.cedar\0" + sha256(b"x") + b"b.cedar\0" + sha256(b"y")).
        let h = BundleHash::compute([("b.cedar", &b"y"[..]), ("a.cedar", &b"x"[..])]);
        assert_eq!(
            h.to_hex(),
            "fec81eb62e6b302be597b0e538fb9b2f04156859626715dc02df805f80d17537"
        );
        let h = BundleHash::compute([("a.cedar", &b"x"[..])]);
        assert_eq!(
            h.to_hex(),
            "9a062dcadbee5968a99a0d1dd0617aa0499d2a88ce98925b156441a2af91b78e"
        );
    }
}
