//! `vouch policy replay`: every call a log records, judged again by a policy bundle with the
//! facts its entry holds, and a report of the decisions that would change — by rule, caller and
//! model — so the impact of a rule change is known before it is deployed, and a recorded decision
//! can be checked against the bundle whose hash it carries (`docs/POLICIES.md`, "Replaying the
//! ledger").

use std::collections::{BTreeMap, HashMap};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::inference::Manifest;
use crate::ledger::{
    for_each_export_entry, for_each_stored_entry, read_verifier_key, verify_blocks_from,
    verify_export, Entry, Seq, WalkError,
};
use crate::policy::replay::{replay, Change, NotReplayed, Replayed, Verdict};
use crate::policy::{CallerRegistry, ModelFacts, PolicyEngine};

use super::failure::Failure;
use super::ExitCode;

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("log").required(true).args(["export", "data"])))]
pub struct ReplayArgs {
    /// An export of the log (the JSON lines of `GET /v1/export`), read entry by entry.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// A ledger folder (`--data` of `vouch serve`), read from its blocks file without a lock, so
    /// a server may be running on it.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Verify the log with this verifier key before replaying it (else the log is taken as it is:
    /// `vouch verify` proves it).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// The policy bundle to judge with (the one proposed, or the one in force).
    #[arg(long, default_value = "policies")]
    pub policies: PathBuf,
    /// The caller registry.
    #[arg(long, default_value = "config/callers.toml")]
    pub callers: PathBuf,
    /// The folder holding `<model>/manifest.toml`.
    #[arg(long, default_value = "models")]
    pub models: PathBuf,
    /// Fail (exit 1) if any call recorded under this bundle's hash is now decided otherwise: the
    /// recorded decisions are not what their bundle gives with these registries.
    #[arg(long)]
    pub check: bool,
    /// How many changed calls to list.
    #[arg(long, default_value_t = 20)]
    pub show: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// A verdict as the report shows it.
#[derive(Debug, Serialize)]
struct VerdictOut {
    decision: &'static str,
    rules: Vec<String>,
    obligations: Vec<String>,
}

impl VerdictOut {
    fn of(v: &Verdict) -> VerdictOut {
        VerdictOut {
            decision: if v.allowed { "allow" } else { "deny" },
            rules: v.rules.iter().map(|r| r.to_string()).collect(),
            obligations: v.obligations.clone(),
        }
    }
}

/// One changed call.
#[derive(Debug, Serialize)]
struct ChangedCall {
    seq: u64,
    caller: String,
    model: String,
    change: &'static str,
    recorded: VerdictOut,
    now: VerdictOut,
    /// Whether the entry was recorded under the bundle judged with.
    same_bundle: bool,
}

#[derive(Debug, Default, Serialize)]
struct Tally {
    replayed: u64,
    changed: u64,
}

#[derive(Debug, Default, Serialize)]
struct RuleTally {
    /// Calls this rule now decides and did not.
    gained: u64,
    /// Calls this rule decided and no longer does.
    lost: u64,
}

#[derive(Debug, Default, Serialize)]
struct Report {
    policy: String,
    entries: u64,
    replayed: u64,
    unchanged: u64,
    changed: BTreeMap<&'static str, u64>,
    not_replayed: BTreeMap<&'static str, u64>,
    /// The calls recorded under the bundle judged with, and how many of them changed.
    same_bundle: Tally,
    /// Entries whose model file's digest is not the manifest's now (judged with today's facts).
    model_file_changed: u64,
    by_rule: BTreeMap<String, RuleTally>,
    by_caller: BTreeMap<String, Tally>,
    by_model: BTreeMap<String, Tally>,
    calls: Vec<ChangedCall>,
    /// Set only with `--check`: whether every call recorded under the bundle replayed unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    check_passed: Option<bool>,
}

/// The facts of each model version met, loaded once.
struct Models<'a> {
    dir: &'a Path,
    loaded: HashMap<(String, String), Option<(ModelFacts, String)>>,
}

impl Models<'_> {
    /// The model's facts and its file's digest per manifest; `None` when there is no such model
    /// version (or its manifest cannot be read: the first failure is kept for the report).
    fn get(&mut self, name: &str, version: &str) -> Option<&(ModelFacts, String)> {
        let dir = self.dir;
        self.loaded
            .entry((name.to_string(), version.to_string()))
            .or_insert_with(|| {
                if !crate::inference::is_model_name(name) {
                    return None;
                }
                let manifest = Manifest::from_file(&dir.join(name).join("manifest.toml")).ok()?;
                let v = manifest.version(version)?;
                let facts =
                    ModelFacts::new(&crate::server::model_description(&manifest, v)).ok()?;
                Some((facts, v.sha256.clone()))
            })
            .as_ref()
    }
}

pub fn replay_command(args: ReplayArgs) -> ExitCode {
    match run(&args) {
        Ok(report) => {
            if args.json {
                println!("{}", serde_json::to_string(&report).unwrap_or_default());
            } else {
                print_report(&args, &report);
            }
            match report.check_passed {
                Some(false) => ExitCode::VerificationFailed,
                _ if report.changed.values().sum::<u64>() > 0 => ExitCode::Changed,
                _ => ExitCode::Ok,
            }
        }
        Err(failure) if args.json => {
            println!(
                "{}",
                serde_json::json!({"error": failure.to_string(), "exit": failure.exit_code() as u8})
            );
            failure.exit_code()
        }
        Err(failure) => failure.report("policy replay"),
    }
}

fn run(args: &ReplayArgs) -> Result<Report, Failure> {
    let engine = PolicyEngine::load(&args.policies).map_err(|e| Failure::from(&e))?;
    let registry = CallerRegistry::load(&args.callers).map_err(|e| Failure::from(&e))?;
    if let Some(key) = &args.key {
        verify_first(args, key)?;
    }
    let mut models = Models {
        dir: &args.models,
        loaded: HashMap::new(),
    };
    let policy = engine.bundle_hash().to_hex();
    let mut report = Report {
        policy: policy.clone(),
        check_passed: args.check.then_some(true),
        ..Report::default()
    };
    let mut unreadable: Option<String> = None;
    let mut each = |seq: Seq, bytes: &[u8]| {
        report.entries += 1;
        let entry = match Entry::from_bytes(bytes) {
            Ok(e) => e,
            Err(e) => {
                unreadable.get_or_insert_with(|| format!("entry at seq {seq}: {e}"));
                return;
            }
        };
        let outcome = judge(&engine, &registry, &mut models, &entry);
        report.count(&entry, outcome, &policy, args.show);
    };
    match (&args.export, &args.data) {
        (Some(path), _) => {
            let file = std::fs::File::open(path).map_err(|e| Failure::file(path, &e))?;
            for_each_export_entry(BufReader::new(file), &mut each)
                .map_err(|e| Failure::bad_input(format_args!("{}: {e}", path.display())))?;
        }
        (None, Some(dir)) => {
            for_each_stored_entry(dir, &mut each).map_err(|e| walk_failure(&e))?;
        }
        (None, None) => return Err(Failure::usage("give --export FILE or --data DIR")),
    }
    if let Some(why) = unreadable {
        return Err(Failure::bad_input(format_args!(
            "the log holds an entry that is not one: {why} (run `vouch verify`)"
        )));
    }
    if args.check {
        report.check_passed = Some(report.same_bundle.changed == 0);
    }
    Ok(report)
}

/// A ledger folder that could not be read, said with the exit code of its kind.
fn walk_failure(e: &WalkError) -> Failure {
    match e {
        WalkError::Verify(_) => Failure::verification(e.to_string()),
        WalkError::Missing { .. } => Failure::bad_input(e),
        _ => Failure::io(e),
    }
}

/// Verifies the log with the key before it is replayed.
fn verify_first(args: &ReplayArgs, key: &Path) -> Result<(), Failure> {
    let key = read_verifier_key(key).map_err(|e| Failure::from(crate::Error::from(e)))?;
    let result = match (&args.export, &args.data) {
        (Some(path), _) => {
            let file = std::fs::File::open(path).map_err(|e| Failure::file(path, &e))?;
            verify_export(BufReader::new(file), &key, None, &mut |_| {})
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        (None, Some(dir)) => match verify_blocks_from(dir, &key, None, &mut |_| {}) {
            Ok(_) => Ok(()),
            Err(e @ WalkError::Verify(_)) => Err(e.to_string()),
            Err(e) => return Err(walk_failure(&e)),
        },
        (None, None) => Ok(()),
    };
    result.map_err(|e| Failure::verification(format!("the log does not verify: {e}")))
}

fn judge(
    engine: &PolicyEngine,
    registry: &CallerRegistry,
    models: &mut Models<'_>,
    entry: &Entry,
) -> Result<(Replayed, bool), NotReplayed> {
    // An audit read or an entry without declarations is known as such before any lookup.
    crate::policy::replay::recorded_context(entry)?;
    let model = entry.model().ok_or(NotReplayed::NoModel)?;
    let caller = entry
        .caller()
        .and_then(|c| registry.get(c.as_str()))
        .ok_or(NotReplayed::UnknownCaller)?;
    let (facts, sha256) = models
        .get(&model.name, &model.version)
        .ok_or(NotReplayed::UnknownModel)?;
    let file_changed = model.sha256.to_hex() != *sha256;
    Ok((replay(engine, caller, facts, entry)?, file_changed))
}

impl Report {
    fn count(
        &mut self,
        entry: &Entry,
        outcome: Result<(Replayed, bool), NotReplayed>,
        policy: &str,
        show: usize,
    ) {
        let (replayed, file_changed) = match outcome {
            Ok(r) => r,
            Err(why) => {
                *self.not_replayed.entry(why.as_str()).or_default() += 1;
                return;
            }
        };
        self.replayed += 1;
        self.model_file_changed += u64::from(file_changed);
        let change = replayed.change();
        let changed = change != Change::Unchanged;
        let caller = entry.caller().map_or_else(String::new, |c| c.to_string());
        let model = entry
            .model()
            .map_or_else(String::new, |m| format!("{}:{}", m.name, m.version));
        let same_bundle = entry.policy().map(|h| h.to_hex()).as_deref() == Some(policy);
        for (tally, key) in [(&mut self.by_caller, &caller), (&mut self.by_model, &model)] {
            let t = tally.entry(key.clone()).or_default();
            t.replayed += 1;
            t.changed += u64::from(changed);
        }
        if same_bundle {
            self.same_bundle.replayed += 1;
            self.same_bundle.changed += u64::from(changed);
        }
        if !changed {
            self.unchanged += 1;
            return;
        }
        *self.changed.entry(change.as_str()).or_default() += 1;
        let (was, now) = (&replayed.recorded.rules, &replayed.now.rules);
        for rule in now.iter().filter(|r| !was.contains(r)) {
            self.by_rule.entry(rule.to_string()).or_default().gained += 1;
        }
        for rule in was.iter().filter(|r| !now.contains(r)) {
            self.by_rule.entry(rule.to_string()).or_default().lost += 1;
        }
        if self.calls.len() < show {
            self.calls.push(ChangedCall {
                seq: entry.seq().get(),
                caller,
                model,
                change: change.as_str(),
                recorded: VerdictOut::of(&replayed.recorded),
                now: VerdictOut::of(&replayed.now),
                same_bundle,
            });
        }
    }
}

fn print_report(args: &ReplayArgs, r: &Report) {
    let changed: u64 = r.changed.values().sum();
    println!(
        "replayed {} of {} entries with the bundle {} ({})",
        r.replayed,
        r.entries,
        args.policies.display(),
        r.policy
    );
    println!("  unchanged: {}", r.unchanged);
    let parts: Vec<String> = r.changed.iter().map(|(k, n)| format!("{n} {k}")).collect();
    println!(
        "  changed:   {changed}{}",
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    );
    if !r.not_replayed.is_empty() {
        let parts: Vec<String> = r
            .not_replayed
            .iter()
            .map(|(k, n)| format!("{n} {k}"))
            .collect();
        println!("  not replayed: {}", parts.join(", "));
    }
    println!(
        "  recorded under this bundle: {}, of which changed: {}",
        r.same_bundle.replayed, r.same_bundle.changed
    );
    if r.model_file_changed > 0 {
        println!(
            "  entries whose model file is not the one the manifest names now: {}",
            r.model_file_changed
        );
    }
    if !r.by_rule.is_empty() {
        println!("by rule (calls it now decides / no longer decides):");
        for (rule, t) in &r.by_rule {
            println!("  {rule}: +{} -{}", t.gained, t.lost);
        }
    }
    for (title, tally) in [("by caller", &r.by_caller), ("by model", &r.by_model)] {
        let changed: Vec<_> = tally.iter().filter(|(_, t)| t.changed > 0).collect();
        if !changed.is_empty() {
            println!("{title} (changed of replayed):");
            for (key, t) in changed {
                println!("  {key}: {} of {}", t.changed, t.replayed);
            }
        }
    }
    if !r.calls.is_empty() {
        println!("changed calls (first {}):", r.calls.len());
        for c in &r.calls {
            let rules = |v: &VerdictOut| {
                if v.rules.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", v.rules.join(", "))
                }
            };
            println!(
                "  seq {} {} {}: {}{} -> {}{}",
                c.seq,
                c.caller,
                c.model,
                c.recorded.decision,
                rules(&c.recorded),
                c.now.decision,
                rules(&c.now)
            );
        }
    }
    match r.check_passed {
        Some(true) => println!("check: every call recorded under this bundle replays unchanged"),
        Some(false) => println!(
            "check FAILED: {} calls recorded under this bundle are decided otherwise now",
            r.same_bundle.changed
        ),
        None => {}
    }
}
