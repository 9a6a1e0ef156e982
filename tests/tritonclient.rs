//! The most used Open Inference Protocol v2 client (`tritonclient[http]` from PyPI) talks to the
//! real server, in JSON and in binary-tensor mode, and still parses responses that carry a
//! receipt. `make test` installs the client into `.venv-test`; the test uses the interpreter in
//! `VOUCH_TEST_PYTHON` (set by the Makefile), else `python3`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use vouch::ledger::Receipt;

#[test]
fn the_v2_python_client_calls_in_json_and_binary_mode() {
    let python = std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = std::process::Command::new(&python)
        .args(["-c", "import tritonclient.http"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!("{python} cannot import tritonclient.http: run `make test`, which installs tests/python/requirements.txt into .venv-test"),
    }
    let s = harness::start();
    let hostport = s.url.trim_start_matches("http://").to_string();
    let out = std::process::Command::new(&python)
        .arg(harness::root().join("tests/python/v2_client.py"))
        .arg(&hostport)
        .arg(&s.caller_key)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["binary"], false);
    assert_eq!(lines[1]["binary"], true);
    for l in &lines {
        let r: Receipt = serde_json::from_value(l["receipt"].clone()).unwrap();
        r.verify(&s.verifier).unwrap();
    }
}
