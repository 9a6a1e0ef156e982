//! The detectors against a labelled corpus (`tests/fixtures/pii_corpus.jsonl`, made by
//! `scripts/corpus/make_pii_corpus.py`): texts in English, German and Chinese, each labelled
//! with the kinds it holds, and hard negatives (order and tracking numbers, timestamps, version
//! strings, ISBNs, prices, words with an everyday and a medical sense). Per kind, over texts:
//! precision ≥ 0.98 and recall ≥ 0.95.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use std::collections::{BTreeMap, BTreeSet};

use vouch::policy::detect::{self, PiiKind};

#[derive(serde::Deserialize)]
struct Labelled {
    lang: String,
    text: String,
    kinds: Vec<String>,
}

#[derive(Default)]
struct Tally {
    true_positive: u32,
    false_positive: u32,
    false_negative: u32,
    misses: Vec<String>,
}

#[test]
fn every_kind_holds_its_precision_and_recall_on_the_corpus() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pii_corpus.jsonl"),
    )
    .unwrap();
    let corpus: Vec<Labelled> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(corpus.len() >= 300, "{} texts", corpus.len());
    let languages: BTreeSet<&str> = corpus.iter().map(|l| l.lang.as_str()).collect();
    assert_eq!(languages, BTreeSet::from(["de", "en", "zh"]));

    let mut tallies: BTreeMap<&'static str, Tally> = PiiKind::ALL
        .iter()
        .map(|k| (k.as_str(), Tally::default()))
        .collect();
    for l in &corpus {
        let found: BTreeSet<&str> = detect::scan([l.text.as_str()])
            .kind_names()
            .into_iter()
            .collect();
        let want: BTreeSet<&str> = l.kinds.iter().map(String::as_str).collect();
        for (kind, t) in &mut tallies {
            match (want.contains(kind), found.contains(kind)) {
                (true, true) => t.true_positive += 1,
                (false, true) => {
                    t.false_positive += 1;
                    t.misses.push(format!("false positive: {:?}", l.text));
                }
                (true, false) => {
                    t.false_negative += 1;
                    t.misses.push(format!("missed: {:?}", l.text));
                }
                (false, false) => {}
            }
        }
    }
    let mut report = vec!["| kind | texts with it | precision | recall |".to_owned()];
    report.push("| --- | --- | --- | --- |".into());
    let mut failures = Vec::new();
    for (kind, t) in &tallies {
        let positives = t.true_positive + t.false_negative;
        assert!(positives >= 20, "{kind}: only {positives} labelled texts");
        let precision = f64::from(t.true_positive) / f64::from(t.true_positive + t.false_positive);
        let recall = f64::from(t.true_positive) / f64::from(positives);
        report.push(format!(
            "| `{kind}` | {positives} | {precision:.3} | {recall:.3} |"
        ));
        if precision < 0.98 || recall < 0.95 {
            failures.push(format!(
                "{kind}: precision {precision:.3}, recall {recall:.3}\n  {}",
                t.misses.join("\n  ")
            ));
        }
    }
    // The table for docs/BENCHMARKS.md (`cargo test --test pii_corpus -- --nocapture`).
    println!("{} texts\n{}", corpus.len(), report.join("\n"));
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}
