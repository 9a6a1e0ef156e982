//! The service's front door, black-box: which routes are open (the health probes) and which need
//! a key, readiness that covers the models and the ledger, metrics whose series do not grow with
//! what clients send, exports capped in number, wrong methods, stalled bodies and compressed
//! bodies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;
mod harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{breast_cancer_request, start, start_with, text_request, Options};
use serde_json::json;

fn status(url: &str, method: &str, key: Option<&str>) -> (u16, String, Option<String>) {
    let mut req = ureq::request(method, url);
    if let Some(k) = key {
        req = req.set("authorization", &format!("Bearer {k}"));
    }
    let r = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{url}: {e}"),
    };
    let code = r.status();
    let allow = r.header("allow").map(str::to_string);
    (code, r.into_string().unwrap_or_default(), allow)
}

#[test]
fn health_probes_are_open_and_say_only_their_status_every_other_route_needs_a_key() {
    let s = start();
    for probe in ["/v2/health/live", "/v2/health/ready"] {
        let (code, body, _) = status(&format!("{}{probe}", s.url), "GET", None);
        assert_eq!((code, body.as_str()), (200, ""), "{probe}");
    }
    for (method, path) in [
        ("GET", "/v2"),
        ("GET", "/v2/models/breast-cancer"),
        ("GET", "/v2/models/breast-cancer/ready"),
        ("GET", "/v2/models/breast-cancer/versions/1"),
        ("POST", "/v2/models/breast-cancer/infer"),
        ("GET", "/v1/receipts/0"),
        ("GET", "/v1/checkpoint"),
        ("GET", "/v1/entries"),
        ("GET", "/v1/export"),
        ("GET", "/metrics"),
        ("GET", "/no/such/route"),
        // A wrong method reveals nothing to a client without a key.
        ("GET", "/v2/models/breast-cancer/infer"),
        ("DELETE", "/v1/checkpoint"),
    ] {
        let (code, _, _) = status(&format!("{}{path}", s.url), method, None);
        assert_eq!(code, 401, "{method} {path}");
    }
}

#[test]
fn wrong_methods_get_405_with_allow() {
    let s = start();
    for (method, path, allowed) in [
        ("GET", "/v2/models/breast-cancer/infer", "POST"),
        ("PUT", "/v2/models/breast-cancer", "GET"),
        ("POST", "/v1/checkpoint", "GET"),
        ("DELETE", "/v1/export", "GET"),
        ("POST", "/v2/health/ready", "GET"),
    ] {
        let (code, body, allow) =
            status(&format!("{}{path}", s.url), method, Some(&s.regulator_key));
        assert_eq!(code, 405, "{method} {path}: {body}");
        assert_eq!(allow.as_deref(), Some(allowed), "{method} {path}");
        assert!(body.contains("not allowed"), "{body}");
    }
}

/// The number of series (sample lines) in `/metrics`.
fn series(s: &harness::Server) -> usize {
    let (code, text, _) = status(&format!("{}/metrics", s.url), "GET", Some(&s.admin_key));
    assert_eq!(code, 200);
    text.lines().filter(|l| !l.starts_with('#')).count()
}

#[test]
fn metrics_series_do_not_grow_with_invented_model_names() {
    let s = start();
    let body = text_request("hello", json!({"purpose": "customer-support"}));
    // Every label value a stranger can reach, once: unknown model with and without a key.
    for key in [None, Some(s.caller_key.as_str())] {
        let _ = s.post("/v2/models/no-such-model/infer", key, &body);
    }
    let before = series(&s);
    for i in 0..1000 {
        let name = format!("m{i:04}x{}", i * 7919 % 1000);
        let key = (i % 2 == 0).then_some(s.caller_key.as_str());
        let (code, _) = s.post(&format!("/v2/models/{name}/infer"), key, &body);
        assert_eq!(code, if key.is_some() { 404 } else { 401 }, "{name}");
    }
    let after = series(&s);
    assert_eq!(before, after, "series grew from {before} to {after}");
    let (_, text, _) = status(&format!("{}/metrics", s.url), "GET", Some(&s.admin_key));
    assert!(
        !text.contains("m0001"),
        "an invented name reached the metrics"
    );
    assert!(text.contains("model=\"unknown\""), "{text}");
}

/// Fills the ledger with `n` entries straight through the library, before a server starts on it.
fn fill(dir: &std::path::Path, n: u64) {
    let signer = vouch::ledger::read_signer_key(&dir.join("log.key")).unwrap();
    let ledger =
        vouch::ledger::Ledger::open(dir, signer, vouch::ledger::LedgerConfig::default()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..16u64 {
            let ledger = &ledger;
            scope.spawn(move || {
                for i in (t..n).step_by(16) {
                    ledger.append_blocking(common::draft(i)).unwrap();
                }
            });
        }
    });
    ledger.close();
}

/// Opens an export that the client does not read: a tiny receive window keeps the server's
/// stream from finishing, so the export holds its permit.
fn stalled_export(url: &str, key: &str) -> TcpStream {
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    let socket = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )
    .unwrap();
    socket.set_recv_buffer_size(2048).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    write!(
        stream,
        "GET /v1/export HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {key}\r\n\r\n"
    )
    .unwrap();
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    stream
}

#[test]
fn exports_are_capped_429_with_retry_after_and_verify_waits_for_its_turn() {
    let first = start();
    let reuse = first.reuse();
    drop(first);
    fill(reuse.path(), 4000);
    let s = start_with(Options {
        extra_args: vec!["--max-exports".into(), "1".into()],
        reuse: Some(reuse),
        ..Options::default()
    });
    let held = stalled_export(&s.url, &s.regulator_key);
    let r = ureq::get(&format!("{}/v1/export", s.url))
        .set("authorization", &format!("Bearer {}", s.regulator_key))
        .call();
    let Err(ureq::Error::Status(429, r)) = r else {
        panic!("a second export was not refused: {r:?}")
    };
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));

    // `vouch verify --url` waits its turn, says so, and verifies once the first export is done.
    let work = tempfile::tempdir().unwrap();
    let reg = work.path().join("regulator.key");
    std::fs::write(&reg, &s.regulator_key).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["verify", "--url", &s.url, "--key-file"])
        .arg(&reg)
        .arg("--key")
        .arg(s.data().join("log.pub"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    drop(held);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("retrying in"), "{err}");
}

#[test]
fn a_model_refused_at_start_makes_the_service_unready_and_says_why() {
    let models = tempfile::tempdir().unwrap();
    copy_dir(&harness::root().join("models"), models.path());
    // One model's file no longer matches its manifest's hash.
    let onnx = std::fs::read_dir(models.path().join("seed-mlp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "onnx"))
        .or_else(|| {
            walk(&models.path().join("seed-mlp"))
                .into_iter()
                .find(|p| p.extension().is_some_and(|x| x == "onnx"))
        })
        .unwrap();
    let mut bytes = std::fs::read(&onnx).unwrap();
    bytes.push(0);
    std::fs::write(&onnx, bytes).unwrap();
    let s = start_with(Options {
        models: Some(models.path().to_path_buf()),
        ..Options::default()
    });
    let (live, _, _) = status(&format!("{}/v2/health/live", s.url), "GET", None);
    let (ready, _, _) = status(&format!("{}/v2/health/ready", s.url), "GET", None);
    assert_eq!((live, ready), (200, 503));
    let (code, body) = s.post(
        "/v2/models/seed-mlp/infer",
        Some(&s.caller_key),
        &json!({"inputs": []}),
    );
    assert_eq!(code, 503, "{body}");
    let msg = body["error"].as_str().unwrap();
    assert!(
        msg.contains("was refused") && msg.contains("seed-mlp"),
        "{msg}"
    );
    // The other models still serve.
    let (code, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(json!({
            "purpose": "medical-triage", "consent": true, "separate_consent": true,
            "data_categories": ["health"]
        })),
    );
    assert_eq!(code, 200, "{body}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

#[test]
fn stalled_bodies_time_out_and_compressed_bodies_are_refused() {
    let s = start_with(Options {
        extra_args: vec!["--body-timeout-ms".into(), "500".into()],
        ..Options::default()
    });
    let addr = s.url.trim_start_matches("http://").to_string();
    let mut conns = vec![];
    for _ in 0..20 {
        let mut c = TcpStream::connect(&addr).unwrap();
        write!(
            c,
            "POST /v2/models/breast-cancer/infer HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
             content-type: application/json\r\ncontent-length: 1000\r\n\r\n{{\"inputs\": [",
            s.caller_key
        )
        .unwrap();
        conns.push(c);
    }
    let started = Instant::now();
    for mut c in conns {
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = String::new();
        let _ = c.read_to_string(&mut buf);
        assert!(buf.starts_with("HTTP/1.1 408"), "{buf}");
        assert!(buf.contains("did not arrive within 500 ms"), "{buf}");
    }
    assert!(started.elapsed() < Duration::from_secs(5));

    let (code, body, _) = {
        let r = ureq::post(&format!("{}/v2/models/breast-cancer/infer", s.url))
            .set("authorization", &format!("Bearer {}", s.caller_key))
            .set("content-type", "application/json")
            .set("content-encoding", "gzip")
            .send_bytes(b"\x1f\x8b\x08\x00");
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        (r.status(), r.into_string().unwrap(), ())
    };
    assert_eq!(code, 415, "{body}");
    assert!(body.contains("uncompressed"), "{body}");
}
