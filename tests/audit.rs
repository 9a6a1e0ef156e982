//! The regulator audit API and `vouch audit`, against the real server: every filter and
//! combination answers exactly what a brute-force filter over all entries answers, pages yield
//! each entry once, every proof verifies, callers get 403 on every audit route, the regulator's
//! own reads are recorded, and the client catches a rewritten entry and a forked log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use base64::Engine as _;
use harness::*;
use serde_json::{json, Value};
use vouch::ledger::{ConsistencyProof, Entry, Receipt, RootHash, FORMAT_VERSION};

const AUDIT_ROUTES: &[&str] = &[
    "/v1/entries",
    "/v1/entries/0",
    "/v1/blocks/0",
    "/v1/checkpoint",
    "/v1/checkpoints/1",
    "/v1/proofs/inclusion?seq=0",
    "/v1/proofs/consistency?from=1",
    "/v1/stats?by=model",
];

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

/// Calls of several callers, models and decisions.
fn populate(s: &Server) {
    for i in 0..4 {
        let (st, _) = s.post(
            "/v2/models/breast-cancer/infer",
            Some(&s.caller_key),
            &breast_cancer_request(triage()),
        );
        assert_eq!(st, 200, "call {i}");
    }
    // The startup lacks the licence: denied.
    for _ in 0..3 {
        let (st, _) = s.post(
            "/v2/models/breast-cancer/infer",
            Some(&s.other_caller_key),
            &breast_cancer_request(triage()),
        );
        assert_eq!(st, 403);
    }
    for (key, purpose, want) in [
        (&s.caller_key, "customer-support", 200),
        (&s.other_caller_key, "customer-support", 200),
        (&s.other_caller_key, "marketing", 403),
        (&s.caller_key, "marketing", 403),
    ] {
        let (st, _) = s.post(
            "/v2/models/support-intent/infer",
            Some(key),
            &text_request("where is my parcel", json!({ "purpose": purpose })),
        );
        assert_eq!(st, want, "{purpose}");
    }
    // Concurrent calls of both callers, allowed and denied, until some block holds entries of
    // different callers and decisions — where a query must intersect within a block.
    for _ in 0..10 {
        std::thread::scope(|t| {
            for i in 0..12 {
                t.spawn(move || {
                    let key = if i % 2 == 0 {
                        &s.caller_key
                    } else {
                        &s.other_caller_key
                    };
                    let purpose = if i % 3 == 0 {
                        "marketing"
                    } else {
                        "customer-support"
                    };
                    s.post(
                        "/v2/models/support-intent/infer",
                        Some(key),
                        &text_request("where is my parcel", json!({ "purpose": purpose })),
                    );
                });
            }
        });
        if mixed_block(s) {
            break;
        }
    }
    assert!(
        mixed_block(s),
        "no block with mixed entries after 10 bursts"
    );
    // Versioned route.
    let (st, _) = s.post(
        "/v2/models/support-intent/versions/1/infer",
        Some(&s.caller_key),
        &text_request("refund please", json!({"purpose": "customer-support"})),
    );
    assert_eq!(st, 200);
}

/// Whether some block holds entries of two callers with two decisions (read through the API).
fn mixed_block(s: &Server) -> bool {
    let (_, page) = s.get("/v1/entries?limit=1000", Some(&s.regulator_key));
    let cp = page["checkpoint"].as_str().unwrap();
    let mut by_time: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
    for item in page["entries"].as_array().unwrap() {
        let e = verify_item(item, cp, s);
        by_time.entry(e.time().to_string()).or_default().push(e);
    }
    by_time.values().any(|b| {
        b.iter().any(|x| {
            b.iter().any(|y| {
                x.caller() != y.caller()
                    && x.decision() != y.decision()
                    && x.model().is_some()
                    && y.model().is_some()
            })
        })
    })
}

/// One page item as served, verified in-process against the page's checkpoint.
fn verify_item(item: &Value, checkpoint: &str, s: &Server) -> Entry {
    let mut r = item.clone();
    let o = r.as_object_mut().unwrap();
    let seq = o.remove("seq").unwrap().as_u64().unwrap();
    o.insert("v".into(), json!(FORMAT_VERSION));
    o.insert("checkpoint".into(), json!(checkpoint));
    let receipt: Receipt = serde_json::from_value(r).unwrap();
    let verified = receipt
        .verify(&s.verifier)
        .expect("every served proof verifies");
    assert_eq!(verified.entry.seq().get(), seq);
    verified.entry
}

/// All entries of a query, page by page (each of at most `limit`), pinned to `size`.
fn walk(s: &Server, query: &str, limit: usize, size: u64) -> Vec<Entry> {
    let mut out: Vec<Entry> = vec![];
    let mut cursor = 0;
    loop {
        let (st, page) = s.get(
            &format!("/v1/entries?limit={limit}&cursor={cursor}&size={size}{query}"),
            Some(&s.regulator_key),
        );
        assert_eq!(st, 200, "{query}: {page}");
        assert_eq!(page["size"], size);
        let items = page["entries"].as_array().unwrap();
        assert!(items.len() <= limit);
        let cp = page["checkpoint"].as_str().unwrap();
        for item in items {
            let e = verify_item(item, cp, s);
            assert!(
                out.last().is_none_or(|l| l.seq() < e.seq()),
                "{query}: seq {} after {:?}: each entry once, in order",
                e.seq(),
                out.last().map(|l| l.seq())
            );
            out.push(e);
        }
        match page["next_cursor"].as_u64() {
            Some(n) => cursor = n,
            None => break,
        }
    }
    out
}

fn seqs(v: &[Entry]) -> Vec<u64> {
    v.iter().map(|e| e.seq().get()).collect()
}

#[test]
fn filters_match_brute_force_and_pages_yield_each_entry_once() {
    let s = start();
    populate(&s);
    let (st, head) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(st, 200);
    let size = head["size"].as_u64().unwrap();
    let all = walk(&s, "", 1000, size);
    assert_eq!(seqs(&all), (0..all.len() as u64).collect::<Vec<_>>());
    assert_eq!(all.len() as u64, head["entries"].as_u64().unwrap());
    // Pagination: small pages give the same entries, each once.
    for limit in [1, 2, 5] {
        assert_eq!(
            seqs(&walk(&s, "", limit, size)),
            seqs(&all),
            "limit {limit}"
        );
    }
    let mid = all[all.len() / 3].time().to_string();
    let late = all[2 * all.len() / 3].time().to_string();
    let rule = all
        .iter()
        .find(|e| e.decision() == vouch::ledger::Decision::Deny)
        .and_then(|e| e.rules().first())
        .unwrap()
        .clone();
    type Pred = Box<dyn Fn(&Entry) -> bool>;
    let model = |n: &'static str| -> Pred {
        Box::new(move |e: &Entry| e.model().as_ref().is_some_and(|m| m.name == n))
    };
    let cases: Vec<(String, Pred)> = vec![
        (
            "&caller=clinic".into(),
            Box::new(|e| e.caller().map(|c| c.as_str()) == Some("clinic")),
        ),
        (
            "&caller=startup".into(),
            Box::new(|e| e.caller().map(|c| c.as_str()) == Some("startup")),
        ),
        ("&caller=nobody".into(), Box::new(|_| false)),
        ("&model=breast-cancer".into(), model("breast-cancer")),
        ("&model=support-intent".into(), model("support-intent")),
        (
            "&model=support-intent&version=1".into(),
            Box::new(|e| {
                e.model()
                    .as_ref()
                    .is_some_and(|m| m.name == "support-intent" && m.version == "1")
            }),
        ),
        (
            "&decision=deny".into(),
            Box::new(|e| e.decision().as_str() == "deny"),
        ),
        (
            "&decision=allow".into(),
            Box::new(|e| e.decision().as_str() == "allow"),
        ),
        (format!("&rule={rule}"), {
            let r = rule.clone();
            Box::new(move |e| e.rules().contains(&r))
        }),
        (
            "&caller=startup&decision=deny".into(),
            Box::new(|e| {
                e.caller().map(|c| c.as_str()) == Some("startup") && e.decision().as_str() == "deny"
            }),
        ),
        (
            "&caller=clinic&model=support-intent&decision=allow".into(),
            Box::new(|e| {
                e.caller().map(|c| c.as_str()) == Some("clinic")
                    && e.decision().as_str() == "allow"
                    && e.model()
                        .as_ref()
                        .is_some_and(|m| m.name == "support-intent")
            }),
        ),
        (format!("&decision=deny&rule={rule}"), {
            let r = rule.clone();
            Box::new(move |e| e.decision().as_str() == "deny" && e.rules().contains(&r))
        }),
        (format!("&from={mid}"), {
            let m = mid.clone();
            Box::new(move |e| e.time() >= m.as_str())
        }),
        (format!("&to={late}"), {
            let l = late.clone();
            Box::new(move |e| e.time() < l.as_str())
        }),
        (format!("&from={mid}&to={late}&caller=clinic"), {
            let (m, l) = (mid.clone(), late.clone());
            Box::new(move |e| {
                e.time() >= m.as_str()
                    && e.time() < l.as_str()
                    && e.caller().map(|c| c.as_str()) == Some("clinic")
            })
        }),
    ];
    for (query, pred) in &cases {
        let expected: Vec<u64> = all
            .iter()
            .filter(|e| pred(e))
            .map(|e| e.seq().get())
            .collect();
        for limit in [2, 1000] {
            let got = seqs(&walk(&s, query, limit, size));
            assert_eq!(got, expected, "{query} (limit {limit})");
        }
    }
    // Not every query matches nothing: the test would notice a filter that drops everything.
    assert!(cases.iter().filter(|(_, p)| all.iter().any(p)).count() >= 12);

    // Statistics against the same tree size equal the brute-force counts.
    for by in ["caller", "model", "decision", "rule"] {
        let (st, body) = s.get(
            &format!("/v1/stats?by={by}&size={size}"),
            Some(&s.regulator_key),
        );
        assert_eq!(st, 200, "{body}");
        let mut expected: BTreeMap<String, u64> = BTreeMap::new();
        for e in &all {
            let keys: Vec<String> = match by {
                "caller" => e.caller().iter().map(|c| c.to_string()).collect(),
                "model" => e.model().iter().map(|m| m.name.clone()).collect(),
                "decision" => vec![e.decision().as_str().to_string()],
                _ => e.rules().iter().map(|r| r.to_string()).collect(),
            };
            for k in keys {
                *expected.entry(k).or_default() += 1;
            }
        }
        let got: BTreeMap<String, u64> = serde_json::from_value(body["counts"].clone()).unwrap();
        assert_eq!(got, expected, "stats by {by}");
    }

    // Bad queries are 400, and a misspelt filter is refused rather than ignored.
    for q in [
        "/v1/entries?calller=clinic",
        "/v1/entries?decision=maybe",
        "/v1/entries?version=1",
        "/v1/entries?from=yesterday",
        "/v1/entries?limit=0",
        "/v1/entries?limit=1001",
        "/v1/stats?by=colour",
        "/v1/proofs/consistency?from=0",
    ] {
        let (st, body) = s.get(q, Some(&s.regulator_key));
        assert_eq!(st, 400, "{q}: {body}");
        assert!(body["error"].is_string());
    }
    let (st, _) = s.get(
        &format!("/v1/entries?size={}", size + 1000),
        Some(&s.regulator_key),
    );
    assert_eq!(st, 404);
}

#[test]
fn proofs_blocks_and_checkpoints_verify() {
    let s = start();
    populate(&s);
    let (_, first) = s.get("/v1/checkpoints/1", Some(&s.regulator_key));
    let old = vouch::ledger::Checkpoint::open(first["checkpoint"].as_str().unwrap(), &s.verifier)
        .unwrap();
    let (_, latest) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    let new = vouch::ledger::Checkpoint::open(latest["checkpoint"].as_str().unwrap(), &s.verifier)
        .unwrap();
    assert!(new.size > 1);
    let (st, proof) = s.get(
        &format!("/v1/proofs/consistency?from=1&to={}", new.size),
        Some(&s.regulator_key),
    );
    assert_eq!(st, 200);
    let proof: ConsistencyProof = serde_json::from_value(proof).unwrap();
    proof.verify(old.tree_root(), new.tree_root()).unwrap();
    // The roots swapped, each given as of the size the proof claims: the proof fails.
    assert!(proof
        .verify(
            RootHash::new(new.root, old.size),
            RootHash::new(old.root, new.size)
        )
        .is_err());

    // Inclusion of an entry against an older tree size.
    let (st, r) = s.get("/v1/proofs/inclusion?seq=0&size=1", Some(&s.regulator_key));
    assert_eq!(st, 200, "{r}");
    let r: Receipt = serde_json::from_value(r).unwrap();
    let v = r.verify(&s.verifier).unwrap();
    assert_eq!((v.entry.seq().get(), v.checkpoint.size), (0, 1));
    let (st, _) = s.get("/v1/proofs/inclusion?seq=999999", Some(&s.regulator_key));
    assert_eq!(st, 404);

    // A block header: its bytes hash to the leaf the history tree holds.
    let (st, b) = s.get("/v1/blocks/0", Some(&s.regulator_key));
    assert_eq!(st, 200);
    let header = base64::engine::general_purpose::STANDARD
        .decode(b["header"].as_str().unwrap())
        .unwrap();
    assert_eq!(r.block, header);
    assert_eq!(b["fields"]["height"], 0);
    let (st, _) = s.get("/v1/blocks/999999", Some(&s.regulator_key));
    assert_eq!(st, 404);

    // One entry by seq.
    let (st, e) = s.get("/v1/entries/0", Some(&s.regulator_key));
    assert_eq!(st, 200);
    let entry = verify_item(&e["entry"], e["checkpoint"].as_str().unwrap(), &s);
    assert_eq!(entry.seq().get(), 0);
}

#[test]
fn callers_are_denied_every_audit_route_and_reads_are_recorded() {
    let s = start();
    populate(&s);
    for route in AUDIT_ROUTES {
        for key in [&s.caller_key, &s.admin_key] {
            let (st, body) = s.get(route, Some(key));
            assert_eq!(st, 403, "{route}: {body}");
            assert!(body["error"]
                .as_str()
                .unwrap()
                .contains("access.audit-regulator-only"));
            // The denial is recorded, with a receipt that verifies.
            let r: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
            let v = r.verify(&s.verifier).unwrap();
            assert_eq!(v.entry.decision().as_str(), "deny");
            assert_eq!(v.entry.context().purpose.as_deref(), Some("audit"));
        }
        let (st, _) = s.get(route, None);
        assert_eq!(st, 401, "{route}");
        let (st, _) = s.get(route, Some("vk_garbage"));
        assert_eq!(st, 401, "{route}");
    }
    // A regulator's read of entries is recorded, and its receipt opens to the exact request.
    let target = "/v1/entries?caller=startup";
    let (st, page) = s.get(target, Some(&s.regulator_key));
    assert_eq!(st, 200);
    let r: Receipt = serde_json::from_value(page["audit_receipt"].clone()).unwrap();
    let v = r.verify(&s.verifier).unwrap();
    assert_eq!(v.entry.caller().map(|c| c.as_str()), Some("regulator"));
    assert_eq!(v.entry.decision().as_str(), "allow");
    assert_eq!(
        v.entry
            .rules()
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>(),
        ["access.audit"]
    );
    assert!(v.entry.model().is_none());
    let opened =
        vouch::ledger::commit_parts(&r.nonce.unwrap(), &[format!("GET {target}").as_bytes()]);
    assert_eq!(v.entry.input(), Some(opened));
    // Checkpoint reads are not recorded: the log does not grow when a witness polls it.
    let (_, a) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    let (_, b) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(a["entries"], b["entries"]);
}

fn audit_cli(
    s_url: &str,
    key_file: &std::path::Path,
    pubkey: &std::path::Path,
    state: &std::path::Path,
    extra: &[&str],
) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["audit", "--url", s_url])
        .arg("--key-file")
        .arg(key_file)
        .arg("--key")
        .arg(pubkey)
        .arg("--state")
        .arg(state)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_audit_client_verifies_and_catches_a_rewritten_entry() {
    let s = start();
    populate(&s);
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("regulator.key");
    std::fs::write(&key_file, format!("{}\n", s.regulator_key)).unwrap();
    let pubkey = s.data().join("log.pub");
    let state = work.path().join("state");

    let (code, out, err) = audit_cli(
        &s.url,
        &key_file,
        &pubkey,
        &state,
        &[
            "--caller",
            "startup",
            "--format",
            "json",
            "--page-size",
            "2",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let body: Value = serde_json::from_str(&out).unwrap();
    let entries = body["entries"].as_array().unwrap();
    assert!(!entries.is_empty());
    assert!(entries.iter().all(|e| e["caller"] == "startup"));
    assert!(state.exists(), "the witness state is saved");
    let (code, out, err) = audit_cli(
        &s.url,
        &key_file,
        &pubkey,
        &state,
        &["--decision", "deny", "--format", "csv"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("seq,time,caller"));
    assert!(out.lines().skip(1).all(|l| l.contains(",deny,")));
    let (code, out, err) = audit_cli(&s.url, &key_file, &pubkey, &state, &["--stats", "caller"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("startup"));

    // Wrong credential: denied, its own exit code.
    let bad = work.path().join("caller.key");
    std::fs::write(&bad, &s.caller_key).unwrap();
    let (code, _, err) = audit_cli(&s.url, &bad, &pubkey, &state, &[]);
    assert_eq!(code, 5, "{err}");

    // A server that rewrites one field of one entry: caught, loudly, nothing printed.
    let proxy = tampering_proxy(&s.url);
    let (code, out, err) = audit_cli(&proxy, &key_file, &pubkey, &state, &["--caller", "startup"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "nothing printed on failure: {out}");
    assert!(err.contains("VERIFICATION FAILED"), "{err}");
}

/// A proxy that forwards GETs to `upstream` and, in every page of entries, rewrites the first
/// entry's decision.
fn tampering_proxy(upstream: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("authorization:") {
                    auth = h["authorization:".len()..].trim().to_string();
                }
            }
            let (status, mut body) = match ureq::get(&format!("{upstream}{target}"))
                .set("authorization", &auth)
                .call()
            {
                Ok(r) => (r.status(), r.into_json::<Value>().unwrap()),
                Err(ureq::Error::Status(c, r)) => (c, r.into_json::<Value>().unwrap_or_default()),
                Err(_) => (502, json!({})),
            };
            if let Some(first) = body["entries"].get_mut(0) {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(first["entry"].as_str().unwrap())
                    .unwrap();
                let text = String::from_utf8(bytes)
                    .unwrap()
                    .replace("\"deny\"", "\"allow\"");
                first["entry"] = json!(base64::engine::general_purpose::STANDARD.encode(text));
            }
            let text = body.to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                text.len()
            );
            let _ = conn.flush();
            let mut rest = vec![];
            let _ = conn.read(&mut rest);
        }
    });
    url
}

#[test]
fn the_audit_client_catches_a_forked_log() {
    let mut a = start();
    populate(&a);
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("regulator.key");
    std::fs::write(&key_file, &a.regulator_key).unwrap();
    let pubkey = work.path().join("log.pub");
    std::fs::copy(a.data().join("log.pub"), &pubkey).unwrap();
    let state = work.path().join("state");

    // Same key, same history so far; then each side appends something different.
    let b = a.fork();
    let (st, _) = a.post(
        "/v2/models/breast-cancer/infer",
        Some(&a.caller_key),
        &breast_cancer_request(triage()),
    );
    assert_eq!(st, 200);
    for _ in 0..2 {
        let (st, _) = b.post(
            "/v2/models/support-intent/infer",
            Some(&b.other_caller_key),
            &text_request("hello", json!({"purpose": "customer-support"})),
        );
        assert_eq!(st, 200);
    }
    let (code, _, err) = audit_cli(&a.url, &key_file, &pubkey, &state, &["--caller", "clinic"]);
    assert_eq!(code, 0, "{err}");
    // Each side alone verifies; seen after the other, the fork is caught.
    let (code, out, err) = audit_cli(&b.url, &key_file, &pubkey, &state, &["--caller", "clinic"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("VERIFICATION FAILED") && err.contains("consistent"),
        "{err}"
    );
    let fresh = work.path().join("fresh-state");
    let (code, _, err) = audit_cli(&b.url, &key_file, &pubkey, &fresh, &["--caller", "clinic"]);
    assert_eq!(code, 0, "{err}");
}

fn export_lines(s: &Server, query: &str) -> (u16, Vec<Value>, Option<String>) {
    let r = ureq::get(&format!("{}/v1/export{query}", s.url))
        .set("authorization", &format!("Bearer {}", s.regulator_key))
        .call();
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = r.status();
    let seq = r.header("vouch-audit-seq").map(str::to_string);
    let text = r.into_string().unwrap();
    let lines = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or(Value::String(l.to_string())))
        .collect();
    (status, lines, seq)
}

#[test]
fn the_export_streams_whole_blocks_of_the_range() {
    let s = start();
    populate(&s);
    let (st, lines, audit_seq) = export_lines(&s, "");
    assert_eq!(st, 200);
    assert_eq!(lines.first().unwrap()["type"], "export");
    assert_eq!(lines.first().unwrap()["from_height"], 0);
    let end = lines.last().unwrap();
    assert_eq!(end["type"], "end");
    let entries: Vec<&Value> = lines.iter().filter(|l| l["type"] == "entry").collect();
    assert_eq!(end["entries"].as_u64().unwrap(), entries.len() as u64);
    // Gap-free seqs, and the export's own read is recorded inside it.
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e["seq"].as_u64().unwrap(), i as u64);
    }
    let audit_seq: u64 = audit_seq.unwrap().parse().unwrap();
    assert_eq!(audit_seq, entries.len() as u64 - 1);

    // A seq range becomes the whole blocks that hold it.
    let (st, lines, _) = export_lines(&s, "?from_seq=3&to_seq=5");
    assert_eq!(st, 200);
    let seqs: Vec<u64> = lines
        .iter()
        .filter(|l| l["type"] == "entry")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    // The first calls were made one at a time, so each is a block of its own.
    assert_eq!(seqs, vec![3, 4]);
    assert_eq!(lines.first().unwrap()["base"]["size"], lines[1]["height"]);
    for bad in [
        "?from_seq=999999",
        "?from_height=5&to_height=2",
        "?from_seq=1&to_height=3",
        "?to_height=999999",
    ] {
        let (st, _, _) = export_lines(&s, bad);
        assert!(st == 400 || st == 404, "{bad}: {st}");
    }
}

#[test]
fn vouch_verify_pulls_the_export_from_the_live_server() {
    let s = start();
    populate(&s);
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("regulator.key");
    std::fs::write(&key_file, &s.regulator_key).unwrap();
    let pubkey = s.data().join("log.pub");
    let saved = work.path().join("checkpoint");
    let verify = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
            .args(["verify", "--url", &s.url])
            .arg("--key-file")
            .arg(&key_file)
            .arg("--key")
            .arg(&pubkey)
            .arg("--json")
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let json: Value = serde_json::from_str(stdout.trim()).unwrap_or(Value::Null);
        (
            out.status.code(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, first, err) = verify(&["--save-checkpoint", saved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(first["verified"], true);
    // The export's own read is recorded before the export is taken, so it is in it.
    let (_, head) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(first["entries"], head["entries"]);
    // More calls, then only what follows the saved checkpoint is pulled and verified.
    for _ in 0..3 {
        s.post(
            "/v2/models/breast-cancer/infer",
            Some(&s.caller_key),
            &breast_cancer_request(triage()),
        );
    }
    let (code, next, err) = verify(&["--from-checkpoint", saved.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        next["entries"].as_u64().unwrap() < first["entries"].as_u64().unwrap(),
        "{next}"
    );
    // A caller's key may not pull the export: denied, its own exit code.
    std::fs::write(&key_file, &s.caller_key).unwrap();
    let (code, _, err) = verify(&[]);
    assert_eq!(code, Some(5), "{err}");
}
