//! `vouch audit`: the regulator's client. It runs a query against the audit API, verifies every
//! returned entry's proofs against the page's signed checkpoint and the log's verifier key, checks
//! that checkpoint is consistent with the last one it saw (kept in a state file, as a witness
//! keeps it), checks that its own query was recorded, and only then prints anything.

use std::path::{Path, PathBuf};

use super::failure::{Failure, Kind};
use super::ExitCode;
use crate::ledger::{
    commit_parts, read_verifier_key, Checkpoint, ConsistencyProof, Entry, ProvenEntry, Receipt,
    VerifierKey,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Model,
    Caller,
    Decision,
    Rule,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The service's base URL (e.g. http://127.0.0.1:8080).
    #[arg(long)]
    pub url: String,
    /// A file holding the regulator's API key.
    #[arg(long)]
    pub key_file: PathBuf,
    /// The log's verifier key file (`log.pub`), obtained from the operator out of band.
    #[arg(long)]
    pub key: PathBuf,
    /// Only the calls of this caller id.
    #[arg(long)]
    pub caller: Option<String>,
    /// Only the calls of this model.
    #[arg(long)]
    pub model: Option<String>,
    /// Only this version of `--model`.
    #[arg(long, requires = "model")]
    pub version: Option<String>,
    /// Only calls with this decision (allow, deny or error).
    #[arg(long)]
    pub decision: Option<String>,
    /// Only calls this rule id decided.
    #[arg(long)]
    pub rule: Option<String>,
    /// Only calls at or after this RFC 3339 time.
    #[arg(long)]
    pub from: Option<String>,
    /// Only calls before this RFC 3339 time.
    #[arg(long)]
    pub to: Option<String>,
    /// Stop after this many entries.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Entries per request (1–1000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub page_size: u64,
    /// Counts by model, caller, decision or rule instead of entries.
    #[arg(long, value_enum, conflicts_with_all = ["caller", "model", "version", "decision", "rule", "limit"])]
    pub stats: Option<By>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// With an https:// URL: also trust the CA certificates in this PEM file (the system's roots
    /// are always trusted).
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Where the last checkpoint seen is kept (default: ~/.vouch/audit/<log key id>.checkpoint).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Demand witnesses: answer only from the server's newest checkpoint cosigned by these
    /// witnesses (key files; repeatable), every page proven against it.
    #[arg(long = "witness-key", value_name = "FILE")]
    pub witness_keys: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned [default: all].
    #[arg(long, requires = "witness_keys")]
    pub witness_quorum: Option<usize>,
}

pub fn run(args: Args) -> ExitCode {
    match audit(&args) {
        Ok(()) => ExitCode::Ok,
        Err(failure) => {
            let code = failure.report("audit");
            if failure.kind() == Kind::Verification {
                eprintln!(
                    "vouch audit: the server's answer cannot be trusted; nothing was printed and the state file was not updated"
                );
            }
            code
        }
    }
}

/// The HTTP side: GETs with the bearer key, answers as JSON.
struct Client {
    base: String,
    key: String,
    agent: ureq::Agent,
}

impl Client {
    /// GETs `target` (path and query), returning the body as JSON.
    fn get(&self, target: &str) -> Result<serde_json::Value, Failure> {
        let url = format!("{}{target}", self.base);
        let answer = self
            .agent
            .get(&url)
            .set("Authorization", &format!("Bearer {}", self.key))
            .call();
        match answer {
            Ok(r) => r
                .into_json()
                .map_err(|e| Failure::verification(format!("{url}: the answer is not JSON: {e}"))),
            Err(ureq::Error::Status(code, r)) => {
                let body: serde_json::Value = r.into_json().unwrap_or_default();
                let said = body.get("error").and_then(|e| e.as_str()).unwrap_or("");
                Err(Failure::status(&url, code, said))
            }
            Err(ureq::Error::Transport(t)) => Err(Failure::transport(&url, &t)),
        }
    }
}

fn field<T: serde::de::DeserializeOwned>(v: &serde_json::Value, name: &str) -> Result<T, Failure> {
    serde_json::from_value(v.get(name).cloned().unwrap_or_default())
        .map_err(|e| Failure::verification(format!("the answer's `{name}` is malformed: {e}")))
}

/// The witness side: the last checkpoint seen, and the checks that every new one extends it.
struct Witness<'k> {
    key: &'k VerifierKey,
    path: PathBuf,
    last: Option<(String, Checkpoint)>,
}

impl<'k> Witness<'k> {
    fn load(key: &'k VerifierKey, path: PathBuf) -> Result<Self, Failure> {
        let last = match std::fs::read_to_string(&path) {
            Ok(note) => {
                let cp = Checkpoint::open(&note, key).map_err(|e| {
                    Failure::bad_input(format!(
                        "state file {}: not a checkpoint of this log: {e}",
                        path.display()
                    ))
                })?;
                Some((note, cp))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(Failure::file(&path, &e)),
        };
        Ok(Witness { key, path, last })
    }

    /// Opens `note` and checks it is consistent with the last checkpoint seen; remembers the
    /// larger of the two.
    fn see(&mut self, note: &str, client: &Client) -> Result<Checkpoint, Failure> {
        let cp = Checkpoint::open(note, self.key).map_err(|e| {
            Failure::verification(format!(
                "the checkpoint is not signed by the log's key: {e}"
            ))
        })?;
        if let Some((_, last)) = &self.last {
            // The server's latest checkpoint is smaller than one it signed before: its log lost
            // blocks it had answered for. (A fork at the same or a larger size is caught below.)
            if cp.size < last.size {
                return Err(Failure::verification(format!(
                    "the log was rolled back: the server's latest checkpoint has tree size {}, \
                     fewer than the {} of a checkpoint it signed before (kept in {})",
                    cp.size,
                    last.size,
                    self.path.display()
                )));
            }
            let (old, new) = if last.size <= cp.size {
                (last, &cp)
            } else {
                (&cp, last)
            };
            if old.size == new.size {
                if old.root != new.root {
                    return Err(Failure::verification(format!(
                        "two checkpoints of size {} with different roots {} and {}: the log forked",
                        old.size, old.root, new.root
                    )));
                }
            } else {
                let proof: ConsistencyProof = serde_json::from_value(client.get(&format!(
                    "/v1/proofs/consistency?from={}&to={}",
                    old.size, new.size
                ))?)
                .map_err(|e| {
                    Failure::verification(format!("the consistency proof is malformed: {e}"))
                })?;
                if proof.old_size != old.size || proof.new_size != new.size {
                    return Err(Failure::verification(format!(
                        "asked for a consistency proof {} → {}, got {} → {}",
                        old.size, new.size, proof.old_size, proof.new_size
                    )));
                }
                proof.verify(old.tree_root(), new.tree_root()).map_err(|e| {
                    Failure::verification(format!(
                        "checkpoint of size {} is not consistent with the one of size {} seen before: {e}",
                        new.size, old.size
                    ))
                })?;
            }
        }
        if self.last.as_ref().is_none_or(|(_, l)| cp.size > l.size) {
            self.last = Some((note.to_string(), cp.clone()));
        }
        Ok(cp)
    }

    /// Writes the last checkpoint seen (to a temporary file, then renamed).
    fn save(&self) -> Result<(), Failure> {
        let Some((note, _)) = &self.last else {
            return Ok(());
        };
        let io = |e: std::io::Error| Failure::file(&self.path, &e);
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, note).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

fn default_state(key: &VerifierKey) -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".vouch")
        .join("audit")
        .join(format!("{:08x}.checkpoint", key.id()))
}

fn read_api_key(path: &Path) -> Result<String, Failure> {
    let key = std::fs::read_to_string(path).map_err(|e| Failure::file(path, &e))?;
    let key = key.trim().to_string();
    if key.is_empty() || key.contains(char::is_whitespace) {
        return Err(Failure::bad_input(format!(
            "{}: expected one API key",
            path.display()
        )));
    }
    Ok(key)
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Checks the receipt of the regulator's own query: it verifies, it is an `audit` entry, and its
/// input commitment opens to exactly the request sent.
fn check_recorded(
    answer: &serde_json::Value,
    target: &str,
    key: &VerifierKey,
) -> Result<u64, Failure> {
    let receipt: Receipt = field(answer, "audit_receipt")?;
    let verified = receipt.verify(key).map_err(|e| {
        Failure::verification(format!("the receipt of this query does not verify: {e}"))
    })?;
    let nonce = receipt.nonce.ok_or_else(|| {
        Failure::verification("the receipt of this query has no nonce to open it")
    })?;
    let expected = commit_parts(&nonce, &[format!("GET {target}").as_bytes()]);
    if verified.entry.input() != Some(expected)
        || verified.entry.context().purpose.as_deref() != Some("audit")
    {
        return Err(Failure::verification(format!(
            "the ledger entry recorded for this query (seq {}) does not commit to it",
            verified.entry.seq()
        )));
    }
    Ok(verified.entry.seq().get())
}

fn audit(args: &Args) -> Result<(), Failure> {
    let key = read_verifier_key(&args.key).map_err(Failure::bad_input)?;
    let client = Client {
        base: args.url.trim_end_matches('/').to_string(),
        key: read_api_key(&args.key_file)?,
        agent: super::http::agent(
            &args.url,
            args.ca_file.as_deref(),
            std::time::Duration::from_secs(60),
        )
        .map_err(Failure::bad_input)?,
    };
    // clap holds --page-size to 1..=1000 (a usage error otherwise), so this cannot truncate.
    let page_size = usize::try_from(args.page_size).unwrap_or(1000);
    let state = args.state.clone().unwrap_or_else(|| default_state(&key));
    let mut witness = Witness::load(&key, state)?;
    // With witnesses, every answer is pinned to the newest checkpoint they cosigned.
    let cosigned = match super::witness::demanded(&args.witness_keys, args.witness_quorum)? {
        None => None,
        Some((witnesses, quorum)) => {
            let answer = client.get("/v1/checkpoint")?;
            let note = answer
                .pointer("/cosigned/checkpoint")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| {
                    Failure::verification(
                        "the server has no cosigned checkpoint (no witnesses, or none has \
                         cosigned yet)",
                    )
                })?;
            let names = crate::ledger::cosigned_by(note, &witnesses, quorum).map_err(|e| {
                Failure::verification(format!("the server's cosigned checkpoint: {e}"))
            })?;
            let cp = witness.see(note, &client)?;
            eprintln!(
                "vouch audit: answers proven against the checkpoint of {} cosigned by {}",
                super::counted(cp.size, "block", "blocks"),
                names.join(", ")
            );
            Some(cp)
        }
    };
    let same_as_cosigned = |cp: &Checkpoint| match &cosigned {
        Some(c) if c != cp => Err(Failure::verification(format!(
            "asked for answers under the cosigned checkpoint of {} blocks, got one of {} blocks \
             or another root",
            c.size, cp.size
        ))),
        _ => Ok(()),
    };
    let pin = cosigned
        .as_ref()
        .map_or_else(String::new, |c| format!("&size={}", c.size));
    let mut time_params = String::new();
    for (name, v) in [("from", &args.from), ("to", &args.to)] {
        if let Some(v) = v {
            time_params.push_str(&format!("&{name}={}", enc(v)));
        }
    }
    if let Some(by) = args.stats {
        let by = match by {
            By::Model => "model",
            By::Caller => "caller",
            By::Decision => "decision",
            By::Rule => "rule",
        };
        let target = format!("/v1/stats?by={by}{time_params}{pin}");
        let answer = client.get(&target)?;
        let note: String = field(&answer, "checkpoint")?;
        let cp = witness.see(&note, &client)?;
        same_as_cosigned(&cp)?;
        let recorded = check_recorded(&answer, &target, &key)?;
        let counts: std::collections::BTreeMap<String, u64> = field(&answer, "counts")?;
        witness.save()?;
        print_stats(args.format, by, &counts, &cp, recorded);
        return Ok(());
    }

    let mut filters = String::new();
    for (name, v) in [
        ("caller", &args.caller),
        ("model", &args.model),
        ("version", &args.version),
        ("decision", &args.decision),
        ("rule", &args.rule),
    ] {
        if let Some(v) = v {
            filters.push_str(&format!("&{name}={}", enc(v)));
        }
    }
    filters.push_str(&time_params);
    let mut rows: Vec<Entry> = vec![];
    let mut cursor = 0u64;
    let mut last_cp = None;
    let mut recorded = vec![];
    // Every page after the first is answered against the first page's tree size, so all are
    // proven against one checkpoint and the walk ends even while the log grows.
    let mut pinned = pin;
    loop {
        let want = args
            .limit
            .map_or(page_size, |l| l.saturating_sub(rows.len()).min(page_size));
        if want == 0 {
            break;
        }
        let target = format!("/v1/entries?limit={want}&cursor={cursor}{pinned}{filters}");
        let page = client.get(&target)?;
        let note: String = field(&page, "checkpoint")?;
        let cp = witness.see(&note, &client)?;
        same_as_cosigned(&cp)?;
        recorded.push(check_recorded(&page, &target, &key)?);
        let items: Vec<ProvenEntry> = field(&page, "entries")?;
        if items.len() > want {
            return Err(Failure::verification(format!(
                "asked for at most {want} entries, got {}",
                items.len()
            )));
        }
        for item in items {
            // The page's checkpoint was opened (and checked against the last one seen) above.
            let verified = item
                .verify(&cp)
                .map_err(|e| Failure::verification(format!("entry {}: {e}", item.seq)))?;
            let entry = verified.entry;
            if entry.seq().get() < cursor {
                return Err(Failure::verification(format!(
                    "entry {} repeats or goes back (expected seq ≥ {cursor})",
                    entry.seq()
                )));
            }
            if let Some(why) = mismatch(args, &entry, &verified.header.time) {
                return Err(Failure::verification(format!(
                    "entry {} does not match the query: {why}",
                    entry.seq()
                )));
            }
            cursor = entry.seq().get() + 1;
            rows.push(entry);
        }
        if pinned.is_empty() {
            pinned = format!("&size={}", cp.size);
        } else if last_cp
            .as_ref()
            .is_some_and(|l: &Checkpoint| l.size != cp.size)
        {
            return Err(Failure::verification(format!(
                "asked for pages of tree size {}, got one of size {}",
                last_cp.map_or(0, |l| l.size),
                cp.size
            )));
        }
        last_cp = Some(cp);
        let next: Option<u64> = field(&page, "next_cursor")?;
        match next {
            None => break,
            Some(n) if n < cursor => {
                return Err(Failure::verification(format!(
                    "the next page starts at seq {n}, before seq {cursor} already seen"
                )))
            }
            Some(n) => cursor = n,
        }
    }
    witness.save()?;
    print_entries(args.format, &rows, last_cp.as_ref(), &recorded);
    Ok(())
}

/// Why a verified entry does not satisfy the query's filters, if it does not.
fn mismatch(args: &Args, e: &Entry, time: &str) -> Option<String> {
    if let Some(c) = &args.caller {
        if e.caller().map(|c| c.as_str()) != Some(c.as_str()) {
            return Some(format!(
                "caller {}",
                e.caller().map_or("(none)", |c| c.as_str())
            ));
        }
    }
    if let Some(m) = &args.model {
        let model = e.model();
        if model.map(|m| m.name.as_str()) != Some(m.as_str())
            || args
                .version
                .as_ref()
                .is_some_and(|v| model.map(|m| m.version.as_str()) != Some(v.as_str()))
        {
            return Some(format!(
                "model {}",
                model.map_or_else(
                    || "(none)".to_string(),
                    |m| format!("{}@{}", m.name, m.version)
                )
            ));
        }
    }
    if let Some(d) = &args.decision {
        if e.decision().as_str() != d {
            return Some(format!("decision {}", e.decision().as_str()));
        }
    }
    if let Some(r) = &args.rule {
        if !e.rules().iter().any(|rule| rule.as_str() == r) {
            return Some(format!("rules [{}]", e.rules().join(", ")));
        }
    }
    let at = chrono::DateTime::parse_from_rfc3339(time).ok()?;
    for (bound, before) in [(&args.from, true), (&args.to, false)] {
        if let Some(t) = bound
            .as_ref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            if (before && at < t) || (!before && at >= t) {
                return Some(format!("time {time}"));
            }
        }
    }
    None
}

use super::audit_print::{print_entries, print_stats};
