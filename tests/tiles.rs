//! C2SP `tlog-tiles` served by a real server, black-box: the checkpoint, hash tiles (full and
//! partial), header bundles and a block's entries, with their content types, caching and access
//! (open with `--public-tiles`, else the `audit` action; a block's entries always `audit`); the
//! tiles read by the `tlog_tiles` crate's tile reader, which recomputes the checkpoint's root and
//! proves a header in it; `vouch verify --tiles` over the real server, and over a proxy that
//! changes one byte of one resource (refused).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use vouch::ledger::{leaf_hash, split_bundle, write_verifier_key, Checkpoint};

/// GET `path` with an optional key: (status, headers we check, body).
fn fetch(url: &str, path: &str, key: Option<&str>) -> (u16, String, String, Vec<u8>) {
    let mut req = ureq::get(&format!("{url}{path}"));
    if let Some(k) = key {
        req = req.set("Authorization", &format!("Bearer {k}"));
    }
    let resp = match req.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = resp.status();
    let ctype = resp.header("content-type").unwrap_or_default().to_string();
    let cache = resp.header("cache-control").unwrap_or_default().to_string();
    let mut body = Vec::new();
    resp.into_reader().read_to_end(&mut body).unwrap();
    (status, ctype, cache, body)
}

fn calls(s: &harness::Server, n: usize) {
    let req = harness::breast_cancer_request(serde_json::json!({
        "purpose": "medical-triage", "consent": true, "separate_consent": true,
        "data_categories": ["health"]}));
    for _ in 0..n {
        let (status, body) = s.post("/v2/models/breast-cancer/infer", Some(&s.caller_key), &req);
        assert_eq!(status, 200, "{body}");
    }
}

/// The `tlog_tiles` crate's tile reader over our server: its paths are the Go checksum
/// database's (`tile/<H>/<L>/<N>`), C2SP's drop the height.
struct Http {
    url: String,
}

impl tlog_tiles::TileReader for Http {
    fn height(&self) -> u8 {
        8
    }
    fn read_tiles(&self, tiles: &[tlog_tiles::Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        Ok(tiles
            .iter()
            .map(|t| {
                let path = t.path().replacen("tile/8/", "tile/", 1);
                let (status, _, _, body) = fetch(&self.url, &format!("/{path}"), None);
                assert_eq!(status, 200, "{path}");
                body
            })
            .collect())
    }
    fn save_tiles(&self, _: &[tlog_tiles::Tile], _: &[Vec<u8>]) {}
}

#[test]
fn tiles_are_served_as_the_spec_says_and_verify() {
    let s = harness::start_with(harness::Options {
        extra_args: vec!["--public-tiles".into()],
        ..harness::Options::default()
    });
    // One block per call, sequential: 300 blocks make a full level-0 tile and partial ones.
    calls(&s, 300);
    let (status, ctype, cache, note) = fetch(&s.url, "/checkpoint", None);
    assert_eq!(status, 200);
    assert_eq!(ctype, "text/plain; charset=utf-8");
    assert!(cache.contains("max-age=1"), "{cache}");
    let note = String::from_utf8(note).unwrap();
    let cp = Checkpoint::open(&note, &s.verifier).unwrap();
    assert!(cp.size >= 300, "{}", cp.size);
    let partial = cp.size % 256;

    // A full level-0 tile: 256 hashes, immutable, public.
    let (status, ctype, cache, tile0) = fetch(&s.url, "/tile/0/000", None);
    assert_eq!(
        (status, ctype.as_str(), tile0.len()),
        (200, "application/octet-stream", 8192)
    );
    assert!(
        cache.contains("public") && cache.contains("immutable"),
        "{cache}"
    );
    // Its hashes are the leaf hashes of the headers the bundle serves.
    let (status, _, _, bundle) = fetch(&s.url, "/tile/entries/000", None);
    assert_eq!(status, 200);
    let headers = split_bundle(&bundle).unwrap();
    assert_eq!(headers.len(), 256);
    for (i, h) in headers.iter().enumerate() {
        assert_eq!(
            &tile0[i * 32..i * 32 + 32],
            leaf_hash(h).hash().as_bytes(),
            "header {i}"
        );
    }
    // The partial tiles of this size, and none wider or full beyond the tree.
    let (status, _, _, p) = fetch(&s.url, &format!("/tile/0/001.p/{partial}"), None);
    assert_eq!((status, p.len()), (200, partial as usize * 32));
    let (status, _, _, p1) = fetch(&s.url, "/tile/1/000.p/1", None);
    assert_eq!((status, p1.len()), (200, 32));
    for missing in [
        format!("/tile/0/001.p/{}", partial + 1),
        "/tile/0/001".into(),
        "/tile/1/000".into(),
        "/tile/0/1".into(),
        "/tile/0/x000/001".into(),
        format!("/tile/entries/001.p/{}", partial + 1),
    ] {
        assert_eq!(fetch(&s.url, &missing, None).0, 404, "{missing}");
    }
    // A smaller partial tile of an earlier size is served too (its checkpoint existed).
    let (status, _, _, p3) = fetch(&s.url, "/tile/0/001.p/3", None);
    assert_eq!((status, &p3[..]), (200, &p[..96]));

    // A block's entries: only for the audit action, and they hash to its entries_root.
    assert_eq!(fetch(&s.url, "/vouch/entries/000", None).0, 401);
    assert_ne!(
        fetch(&s.url, "/vouch/entries/000", Some(&s.caller_key)).0,
        200
    );
    let (status, _, cache, entries) = fetch(&s.url, "/vouch/entries/005", Some(&s.regulator_key));
    assert_eq!(status, 200);
    assert!(cache.contains("private"), "{cache}");
    let entries = split_bundle(&entries).unwrap();
    assert_eq!(entries.len(), 1);
    vouch::ledger::Entry::from_bytes(entries[0]).unwrap();

    // Another implementation reads the tiles: the tree hash of the checkpoint's size, and a
    // header proven in it.
    let reader = Http { url: s.url.clone() };
    let root = tlog_tiles::Hash(*cp.root.as_bytes());
    let hashes = tlog_tiles::TileHashReader::new(cp.size, root, &reader);
    assert_eq!(tlog_tiles::tree_hash(cp.size, &hashes).unwrap(), root);
    let proof = tlog_tiles::prove_record(cp.size, 7, &hashes).unwrap();
    let leaf = tlog_tiles::Hash(*leaf_hash(headers[7]).hash().as_bytes());
    tlog_tiles::check_record(&proof, cp.size, root, 7, leaf).unwrap();

    // `vouch verify --tiles` through the tiles alone.
    let dir = tempfile::tempdir().unwrap();
    write_verifier_key(&s.verifier, &dir.path().join("log.pub")).unwrap();
    std::fs::write(dir.path().join("regulator.key"), &s.regulator_key).unwrap();
    let verify = |url: &str| {
        Command::new(env!("CARGO_BIN_EXE_vouch"))
            .current_dir(dir.path())
            .args([
                "verify",
                "--tiles",
                url,
                "--key-file",
                "regulator.key",
                "--key",
                "log.pub",
                "--json",
            ])
            .output()
            .unwrap()
    };
    let out = verify(&s.url);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Reads of a block's entries are recorded, so the log has grown since.
    assert!(report["blocks"].as_u64().unwrap() >= cp.size, "{report}");
    assert!(report["entries"].as_u64().unwrap() >= 300, "{report}");

    // Through a proxy that changes one byte of one resource, it fails.
    for victim in [
        "/tile/0/000",
        "/tile/entries/000",
        "/vouch/entries/007",
        "/tile/1/",
        "/checkpoint",
    ] {
        let proxy = tamper_proxy(&s.url, victim);
        let out = verify(&proxy);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{victim}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A log without `--public-tiles` serves tiles to the `audit` action only.
#[test]
fn tiles_need_audit_unless_public() {
    let s = harness::start();
    calls(&s, 2);
    for path in ["/checkpoint", "/tile/0/000.p/2", "/tile/entries/000.p/2"] {
        assert_eq!(fetch(&s.url, path, None).0, 401, "{path}");
        let (status, _, cache, _) = fetch(&s.url, path, Some(&s.regulator_key));
        assert_eq!(status, 200, "{path}");
        assert!(cache.starts_with("private"), "{path}: {cache}");
        assert_ne!(fetch(&s.url, path, Some(&s.caller_key)).0, 200, "{path}");
    }
}

/// An HTTP/1.1 proxy to `upstream` that flips one byte in the body of every path starting with
/// `victim`; its URL.
fn tamper_proxy(upstream: &str, victim: &str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (upstream, victim) = (upstream.to_string(), victim.to_string());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split(' ').nth(1).unwrap_or("/").to_string();
            let mut auth = None;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h
                    .strip_prefix("authorization: ")
                    .or_else(|| h.strip_prefix("Authorization: "))
                {
                    auth = Some(v.trim().to_string());
                }
            }
            let mut req = ureq::get(&format!("{upstream}{path}"));
            if let Some(a) = &auth {
                req = req.set("Authorization", a);
            }
            let (status, mut body) = match req.call() {
                Ok(r) => {
                    let mut b = Vec::new();
                    r.into_reader().read_to_end(&mut b).unwrap();
                    (200, b)
                }
                Err(ureq::Error::Status(code, r)) => {
                    (code, r.into_string().unwrap_or_default().into_bytes())
                }
                Err(_) => (502, vec![]),
            };
            if path.starts_with(&victim) && !body.is_empty() {
                let at = body.len() / 2;
                body[at] ^= 1;
            }
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    url
}
