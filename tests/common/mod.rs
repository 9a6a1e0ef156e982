//! Helpers shared by the ledger tests: fixed keys and drafts that differ per call.
#![allow(dead_code)]

use std::path::Path;

use vouch::ids::{CallerId, CredentialId, RuleId};
use vouch::ledger::*;

pub const ORIGIN: &str = "test.vouch/log";

pub fn signer() -> SignerKey {
    SignerKey::from_seed(ORIGIN, &[42u8; 32]).unwrap()
}

pub fn open(dir: &Path) -> Ledger {
    Ledger::open(dir, signer(), LedgerConfig::default()).unwrap()
}

/// A draft whose fields vary with `i`, so entries differ and every index gets keys.
pub fn draft(i: u64) -> EntryDraft {
    let decision = match i % 3 {
        0 => Decision::Allow,
        1 => Decision::Deny,
        _ => Decision::Error,
    };
    EntryDraft {
        request_id: Some(format!("req-{i}")),
        caller: CallerId::parse(&format!("caller-{}", i % 5)),
        credential: CredentialId::parse(&format!("c0ffee{:02x}", i % 5)),
        model: Some(ModelRef {
            name: ["breast-cancer", "seed-mlp"][(i % 2) as usize].into(),
            version: "1".into(),
            sha256: Hash::digest(b"model file"),
        }),
        input: Some(Hash::digest(&i.to_be_bytes())),
        output: (decision == Decision::Allow).then(|| Hash::digest(&(i + 1).to_be_bytes())),
        decision,
        rules: if decision == Decision::Deny {
            RuleId::parse(&format!("privacy.rule-{}", i % 4))
                .into_iter()
                .collect()
        } else {
            vec![]
        },
        obligations: vec![],
        context: EntryContext {
            purpose: Some("research".into()),
            data_categories: vec![],
            pii: vec![],
            declared: Some(Declared {
                commercial: i.is_multiple_of(3),
                consent: true,
                ..Declared::default()
            }),
            input_bytes: Some(120 + i),
            pii_scan_complete: Some(true),
        },
        policy: Some(Hash::digest(b"policy bundle")),
    }
}

/// Opens the raw sled database of a closed ledger, waiting for sled to release its lock.
pub fn raw_db(dir: &Path) -> sled::Db {
    for _ in 0..100 {
        match sled::open(dir.join("ledger")) {
            Ok(db) => return db,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    sled::open(dir.join("ledger")).unwrap()
}

/// Every file under `dir`, at any depth.
pub fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
