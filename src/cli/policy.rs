//! `vouch policy check` (validate the bundle, print its hash) and `vouch policy eval` (judge one
//! imagined call and print the decision), so rules can be tried without traffic.

use std::path::{Path, PathBuf};

use crate::inference::Manifest;
use crate::policy::{detect, CallContext, CallerRegistry, Decision, PolicyEngine, PolicyError};

use super::failure::Failure;
use super::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Validate the policy bundle against its schema and print its hash.
    Check(CheckArgs),
    /// Judge one call (caller × model × context) and print the decision, rules and obligations.
    Eval(EvalArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The policy bundle folder.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// Print JSON (`{"policy": hash, "files": [...], "rules": [...]}`).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    /// Caller id, as in the caller registry.
    #[arg(long)]
    pub caller: String,
    /// Model as NAME or NAME:VERSION (default version from the manifest).
    #[arg(long)]
    pub model: String,
    /// The request's v2 `parameters` object, as JSON (e.g. '{"purpose":"research"}').
    #[arg(long, default_value = "{}")]
    pub context: String,
    /// Text to scan for personal data as if it were a BYTES input (repeatable).
    #[arg(long)]
    pub text: Vec<String>,
    /// Input size in bytes (default: the total length of the texts).
    #[arg(long)]
    pub input_bytes: Option<u64>,
    /// Judge after inference (post-inference rules), with this top-class probability.
    #[arg(long)]
    pub confidence: Option<f64>,
    /// Judge after inference without a probability.
    #[arg(long)]
    pub post: bool,
    /// The caller registry.
    #[arg(long, default_value = "config/callers.toml")]
    pub callers: PathBuf,
    /// The folder holding `<model>/manifest.toml`.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// The policy bundle folder.
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> ExitCode {
    match args.command {
        Command::Check(a) => check(a),
        Command::Eval(a) => eval(a),
    }
}

fn failure(err: &PolicyError) -> ExitCode {
    Failure::from(err).report("policy")
}

fn load(policies: &Path) -> Result<PolicyEngine, ExitCode> {
    PolicyEngine::load(policies).map_err(|e| failure(&e))
}

fn check(args: CheckArgs) -> ExitCode {
    let engine = match load(&args.policies) {
        Ok(e) => e,
        Err(code) => return code,
    };
    if args.json {
        let rules: Vec<_> = engine
            .rules()
            .into_iter()
            .map(|r| {
                serde_json::json!({
                    "id": r.id, "category": r.category, "reason": r.reason,
                    "obligation": r.obligation, "file": r.file,
                })
            })
            .collect();
        let out = serde_json::json!({"policy": engine.bundle_hash().to_hex(), "files": engine.files(), "rules": rules});
        println!("{out}");
    } else {
        println!("policy bundle {} is valid", args.policies.display());
        println!("files: {}", engine.files().join(", "));
        println!("rules: {}", engine.rules().len());
        println!("terms version in force: {}", engine.terms_version());
        println!("hash: {}", engine.bundle_hash());
    }
    ExitCode::Ok
}

fn eval(args: EvalArgs) -> ExitCode {
    match try_eval(&args) {
        Ok((decision, engine, pii)) => {
            print_decision(&args, &decision, &engine, &pii);
            if decision.is_allowed() {
                ExitCode::Ok
            } else {
                ExitCode::Denied
            }
        }
        Err(code) => code,
    }
}

fn bad(message: String) -> ExitCode {
    eprintln!("vouch policy: {message}");
    ExitCode::BadInput
}

fn try_eval(args: &EvalArgs) -> Result<(Decision, PolicyEngine, detect::PiiReport), ExitCode> {
    let engine = load(&args.policies)?;
    let registry = CallerRegistry::load(&args.callers).map_err(|e| failure(&e))?;
    let caller = registry.get(&args.caller).ok_or_else(|| {
        bad(format!(
            "no caller {:?} in {}",
            args.caller,
            args.callers.display()
        ))
    })?;
    let (name, version) = match args.model.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (args.model.as_str(), None),
    };
    let path = args.models.join(name).join("manifest.toml");
    let manifest = Manifest::from_file(&path).map_err(|e| bad(e.to_string()))?;
    let version = version.unwrap_or(&manifest.default_version);
    let version = manifest
        .version(version)
        .ok_or_else(|| bad(format!("model {name} has no version {version:?}")))?;
    let params: serde_json::Value = serde_json::from_str(&args.context)
        .map_err(|e| bad(format!("--context is not JSON: {e}")))?;
    let serde_json::Value::Object(params) = params else {
        return Err(bad(
            "--context must be a JSON object (the request's `parameters`)".into(),
        ));
    };
    let mut texts = detect::parameter_texts(&params);
    texts.extend(args.text.iter().map(String::as_str));
    let pii = detect::scan(texts);
    let input_bytes = args
        .input_bytes
        .unwrap_or_else(|| args.text.iter().map(|t| t.len() as u64).sum());
    let ctx = CallContext::from_parameters(&params)
        .map_err(|e| failure(&e))?
        .with_pii(pii.clone())
        .with_input_bytes(input_bytes);
    let model = crate::server::model_description(&manifest, version);
    let decision = if args.post || args.confidence.is_some() {
        engine.decide_post(caller, &model, &ctx, args.confidence)
    } else {
        engine.decide(caller, &model, &ctx)
    }
    .map_err(|e| failure(&e))?;
    Ok((decision, engine, pii))
}

fn print_decision(args: &EvalArgs, d: &Decision, engine: &PolicyEngine, pii: &detect::PiiReport) {
    if args.json {
        let out = serde_json::json!({
            "decision": d.outcome,
            "rules": d.rules,
            "reasons": d.reasons,
            "obligations": d.obligations,
            "pii": pii.counts(),
            "policy": engine.bundle_hash().to_hex(),
        });
        println!("{out}");
        return;
    }
    println!("decision: {}", d.outcome);
    println!("rules:");
    for r in &d.reasons {
        match &r.obligation {
            Some(o) => println!("  {} [{}] {} (obligation: {o})", r.id, r.category, r.reason),
            None => println!("  {} [{}] {}", r.id, r.category, r.reason),
        }
    }
    if d.obligations.is_empty() {
        println!("obligations: none");
    } else {
        println!("obligations: {}", d.obligations.join(", "));
    }
    let found: Vec<String> = pii
        .counts()
        .iter()
        .map(|(k, n)| format!("{k} ×{n}"))
        .collect();
    println!(
        "personal data detected: {}",
        if found.is_empty() {
            "none".to_owned()
        } else {
            found.join(", ")
        }
    );
    println!("policy bundle: {}", engine.bundle_hash());
}
