//! No data at rest: calls carry a unique marker in their inputs (BYTES text, in JSON and in binary
//! form; a distinctive FP32 row) and in free-text request parameters, through allowed, denied and
//! malformed calls. Afterwards neither any file under the data folder (sled's files searched as
//! bytes) nor anything the server wrote to stdout or stderr (at debug level) may hold the marker —
//! plain, hex, or base64 at any alignment.
//!
//! The request `id` is recorded as the entry's `request_id` by design: one that holds personal
//! data (an address, words) is refused, so the marker put there must not be at rest either; an
//! opaque second marker is recorded, as a control that the search does see into sled's files. A last
//! control writes the marker's base64 into a file and checks that the search finds it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;
mod harness;

use std::path::Path;

use base64::Engine as _;
use rand::Rng;
use serde_json::{json, Value};

use harness::*;

const BC: &str = "/v2/models/breast-cancer/infer";
const TEXT: &str = "/v2/models/support-intent/infer";

/// The byte strings that would betray `marker`: itself, its hex, and its base64 (standard and
/// URL-safe) at each of the three alignments it can take in a longer encoded string.
fn forms(marker: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![
        ("plain".to_string(), marker.to_vec()),
        ("hex".to_string(), hex::encode(marker).into_bytes()),
    ];
    for k in 0..3usize {
        let mut input = vec![0u8; k];
        input.extend_from_slice(marker);
        let enc = base64::engine::general_purpose::STANDARD.encode(&input);
        // Drop the characters that depend on the bytes before and after the marker.
        let inner = &enc[(k * 4).div_ceil(3)..enc.len() - 4];
        out.push((format!("base64 at offset {k}"), inner.as_bytes().to_vec()));
        let url = inner.replace('+', "-").replace('/', "_");
        out.push((format!("url-safe base64 at offset {k}"), url.into_bytes()));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where any form of `marker` occurs: "<file or logs>: <form>".
fn find(dir: &Path, logs: &[u8], marker: &[u8]) -> Vec<String> {
    let forms = forms(marker);
    let mut hits = Vec::new();
    for file in common::files_under(dir) {
        let bytes = std::fs::read(&file).unwrap();
        for (form, needle) in &forms {
            if contains(&bytes, needle) {
                hits.push(format!("{}: {form}", file.display()));
            }
        }
    }
    for (form, needle) in &forms {
        if contains(logs, needle) {
            hits.push(format!("server logs: {form}"));
        }
    }
    hits
}

fn triage(note: &str) -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true,
           "data_categories": ["health"], "note": note, "tags": ["x", {"free": note}]})
}

/// A breast-cancer row no real call would send: its 120 little-endian bytes are a marker too.
fn marker_row(seed: u32) -> Vec<f32> {
    (0..30)
        .map(|i| 1000.0 + (seed % 1000 + i) as f32 / 7.0)
        .collect()
}

fn binary_post(s: &Server, path: &str, header: &Value, binary: &[u8]) -> u16 {
    let mut body = serde_json::to_vec(header).unwrap();
    let len = body.len().to_string();
    body.extend_from_slice(binary);
    s.post_raw(
        path,
        &s.caller_key,
        &[
            ("inference-header-content-length", &len),
            ("content-type", "application/octet-stream"),
        ],
        &body,
    )
    .0
}

#[test]
fn inputs_and_free_text_parameters_leave_no_trace_in_the_data_folder_or_the_logs() {
    let mut rng = rand::thread_rng();
    let marker = format!("zqmarker{:016x}", rng.gen::<u64>());
    let control = format!("zqcontrol{:016x}", rng.gen::<u64>());
    let seed: u32 = rng.gen();
    let row = marker_row(seed);
    let row_bytes: Vec<u8> = row.iter().flat_map(|f| f.to_le_bytes()).collect();
    let mut s = start_with(Options {
        env: vec![("RUST_LOG".into(), "debug".into())],
        ..Options::default()
    });
    let key = s.caller_key.clone();
    let support = |note: &str| json!({"purpose": "customer-support", "note": note});
    let mut statuses = Vec::new();

    // Allowed: the marker in a BYTES input (JSON) and in free-text parameters.
    let text = format!("my card {marker} was declined");
    let (status, body) = s.post(TEXT, Some(&key), &text_request(&text, support(&marker)));
    assert_eq!(status, 200, "{body}");
    statuses.push(status);
    // Personal data next to the marker: detected (the kind recorded, not the value).
    let text = format!("write to {marker}@example.com or call +44 20 7946 0958");
    statuses.push(
        s.post(TEXT, Some(&key), &text_request(&text, support(&marker)))
            .0,
    );
    // Allowed FP32 call with the marker in parameters, and one with the marker row.
    let (status, body) = s.post(BC, Some(&key), &breast_cancer_request(triage(&marker)));
    assert_eq!(status, 200, "{body}");
    statuses.push(status);
    let mut req = breast_cancer_request(triage(&marker));
    req["inputs"][0]["data"] = json!(row);
    statuses.push(s.post(BC, Some(&key), &req).0);
    // Denied: a caller without oversight, same parameters.
    let (status, _) = s.post(
        BC,
        Some(&s.other_caller_key),
        &breast_cancer_request(triage(&marker)),
    );
    assert_eq!(status, 403);
    statuses.push(status);
    // Binary tensors: the marker text and the marker row.
    let mut element = (text.len() as u32).to_le_bytes().to_vec();
    element.extend_from_slice(text.as_bytes());
    let header = json!({
        "inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "parameters": {"binary_data_size": element.len()}}],
        "parameters": support(&marker),
    });
    statuses.push(binary_post(&s, TEXT, &header, &element));
    let header = json!({
        "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "parameters": {"binary_data_size": row_bytes.len()}}],
        "parameters": triage(&marker),
    });
    let status = binary_post(&s, BC, &header, &row_bytes);
    assert_eq!(status, 200);
    statuses.push(status);
    // Malformed: refused (400) with the marker inside; not recorded, not logged.
    let bad = text_request(&format!("{marker}\0"), support(&marker));
    statuses.push(s.post(TEXT, Some(&key), &bad).0);
    let mut bad = breast_cancer_request(triage(&marker));
    bad["inputs"][0]["data"][3] = json!(marker);
    statuses.push(s.post(BC, Some(&key), &bad).0);
    // A request id that holds personal data around the marker: refused, so never recorded.
    let mut req = text_request("where is my parcel", support("nothing"));
    req["id"] = json!(format!("{marker}@example.com"));
    statuses.push(s.post(TEXT, Some(&key), &req).0);
    let mut req = text_request("where is my parcel", support("nothing"));
    req["id"] = json!(format!("patient {marker}"));
    statuses.push(s.post(TEXT, Some(&key), &req).0);
    // The control: the request id is recorded by design.
    let mut req = text_request("where is my parcel", support("nothing"));
    req["id"] = json!(control);
    assert_eq!(s.post(TEXT, Some(&key), &req).0, 200);
    println!("statuses {statuses:?}");
    assert_eq!(statuses.iter().filter(|&&c| c == 400).count(), 4);

    assert!(s.stop().success());
    let logs = s.logs();
    assert!(
        contains(&logs, b"call"),
        "the server logged its calls at debug level"
    );
    let hits = find(s.data(), &logs, marker.as_bytes());
    assert!(hits.is_empty(), "the marker is at rest: {hits:#?}");
    let hits = find(s.data(), &logs, &row_bytes);
    assert!(hits.is_empty(), "the marker row is at rest: {hits:#?}");

    // Controls: the search sees into sled's files, and finds a base64 form in any file.
    let hits = find(s.data(), &logs, control.as_bytes());
    assert!(
        hits.iter()
            .any(|h| h.contains("ledger") && h.ends_with("plain")),
        "the recorded request id was not found: the search is blind: {hits:?}"
    );
    let nested = s.data().join("control/deeper");
    std::fs::create_dir_all(&nested).unwrap();
    let mut planted = b"prefix ".to_vec();
    planted.extend(
        base64::engine::general_purpose::STANDARD
            .encode(format!("x{marker}y"))
            .into_bytes(),
    );
    std::fs::write(nested.join("planted.bin"), planted).unwrap();
    let hits = find(s.data(), &logs, marker.as_bytes());
    assert!(!hits.is_empty(), "the planted marker was not found");
    assert!(
        hits.iter()
            .all(|h| h.contains("planted.bin: ") && h.contains("base64")),
        "{hits:?}"
    );
}
