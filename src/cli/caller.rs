//! `vouch caller add`: create an API key for a caller (a new caller, or a new key for an existing
//! one), store only its SHA-256 in the caller registry, and print the key once.

use std::path::PathBuf;

use crate::policy::{Added, CallerRecord, CallerRegistry, PolicyError, Role};

use super::failure::Failure;
use super::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a key for a caller and print it once (stdout); the file keeps only its hash. For a
    /// caller not yet in the file, --org, --role, --jurisdiction and --terms-version are needed;
    /// for one already in it, only --id and --file are taken (its attributes are changed by
    /// editing the file).
    Add(AddArgs),
}

#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// Caller id (`[a-z0-9][a-z0-9._-]*`).
    #[arg(long)]
    pub id: String,
    /// Organisation the caller belongs to.
    #[arg(long)]
    pub org: Option<String>,
    /// Role (repeatable): caller, regulator, admin.
    #[arg(long = "role", value_enum)]
    pub roles: Vec<Role>,
    /// Commercial tier (e.g. free, standard, enterprise); `standard` when not given.
    #[arg(long)]
    pub tier: Option<String>,
    /// ISO 3166-1 alpha-2 code of the caller's jurisdiction (e.g. DE, US, CN).
    #[arg(long)]
    pub jurisdiction: Option<String>,
    /// Version of the terms of use the caller has accepted.
    #[arg(long)]
    pub terms_version: Option<String>,
    /// The caller has human oversight in place (needed for high-risk models).
    #[arg(long)]
    pub human_oversight: bool,
    /// A licence the caller holds (repeatable).
    #[arg(long = "licence")]
    pub licences: Vec<String>,
    /// The caller registry (created if missing).
    #[arg(long, default_value = "config/callers.toml")]
    pub file: PathBuf,
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Add(a) => add(a),
    }
}

fn add(a: AddArgs) -> ExitCode {
    let exists = a.file.exists()
        && match CallerRegistry::load(&a.file) {
            Ok(reg) => reg.get(&a.id).is_some(),
            Err(e) => return failure(&e),
        };
    if exists {
        let given = attributes_given(&a);
        if !given.is_empty() {
            eprintln!(
                "error: caller {} is already in {}; `caller add` only adds a key to an existing \
                 caller and would not apply {}: edit its attributes in the file, or leave them \
                 out to add a key",
                a.id,
                a.file.display(),
                given.join(", ")
            );
            return ExitCode::Usage;
        }
    } else {
        let mut missing = Vec::new();
        if a.org.is_none() {
            missing.push("--org");
        }
        if a.roles.is_empty() {
            missing.push("--role");
        }
        if a.jurisdiction.is_none() {
            missing.push("--jurisdiction");
        }
        if a.terms_version.is_none() {
            missing.push("--terms-version");
        }
        if !missing.is_empty() {
            eprintln!(
                "error: caller {} is new; it needs {}",
                a.id,
                missing.join(", ")
            );
            return ExitCode::Usage;
        }
    }
    let roles = once_each(a.roles, "--role", |r| r.as_str().to_string());
    let licences = once_each(a.licences, "--licence", String::clone);
    let record = CallerRecord {
        id: a.id.clone(),
        organisation: a.org.unwrap_or_default(),
        roles,
        tier: a.tier.unwrap_or_else(|| "standard".to_string()),
        jurisdiction: a.jurisdiction.unwrap_or_default(),
        terms_version: a.terms_version.unwrap_or_default(),
        human_oversight: a.human_oversight,
        licences,
        credentials: Vec::new(),
    };
    match CallerRegistry::add(&a.file, record) {
        Ok((key, added)) => {
            let what = match added {
                Added::Caller => "added caller",
                Added::Credential => "added a key for existing caller",
            };
            eprintln!(
                "{what} {} with credential {} to {}; the key below is shown only this once",
                a.id,
                key.credential(),
                a.file.display()
            );
            println!("{}", key.expose());
            ExitCode::Ok
        }
        Err(e) => failure(&e),
    }
}

/// The attribute flags given on the command line.
fn attributes_given(a: &AddArgs) -> Vec<&'static str> {
    let mut given = Vec::new();
    for (flag, set) in [
        ("--org", a.org.is_some()),
        ("--role", !a.roles.is_empty()),
        ("--tier", a.tier.is_some()),
        ("--jurisdiction", a.jurisdiction.is_some()),
        ("--terms-version", a.terms_version.is_some()),
        ("--human-oversight", a.human_oversight),
        ("--licence", !a.licences.is_empty()),
    ] {
        if set {
            given.push(flag);
        }
    }
    given
}

/// `values` without repeats (first occurrence kept), saying on standard error which were given
/// more than once.
fn once_each<T: PartialEq>(values: Vec<T>, flag: &str, name: impl Fn(&T) -> String) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(values.len());
    for v in values {
        if out.contains(&v) {
            eprintln!(
                "note: {flag} {} was given more than once; it is recorded once",
                name(&v)
            );
        } else {
            out.push(v);
        }
    }
    out
}

fn failure(err: &PolicyError) -> ExitCode {
    Failure::from(err).report("caller")
}
