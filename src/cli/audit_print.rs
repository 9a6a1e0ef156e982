//! How `vouch audit` prints what it verified: a table, JSON lines or CSV of entries, and counts.

use super::audit::*;
use super::counted;
use crate::ledger::{Checkpoint, Entry};

pub(super) fn print_entries(
    format: Format,
    rows: &[Entry],
    cp: Option<&Checkpoint>,
    recorded: &[u64],
) {
    match format {
        Format::Json => {
            let out = serde_json::json!({
                "verified": true,
                "checkpoint": cp.map(|c| serde_json::json!({"origin": c.origin, "size": c.size, "root": c.root})),
                "entries": rows,
                "recorded_as": recorded,
            });
            println!("{out}");
        }
        Format::Csv => {
            println!("seq,time,caller,model,version,decision,rules,obligations,purpose");
            for e in rows {
                let (m, v) = e
                    .model()
                    .map_or(("", ""), |m| (m.name.as_str(), m.version.as_str()));
                let cells = [
                    e.seq().to_string(),
                    e.time().to_string(),
                    e.caller().map(|c| c.to_string()).unwrap_or_default(),
                    m.to_string(),
                    v.to_string(),
                    e.decision().as_str().to_string(),
                    e.rules().join(" "),
                    e.obligations().join(" "),
                    e.context().purpose.clone().unwrap_or_default(),
                ];
                let cells: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
                println!("{}", cells.join(","));
            }
        }
        Format::Table => {
            let models: Vec<String> = rows
                .iter()
                .map(|e| {
                    e.model()
                        .map_or_else(|| "-".to_string(), |m| format!("{}@{}", m.name, m.version))
                })
                .collect();
            let callers: Vec<&str> = rows
                .iter()
                .map(|e| e.caller().map_or("-", |c| c.as_str()))
                .collect();
            // Each column as wide as its widest value, so long ids keep the table a table.
            let width = |header: &str, cells: &mut dyn Iterator<Item = usize>| {
                cells.fold(header.chars().count(), usize::max)
            };
            let seq_w = width("SEQ", &mut rows.iter().map(|e| e.seq().to_string().len()));
            let time_w = width("TIME", &mut rows.iter().map(|e| e.time().chars().count()));
            let caller_w = width("CALLER", &mut callers.iter().map(|c| c.chars().count()));
            let model_w = width("MODEL", &mut models.iter().map(|m| m.chars().count()));
            let decision_w = width(
                "DECISION",
                &mut rows.iter().map(|e| e.decision().as_str().len()),
            );
            println!(
                "{:>seq_w$}  {:<time_w$}  {:<caller_w$}  {:<model_w$}  {:<decision_w$}  RULES",
                "SEQ", "TIME", "CALLER", "MODEL", "DECISION"
            );
            for ((e, caller), model) in rows.iter().zip(&callers).zip(&models) {
                let line = format!(
                    "{:>seq_w$}  {:<time_w$}  {:<caller_w$}  {:<model_w$}  {:<decision_w$}  {}",
                    e.seq(),
                    e.time(),
                    caller,
                    model,
                    e.decision().as_str(),
                    e.rules().join(",")
                );
                println!("{}", line.trim_end());
            }
            if let Some(c) = cp {
                let seqs: Vec<String> = recorded.iter().map(u64::to_string).collect();
                eprintln!(
                    "{}, each verified against checkpoint {} (size {}, root {}); consistent with the last checkpoint seen; this query is recorded as seq {}",
                    counted(rows.len() as u64, "entry", "entries"),
                    c.origin,
                    c.size,
                    c.root,
                    seqs.join(", ")
                );
            }
        }
    }
}

pub(super) fn print_stats(
    format: Format,
    by: &str,
    counts: &std::collections::BTreeMap<String, u64>,
    cp: &Checkpoint,
    recorded: u64,
) {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({"by": by, "counts": counts, "size": cp.size, "root": cp.root, "recorded_as": recorded})
        ),
        Format::Csv => {
            println!("{by},count");
            for (k, n) in counts {
                println!("{},{n}", csv_cell(k));
            }
        }
        Format::Table => {
            let key_w = counts
                .keys()
                .map(|k| k.chars().count())
                .fold(by.len(), usize::max);
            println!("{:<key_w$}  {:>10}", by.to_uppercase(), "COUNT");
            for (k, n) in counts {
                println!("{k:<key_w$}  {n:>10}");
            }
            eprintln!(
                "counts as of checkpoint size {} (consistent with the last one seen); counts are the server's, entries are proven one by one with `vouch audit` without --stats; recorded as seq {recorded}",
                cp.size
            );
        }
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
