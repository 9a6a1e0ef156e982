//! A ledger on a disk that fills up: calls are refused cleanly (`503`), readiness says so and
//! comes back when there is room again, and a store stopped and started while the disk is full
//! still opens, whole, once room is made. The data folder is a small tmpfs of the test's own
//! (mounting needs root, as CI runs).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{provision_at, start_with, text_request, Options, Server};
use serde_json::json;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn new(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mounting a tmpfs failed: this test needs root (CI runs as root)"
        );
        Tmpfs { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Writes a file until the file system is full; returns its path.
fn fill_up(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![7u8; 16 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    // Whatever a 16 KiB chunk could not take, smaller writes take.
    while f.write_all(&[7u8; 512]).and_then(|()| f.sync_all()).is_ok() {}
    path
}

fn call(s: &Server) -> u16 {
    s.post(
        "/v2/models/support-intent/infer",
        Some(&s.caller_key),
        &text_request("where is my parcel", json!({"purpose": "customer-support"})),
    )
    .0
}

fn ready(s: &Server) -> u16 {
    s.get("/v2/health/ready", None).0
}

fn verify_data(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["verify", "--json", "--data"])
        .arg(dir)
        .arg("--key")
        .arg(dir.join("log.pub"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn unfinished_snapshots(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir.join("ledger"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".generating"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_full_disk_refuses_calls_cleanly_and_the_ledger_recovers_with_and_without_a_restart() {
    let fs = Tmpfs::new("8m");
    let reuse = provision_at(tempfile::tempdir_in(fs.path()).unwrap());
    let data = reuse.path().to_path_buf();
    let mut s = start_with(Options {
        reuse: Some(reuse.clone()),
        ..Options::default()
    });
    let mut acknowledged = 0u64;
    for _ in 0..5 {
        assert_eq!(call(&s), 200);
        acknowledged += 1;
    }
    assert_eq!(ready(&s), 200);

    // The disk fills up while the service runs: calls get 503, readiness goes 503 ...
    let filler = fill_up(fs.path());
    let started = Instant::now();
    let mut refused = 0;
    while started.elapsed() < Duration::from_secs(20) && refused < 5 {
        match call(&s) {
            200 => acknowledged += 1,
            503 => refused += 1,
            other => panic!("a call on a full disk answered {other}"),
        }
    }
    assert!(refused >= 5, "no call was refused on a full disk");
    assert_eq!(ready(&s), 503);

    // ... and both come back once there is room, without a restart.
    std::fs::remove_file(&filler).unwrap();
    let started = Instant::now();
    while ready(&s) != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "readiness did not come back after room was made: {}",
            String::from_utf8_lossy(&s.logs())
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(call(&s), 200);
    acknowledged += 1;

    // Full again; then stopped and started while still full.
    let filler = fill_up(fs.path());
    for _ in 0..5 {
        if call(&s) == 200 {
            acknowledged += 1;
        }
    }
    s.stop();
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .arg("--data")
        .arg(&data)
        .arg("--models")
        .arg(harness::root().join("models"))
        .arg("--policies")
        .arg(harness::root().join("policies"))
        .arg("--callers")
        .arg(data.join("callers.toml"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It may refuse to start (no room) or start; either way it leaves no half-made file.
    std::thread::sleep(Duration::from_secs(2));
    let pid = out.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let _ = out.wait_with_output().unwrap();
    assert_eq!(unfinished_snapshots(&data), Vec::<String>::new());

    // Room again: the store opens, every acknowledged call is in it, and it verifies.
    std::fs::remove_file(&filler).unwrap();
    let s = start_with(Options {
        reuse: Some(reuse),
        ..Options::default()
    });
    assert_eq!(ready(&s), 200);
    assert_eq!(call(&s), 200);
    acknowledged += 1;
    drop(s);
    let (code, out) = verify_data(&data);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value =
        serde_json::from_str(out.lines().next().unwrap_or("{}")).unwrap_or_default();
    let entries = v["entries"].as_u64().unwrap_or(0);
    assert!(
        entries >= acknowledged,
        "{entries} entries, {acknowledged} calls acknowledged: {out}"
    );
}

#[test]
fn an_index_that_cannot_be_opened_is_rebuilt_from_the_blocks_file() {
    let first = harness::start();
    let reuse = first.reuse();
    for _ in 0..10 {
        assert_eq!(call(&first), 200);
    }
    drop(first);
    let data = reuse.path().to_path_buf();
    // What a disk that filled up while sled wrote can leave: its files cut short, a half-made
    // snapshot beside them.
    let ledger = data.join("ledger");
    for e in std::fs::read_dir(&ledger).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name == "conf" || name == "db" {
            std::fs::write(e.path(), b"\x00\x01garbage").unwrap();
        }
    }
    std::fs::write(ledger.join("snap.00000000DEADBEEF.generating"), b"").unwrap();
    let s = start_with(Options {
        reuse: Some(reuse.clone()),
        ..Options::default()
    });
    let logs = String::from_utf8_lossy(&s.logs()).into_owned();
    assert!(
        logs.contains("rebuilding it from the blocks file"),
        "{logs}"
    );
    let (code, head) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(code, 200, "{head}");
    assert_eq!(head["entries"], 10, "{head}");
    assert_eq!(call(&s), 200);
    assert_eq!(unfinished_snapshots(&data), Vec::<String>::new());
    drop(s);
    let (code, out) = verify_data(&data);
    assert_eq!(code, 0, "{out}");
}
