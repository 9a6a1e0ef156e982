//! `vouch policy check` (validate the bundle, print its hash) and `vouch policy eval` (judge one
//! imagined call and print the decision), so rules can be tried without traffic; `vouch policy
//! replay` (in `policy_replay.rs`) judges recorded traffic again.

use std::path::{Path, PathBuf};

use crate::inference::Manifest;
use crate::policy::{detect, CallContext, CallerRegistry, Decision, ModelFacts, PolicyEngine};

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
    /// Judge every call a log records again with a bundle, and report which decisions would
    /// change, by rule, caller and model (exit 6 when some would).
    Replay(super::policy_replay::ReplayArgs),
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
    #[arg(long, conflicts_with = "post")]
    pub confidence: Option<f64>,
    /// Judge after inference without a probability (the model gave none).
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
        Command::Replay(a) => super::policy_replay::replay_command(a),
    }
}

fn load(policies: &Path) -> Result<PolicyEngine, ExitCode> {
    PolicyEngine::load(policies).map_err(|e| Failure::from(&e).report("policy"))
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
        Ok(judged) => {
            print_decision(&args, &judged);
            if judged.decision.is_allowed() {
                ExitCode::Ok
            } else {
                ExitCode::Denied
            }
        }
        Err(failure) if args.json => {
            // With --json, a failure is JSON too, on standard output where the answer would be.
            println!(
                "{}",
                serde_json::json!({"error": failure.to_string(), "exit": failure.exit_code() as u8})
            );
            failure.exit_code()
        }
        Err(failure) => failure.report("policy"),
    }
}

/// One judged call and what it was judged on.
struct Judged {
    decision: Decision,
    engine: PolicyEngine,
    pii: detect::PiiReport,
    /// The data categories the rules saw: declared, detected and the model's own.
    categories: Vec<&'static str>,
}

fn try_eval(args: &EvalArgs) -> Result<Judged, Failure> {
    let engine = PolicyEngine::load(&args.policies).map_err(|e| Failure::from(&e))?;
    let registry = CallerRegistry::load(&args.callers).map_err(|e| Failure::from(&e))?;
    let caller = registry.get(&args.caller).ok_or_else(|| {
        Failure::bad_input(format_args!(
            "no caller {:?} in {}",
            args.caller,
            args.callers.display()
        ))
    })?;
    let (name, version) = match args.model.split_once(':') {
        Some((n, v)) => (n, Some(v)),
        None => (args.model.as_str(), None),
    };
    // A name, not a path: the manifest is looked up under --models.
    if !crate::inference::is_model_name(name) {
        return Err(Failure::usage(format!(
            "--model {name:?} is not a model name ([a-z0-9][a-z0-9._-]*, optionally :VERSION); \
             give the folder of manifests with --models"
        )));
    }
    let path = args.models.join(name).join("manifest.toml");
    let manifest = Manifest::from_file(&path).map_err(Failure::bad_input)?;
    let version = version.unwrap_or(&manifest.default_version);
    let version = manifest.version(version).ok_or_else(|| {
        Failure::bad_input(format_args!("model {name} has no version {version:?}"))
    })?;
    let params: serde_json::Value = serde_json::from_str(&args.context)
        .map_err(|e| Failure::bad_input(format_args!("--context is not JSON: {e}")))?;
    let serde_json::Value::Object(params) = params else {
        return Err(Failure::bad_input(
            "--context must be a JSON object (the request's `parameters`)",
        ));
    };
    let mut texts = detect::parameter_texts(&params);
    texts.extend(args.text.iter().map(String::as_str));
    let pii = detect::scan(texts);
    let input_bytes = args
        .input_bytes
        .unwrap_or_else(|| args.text.iter().map(|t| t.len() as u64).sum());
    let ctx = CallContext::from_parameters(&params)
        .map_err(|e| Failure::from(&e))?
        .with_pii(pii.clone())
        .with_input_bytes(input_bytes);
    let model = crate::server::model_description(&manifest, version);
    let facts = ModelFacts::new(&model).map_err(|e| Failure::from(&e))?;
    let categories = ctx
        .categories(facts.input_categories())
        .iter()
        .map(|c| c.as_str())
        .collect();
    let decision = if args.post || args.confidence.is_some() {
        engine.decide_post_with(caller, &facts, &ctx, args.confidence)
    } else {
        engine.decide_with(caller, &facts, &ctx)
    }
    .map_err(|e| Failure::from(&e))?;
    Ok(Judged {
        decision,
        engine,
        pii,
        categories,
    })
}

fn print_decision(args: &EvalArgs, judged: &Judged) {
    let Judged {
        decision: d,
        engine,
        pii,
        categories,
    } = judged;
    if args.json {
        let out = serde_json::json!({
            "decision": d.outcome,
            "rules": d.rules,
            "reasons": d.reasons,
            "obligations": d.obligations,
            "data_categories": categories,
            "pii": pii.counts(),
            "pii_scan_complete": !pii.truncated(),
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
    if pii.truncated() {
        println!(
            "  (scan incomplete: only the first {} bytes were scanned; the rest may hold more)",
            pii.scanned_bytes()
        );
    }
    println!(
        "data categories the rules saw: {}",
        if categories.is_empty() {
            "none".to_owned()
        } else {
            categories.join(", ")
        }
    );
    println!("policy bundle: {}", engine.bundle_hash());
}
