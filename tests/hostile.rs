//! Hostile input over HTTP against one real server: malformed JSON, wrong types, shapes whose
//! element count overflows, negative dimensions, deep nesting, oversized bodies (with and without
//! a length), invalid UTF-8 in BYTES, wrong content types, missing and garbage credentials, broken
//! binary-extension framing. Each gets its exact 4xx status and an `{"error": "…"}` body; none is
//! recorded in the ledger; the server keeps serving.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{json, Value};
use vouch::ledger::Receipt;

use harness::*;

const BC: &str = "/v2/models/breast-cancer/infer";
const TEXT: &str = "/v2/models/support-intent/infer";

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

/// A raw HTTP/1.1 exchange (for what a well-behaved client cannot send: bytes that are not text
/// in headers, a chunked body). Returns the status and the body.
fn raw(s: &Server, request_head: &[u8], body: &[u8]) -> (u16, Vec<u8>) {
    let addr = s.url.strip_prefix("http://").unwrap();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(request_head).unwrap();
    // The server may answer (and close) before it has read everything: a refused body.
    let _ = tcp.write_all(body);
    let mut out = Vec::new();
    let _ = tcp.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP response: {text:?}"));
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(out.len(), |i| i + 4);
    (status, out[split..].to_vec())
}

/// Checks the status and that the body is `{"error": "<non-empty text>"}`.
#[track_caller]
fn expect(case: &str, got: (u16, Vec<u8>), status: u16) -> String {
    let (code, body) = got;
    let text = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(code, status, "{case}: {text}");
    let v: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{case}: not a JSON body ({e}): {text}"));
    let error = v["error"].as_str().unwrap_or_default();
    assert!(!error.is_empty(), "{case}: no error message: {text}");
    assert_eq!(
        v.as_object().unwrap().len(),
        1,
        "{case}: only the error: {text}"
    );
    error.to_string()
}

fn post(s: &Server, path: &str, key: &str, content_type: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, body, _) = s.post_raw(path, key, &[("content-type", content_type)], body);
    (status, body)
}

fn json_post(s: &Server, path: &str, body: &Value) -> (u16, Vec<u8>) {
    post(
        s,
        path,
        &s.caller_key,
        "application/json",
        &serde_json::to_vec(body).unwrap(),
    )
}

fn binary_post(s: &Server, header: &Value, binary: &[u8]) -> (u16, Vec<u8>) {
    let mut body = serde_json::to_vec(header).unwrap();
    let len = body.len().to_string();
    body.extend_from_slice(binary);
    let (status, body, _) = s.post_raw(
        TEXT,
        &s.caller_key,
        &[
            ("inference-header-content-length", &len),
            ("content-type", "application/octet-stream"),
        ],
        &body,
    );
    (status, body)
}

/// The seq the ledger gives the next allowed call.
fn good_call_seq(s: &Server) -> u64 {
    let (status, body) = s.post(BC, Some(&s.caller_key), &breast_cancer_request(triage()));
    assert_eq!(status, 200, "{body}");
    let r: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
    r.verify(&s.verifier).unwrap().entry.seq().get()
}

/// `req` with the member or element at `pointer` set to `value` (a member is added if missing).
fn with(mut req: Value, pointer: &str, value: Value) -> Value {
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    match req
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("{pointer}"))
    {
        Value::Object(m) => {
            m.insert(last.to_string(), value);
        }
        Value::Array(a) => a[last.parse::<usize>().unwrap()] = value,
        other => panic!("{pointer}: {other}"),
    }
    req
}

fn nested(depth: usize, leaf: &str) -> String {
    format!("{}{leaf}{}", "[".repeat(depth), "]".repeat(depth))
}

#[test]
fn hostile_requests_get_their_4xx_are_not_recorded_and_the_server_keeps_serving() {
    let mut s = start();
    let before = good_call_seq(&s);
    let ok = breast_cancer_request(triage());
    let text_ok = text_request("where is my parcel", json!({"purpose": "customer-support"}));
    let key = s.caller_key.clone();

    // Malformed JSON.
    for body in [
        &b"{\"inputs\": ["[..],
        b"",
        b"null",
        b"[]",
        b"\"inputs\"",
        b"{\"inputs\": [], }",
        b"{\"inputs\":[{\"name\":\"features\",\"shape\":[1,30],\"datatype\":\"FP32\",\"data\":[1e999]}]}",
        &[0xff, 0xfe, 0x00, 0x7b],
    ] {
        let case = format!("malformed JSON {:?}", String::from_utf8_lossy(body));
        expect(&case, post(&s, BC, &key, "application/json", body), 400);
    }

    // Wrong types.
    for (pointer, value) in [
        ("/inputs", json!("features")),
        ("/inputs", json!({})),
        ("/inputs/0", json!(null)),
        ("/inputs/0/shape", json!("1,30")),
        ("/inputs/0/shape", json!([1.5, 30])),
        ("/inputs/0/shape", json!([true, 30])),
        ("/inputs/0/datatype", json!(5)),
        ("/inputs/0/datatype", json!("FP128")),
        ("/inputs/0/name", json!(["features"])),
        ("/inputs/0/data", json!({"a": 1})),
        ("/inputs/0/data", json!("0.1,0.2")),
        ("/inputs/0/data/0", json!("seventeen")),
        ("/inputs/0/data/0", json!(null)),
        ("/id", json!(17)),
        ("/parameters", json!("consent")),
        ("/parameters/consent", json!("yes")),
        ("/parameters/data_categories", json!("health")),
    ] {
        let case = format!("wrong type {pointer} = {value}");
        expect(
            &case,
            json_post(&s, BC, &with(ok.clone(), pointer, value)),
            400,
        );
    }
    let case = "BYTES given a number";
    let req = with(text_ok.clone(), "/inputs/0/data", json!([[42]]));
    expect(case, json_post(&s, TEXT, &req), 400);

    // A request id is recorded in the ledger as it is sent: one too long to record is refused
    // before anything is judged (a ledger entry holds at most 16 KiB).
    for len in [257, 20_000, 4_000_000] {
        let req = with(ok.clone(), "/id", json!("i".repeat(len)));
        let error = expect(
            &format!("a request id of {len} bytes"),
            json_post(&s, BC, &req),
            400,
        );
        assert!(error.contains("256"), "{error}");
    }
    let req = with(ok.clone(), "/outputs", json!([{"name": "nope"}]));
    expect("an unknown output", json_post(&s, BC, &req), 400);
    let req = with(ok.clone(), "/parameters/binary_data_output", json!("yes"));
    expect(
        "binary_data_output not a boolean",
        json_post(&s, BC, &req),
        400,
    );

    // Shapes: element counts that overflow, negative and zero dimensions, wrong rank, counts that
    // disagree with the data.
    for shape in [
        json!([i64::MAX, 30]),
        json!([i64::MAX, i64::MAX]),
        json!([4_294_967_296u64, 30]),
        json!([u64::MAX, 30]),
        json!([1e30, 30]),
        json!([-1, 30]),
        json!([-9_223_372_036_854_775_807i64, 30]),
        json!([i64::MIN, 30]),
        json!([0, 30]),
        json!([1, -30]),
        json!([30]),
        json!([1, 1, 30]),
        json!([2, 30]),
        json!([]),
    ] {
        let case = format!("shape {shape}");
        let req = with(ok.clone(), "/inputs/0/shape", shape);
        expect(&case, json_post(&s, BC, &req), 400);
    }
    let req = with(text_ok.clone(), "/inputs/0/shape", json!([i64::MAX, 1]));
    expect("text shape [i64::MAX, 1]", json_post(&s, TEXT, &req), 400);
    let many: Vec<f32> = vec![0.5; 300_000];
    let req = with(ok.clone(), "/inputs/0/data", json!(many));
    expect(
        "300,000 elements for a shape of 30",
        json_post(&s, BC, &req),
        400,
    );
    let req = with(text_ok.clone(), "/inputs/0/shape", json!([1 << 21, 1]));
    expect(
        "2M elements, over the limit",
        json_post(&s, TEXT, &req),
        400,
    );

    // Deep nesting, in the data and in the parameters: 400, not a stack overflow.
    for depth in [200, 100_000] {
        let body = format!(
            r#"{{"inputs":[{{"name":"features","shape":[1,30],"datatype":"FP32","data":{}}}],"parameters":{{"purpose":"medical-triage"}}}}"#,
            nested(depth, "1.0")
        );
        let case = format!("data nested {depth} deep");
        expect(
            &case,
            post(&s, BC, &key, "application/json", body.as_bytes()),
            400,
        );
        let body = format!(
            r#"{{"inputs":[{{"name":"text","shape":[1,1],"datatype":"BYTES","data":["hi"]}}],"parameters":{{"purpose":"customer-support","note":{}}}}}"#,
            nested(depth, "\"x\"")
        );
        let case = format!("parameter nested {depth} deep");
        expect(
            &case,
            post(&s, TEXT, &key, "application/json", body.as_bytes()),
            400,
        );
        let body = format!(
            "{}{}",
            "{\"a\":".repeat(depth),
            "1".to_string() + &"}".repeat(depth)
        );
        let case = format!("objects nested {depth} deep");
        expect(
            &case,
            post(&s, BC, &key, "application/json", body.as_bytes()),
            400,
        );
    }

    // Oversized bodies: with a length (refused before reading) and chunked (refused while
    // reading), over the 8 MiB default.
    let big = vec![b' '; 8 * 1024 * 1024 + 1];
    let error = expect(
        "9 MiB with a length",
        post(&s, BC, &key, "application/json", &big),
        413,
    );
    assert!(error.contains("8388608"), "{error}");
    let head = format!(
        "POST {BC} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    let mut chunks = Vec::new();
    for _ in 0..9 {
        chunks.extend_from_slice(format!("{:x}\r\n", 1 << 20).as_bytes());
        chunks.extend(std::iter::repeat_n(b' ', 1 << 20));
        chunks.extend_from_slice(b"\r\n");
    }
    chunks.extend_from_slice(b"0\r\n\r\n");
    expect(
        "9 MiB chunked, no length",
        raw(&s, head.as_bytes(), &chunks),
        413,
    );

    // Invalid UTF-8 and NUL in BYTES (binary extension), and broken binary framing.
    let text_header = |size: usize| {
        json!({
            "inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "parameters": {"binary_data_size": size}}],
            "parameters": {"purpose": "customer-support"},
        })
    };
    let element = |bytes: &[u8]| {
        let mut b = (bytes.len() as u32).to_le_bytes().to_vec();
        b.extend_from_slice(bytes);
        b
    };
    for (case, bytes) in [
        ("invalid UTF-8 in BYTES", element(&[0xff, 0xfe, b'a'])),
        ("a lone continuation byte in BYTES", element(&[b'a', 0x80])),
        ("NUL in BYTES", element(b"a\0b")),
        ("a BYTES length past the end", {
            let mut b = element(b"abc");
            b[0] = 200;
            b
        }),
        ("a BYTES length of u32::MAX", {
            let mut b = element(b"abc");
            b[..4].copy_from_slice(&u32::MAX.to_le_bytes());
            b
        }),
        ("a truncated BYTES length", vec![3, 0]),
        ("two elements for a shape of one", {
            let mut b = element(b"a");
            b.extend(element(b"b"));
            b
        }),
    ] {
        expect(
            case,
            binary_post(&s, &text_header(bytes.len()), &bytes),
            400,
        );
    }
    let good = element(b"where is my parcel");
    expect(
        "binary_data_size past the body",
        binary_post(&s, &text_header(good.len() + 1), &good),
        400,
    );
    expect(
        "bytes left over",
        binary_post(&s, &text_header(good.len() - 1), &good),
        400,
    );
    expect(
        "negative binary_data_size",
        binary_post(
            &s,
            &with(
                text_header(0),
                "/inputs/0/parameters/binary_data_size",
                json!(-1),
            ),
            &good,
        ),
        400,
    );
    for value in ["abc", "-1", "99999999999999999999999", "1e3", ""] {
        let case = format!("Inference-Header-Content-Length {value:?}");
        let got = s.post_raw(
            TEXT,
            &key,
            &[("inference-header-content-length", value)],
            br#"{"inputs":[]}"#,
        );
        expect(&case, (got.0, got.1), 400);
    }
    let got = s.post_raw(
        TEXT,
        &key,
        &[("inference-header-content-length", "100000")],
        br#"{"inputs":[]}"#,
    );
    expect("a JSON length past the body", (got.0, got.1), 400);

    // Invalid UTF-8 in a JSON string is malformed JSON.
    let mut body =
        br#"{"inputs":[{"name":"text","shape":[1,1],"datatype":"BYTES","data":[""#.to_vec();
    body.extend_from_slice(&[0xc3, 0x28]);
    body.extend_from_slice(br#""]}],"parameters":{"purpose":"customer-support"}}"#);
    expect(
        "invalid UTF-8 in a JSON string",
        post(&s, TEXT, &key, "application/json", &body),
        400,
    );
    let req = with(
        text_ok.clone(),
        "/inputs/0/data/0/0",
        json!("x".repeat(70_000)),
    );
    expect(
        "a BYTES element over 64 KiB",
        json_post(&s, TEXT, &req),
        400,
    );

    // Wrong content types.
    let ok_bytes = serde_json::to_vec(&ok).unwrap();
    for ct in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/octet-stream",
        "json",
        ";",
    ] {
        let case = format!("content type {ct:?}");
        expect(&case, post(&s, BC, &key, ct, &ok_bytes), 415);
    }
    let head = format!(
        "POST {BC} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\ncontent-type: application/\u{ff}\u{fe}json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        ok_bytes.len()
    );
    let mut head = head.into_bytes();
    // `format!` wrote the two bytes as UTF-8 of U+00FF U+00FE; put raw bytes in their place.
    let at = head
        .windows(4)
        .position(|w| w == "\u{ff}\u{fe}".as_bytes())
        .unwrap();
    head.splice(at..at + 4, [0xff, 0xfe]);
    expect(
        "a content type that is not text",
        raw(&s, &head, &ok_bytes),
        415,
    );

    // Missing and garbage credentials: 401 with `WWW-Authenticate: Bearer`, on every route but
    // the open health probes (`tests/front_door.rs`).
    let long = format!("Bearer {}", "k".repeat(10_000));
    let wrong_scheme = format!("Basic {key}");
    let trailing = format!("Bearer {key}x");
    let no_space = format!("Bearer{key}");
    for auth in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("Bearer vk_nope_nope"),
        Some(wrong_scheme.as_str()),
        Some(trailing.as_str()),
        Some(no_space.as_str()),
        Some(long.as_str()),
    ] {
        for path in [BC, "/v2", "/v1/receipts/0", "/nope"] {
            let case = format!(
                "credential {:?} on {path}",
                auth.map(|a| &a[..a.len().min(40)])
            );
            let mut req = if path == BC {
                ureq::post(&format!("{}{path}", s.url))
            } else {
                ureq::get(&format!("{}{path}", s.url))
            };
            if let Some(a) = auth {
                req = req.set("authorization", a);
            }
            let r = match req.send_bytes(&ok_bytes) {
                Ok(r) | Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("{case}: {e}"),
            };
            assert_eq!(r.header("www-authenticate"), Some("Bearer"), "{case}");
            let status = r.status();
            let mut body = Vec::new();
            r.into_reader().read_to_end(&mut body).unwrap();
            expect(&case, (status, body), 401);
        }
    }
    let head = format!(
        "POST {BC} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer \u{ff}{key}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        ok_bytes.len()
    );
    let mut head = head.into_bytes();
    let at = head
        .windows(2)
        .position(|w| w == "\u{ff}".as_bytes())
        .unwrap();
    head.splice(at..at + 2, [0xff]);
    expect(
        "a credential that is not text",
        raw(&s, &head, &ok_bytes),
        401,
    );

    // Not a model, not a version, not a route: 404, not recorded either.
    expect(
        "unknown model",
        json_post(&s, "/v2/models/nope/infer", &ok),
        404,
    );
    expect(
        "unknown version",
        json_post(&s, "/v2/models/breast-cancer/versions/99/infer", &ok),
        404,
    );
    expect(
        "a seq that is not a number",
        {
            let (status, body) = s.get("/v1/receipts/-1", Some(&key));
            (status, serde_json::to_vec(&body).unwrap())
        },
        400,
    );

    // Still alive, still serving, and nothing above was recorded.
    assert!(
        s.child.try_wait().unwrap().is_none(),
        "the server died during the hostile requests"
    );
    let after = good_call_seq(&s);
    assert_eq!(
        after,
        before + 1,
        "hostile requests were recorded in the ledger"
    );
    assert!(s.stop().success());
    let logs = String::from_utf8_lossy(&s.logs()).into_owned();
    assert!(!logs.contains("panicked"), "the server panicked: {logs}");
}
