//! The ledger workload shared by `benches/ledger.rs` and `examples/export_bench.rs`.

use vouch::ids::{CallerId, CredentialId, RuleId};
use vouch::ledger::*;

/// The bench log's key (a fixed seed).
pub fn signer() -> SignerKey {
    SignerKey::from_seed("bench.vouch/log", &[7u8; 32]).unwrap()
}

/// The bench workload's entry `i`: 100 callers (1 % of the log each), one model, one entry in
/// ten denied.
pub fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        request_id: Some(format!("req-{i}")),
        caller: CallerId::parse(&format!("caller-{}", i % 100)),
        credential: CredentialId::parse(&format!("c0ffee{:02x}", i % 100)),
        model: Some(ModelRef {
            name: "breast-cancer".into(),
            version: "1".into(),
            sha256: Hash::digest(b"model"),
        }),
        input: Some(Hash::digest(&i.to_be_bytes())),
        output: Some(Hash::digest(&(!i).to_be_bytes())),
        decision: if i.is_multiple_of(10) {
            Decision::Deny
        } else {
            Decision::Allow
        },
        rules: if i.is_multiple_of(10) {
            RuleId::parse("privacy.consent-required")
                .into_iter()
                .collect()
        } else {
            RuleId::parse("access.registered-caller")
                .into_iter()
                .collect()
        },
        obligations: vec![],
        context: EntryContext {
            purpose: Some("medical-triage".into()),
            data_categories: vec!["health".into()],
            pii: vec![],
            declared: Some(Declared {
                categories: vec!["health".into()],
                commercial: false,
                consent: true,
                separate_consent: true,
                terms_version: None,
            }),
            input_bytes: Some(280),
            pii_scan_complete: Some(true),
        },
        policy: Some(Hash::digest(b"policy")),
    }
}
