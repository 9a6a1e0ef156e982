//! The demo set-up of `vouch serve --demo`: a log key, three demo callers (a clinic, a regulator,
//! an operator) and their keys in the data folder, made once and kept across runs. The keys are
//! written to `DATA/demo-credentials.json` (mode 0600) and the log's verifier key to
//! `DATA/log.pub`, so scripts can use them.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use crate::ledger::{write_key_pair, SignerKey, PRIVATE_KEY_FILE};
use crate::policy::{CallerRecord, CallerRegistry, PolicyEngine, Role};

/// The demo log's origin.
pub const DEMO_ORIGIN: &str = "vouch.demo/log";
/// The file holding the demo keys.
pub const CREDENTIALS: &str = "demo-credentials.json";

fn record(
    id: &str,
    organisation: &str,
    role: Role,
    terms: &str,
    licences: &[&str],
) -> CallerRecord {
    CallerRecord {
        id: id.into(),
        organisation: organisation.into(),
        roles: vec![role],
        tier: "standard".into(),
        jurisdiction: "GB".into(),
        terms_version: terms.into(),
        human_oversight: role == Role::Caller,
        licences: licences.iter().map(|s| s.to_string()).collect(),
        credentials: vec![],
    }
}

/// Creates what is missing of the demo in `data`.
pub fn provision(data: &Path, callers: &Path, policy: &PolicyEngine) -> Result<(), String> {
    std::fs::create_dir_all(data).map_err(|e| format!("{}: {e}", data.display()))?;
    if !data.join(PRIVATE_KEY_FILE).exists() {
        let key = SignerKey::generate(DEMO_ORIGIN).map_err(|e| e.to_string())?;
        write_key_pair(&key, data).map_err(|e| e.to_string())?;
    }
    let creds = data.join(CREDENTIALS);
    if creds.exists() && callers.exists() {
        return Ok(());
    }
    // Keys are stored only as hashes: without the credentials file the demo callers start anew.
    let _ = std::fs::remove_file(callers);
    let terms = policy.terms_version();
    let mut keys = serde_json::Map::new();
    for (role_name, rec) in [
        (
            "caller",
            record(
                "demo-clinic",
                "Demo Clinic",
                Role::Caller,
                terms,
                &["medical-practice"],
            ),
        ),
        (
            "regulator",
            record(
                "demo-regulator",
                "Demo Supervisory Authority",
                Role::Regulator,
                terms,
                &[],
            ),
        ),
        (
            "admin",
            record("demo-operator", "Demo Operator", Role::Admin, terms, &[]),
        ),
    ] {
        let (key, _) = CallerRegistry::add(callers, rec).map_err(|e| e.to_string())?;
        keys.insert(
            role_name.into(),
            serde_json::Value::String(key.expose().to_string()),
        );
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&creds)
        .map_err(|e| format!("{}: {e}", creds.display()))?;
    f.write_all(serde_json::Value::Object(keys).to_string().as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Prints the demo keys and a working example call.
pub fn announce(data: &Path, addr: &str, grpc: Option<&str>) {
    let creds: serde_json::Value = std::fs::read(data.join(CREDENTIALS))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let key = |k: &str| {
        creds
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "demo callers (keys also in {}):",
        data.join(CREDENTIALS).display()
    );
    println!("  caller     demo-clinic      {}", key("caller"));
    println!("  regulator  demo-regulator   {}", key("regulator"));
    println!("  admin      demo-operator    {}", key("admin"));
    println!("log verifier key: {}", data.join("log.pub").display());
    println!("try:");
    println!(
        "  curl -s http://{addr}/v2/models/support-intent/infer -H 'authorization: Bearer {}' -H 'content-type: application/json' \\\n    -d '{{\"inputs\":[{{\"name\":\"text\",\"shape\":[1,1],\"datatype\":\"BYTES\",\"data\":[[\"I was charged twice this month\"]]}}],\"parameters\":{{\"purpose\":\"customer-support\",\"consent\":true}}}}'",
        key("caller")
    );
    if let Some(g) = grpc {
        println!(
            "gRPC (Open Inference Protocol v2, inference.GRPCInferenceService) on {g}; with tritonclient[grpc]:"
        );
        println!(
            "  python3 -c \"import numpy as np, tritonclient.grpc as g; c = g.InferenceServerClient('{g}'); i = g.InferInput('text', [1, 1], 'BYTES'); i.set_data_from_numpy(np.array([[b'I was charged twice this month']], dtype=object)); r = c.infer('support-intent', [i], headers={{'authorization': 'Bearer {}'}}, parameters={{'purpose': 'customer-support', 'consent': True}}); print(r.as_numpy('label'), r.get_response().parameters['receipt'].string_param[:60])\"",
            key("caller")
        );
    }
}
