//! HTTPS end to end: the real server with a certificate this test makes (rcgen), a call and its
//! receipt, `vouch audit` and `vouch verify --url` over TLS, and clients that refuse a
//! certificate they do not trust.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::path::{Path, PathBuf};
use std::process::Command;

use harness::{breast_cancer_request, start_with, Options, Server};
use serde_json::json;

/// A CA and a server certificate for `localhost` and 127.0.0.1 it signed, as PEM files.
struct Pki {
    _dir: tempfile::TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

fn pki(dir: tempfile::TempDir) -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "vouch test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let key = KeyPair::generate().unwrap();
    let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert = params.signed_by(&key, &ca, &ca_key).unwrap();
    let write = |name: &str, text: String| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    Pki {
        ca: write("ca.pem", ca.pem()),
        cert: write("cert.pem", cert.pem()),
        key: write("key.pem", key.serialize_pem()),
        _dir: dir,
    }
}

fn tls_server(pki: &Pki) -> Server {
    start_with(Options {
        extra_args: vec![
            "--tls-cert".into(),
            pki.cert.display().to_string(),
            "--tls-key".into(),
            pki.key.display().to_string(),
        ],
        ..Options::default()
    })
}

fn agent(ca: Option<&Path>) -> ureq::Agent {
    ureq::AgentBuilder::new()
        .tls_config(vouch::tls::client_config(ca).unwrap())
        .build()
}

fn vouch(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn calls_receipts_audit_and_verify_work_over_tls() {
    let pki = pki(tempfile::tempdir().unwrap());
    let s = tls_server(&pki);
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let work = tempfile::tempdir().unwrap();

    // A call over TLS, and its receipt checked offline.
    let answer = agent(Some(&pki.ca))
        .post(&format!("{}/v2/models/breast-cancer/infer", s.url))
        .set("authorization", &format!("Bearer {}", s.caller_key))
        .send_json(breast_cancer_request(json!({
            "purpose": "medical-triage", "consent": true, "separate_consent": true,
            "data_categories": ["health"]
        })))
        .unwrap()
        .into_string()
        .unwrap();
    let resp = work.path().join("resp.json");
    std::fs::write(&resp, &answer).unwrap();
    let log_pub = s.data().join("log.pub");
    let (code, out, err) = vouch(&[
        "receipt",
        "verify",
        resp.to_str().unwrap(),
        "--key",
        log_pub.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    let reg = work.path().join("regulator.key");
    std::fs::write(&reg, &s.regulator_key).unwrap();
    let state = work.path().join("audit.state");
    let (code, out, err) = vouch(&[
        "audit",
        "--url",
        &s.url,
        "--key-file",
        reg.to_str().unwrap(),
        "--key",
        log_pub.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--ca-file",
        pki.ca.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("breast-cancer"), "{out}");

    let (code, out, err) = vouch(&[
        "verify",
        "--url",
        &s.url,
        "--key-file",
        reg.to_str().unwrap(),
        "--key",
        log_pub.to_str().unwrap(),
        "--ca-file",
        pki.ca.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");

    // Without the CA the CLI refuses the server, in words, and says how to trust it.
    for args in [
        vec![
            "verify",
            "--url",
            &s.url,
            "--key-file",
            reg.to_str().unwrap(),
        ],
        vec![
            "audit",
            "--url",
            &s.url,
            "--key-file",
            reg.to_str().unwrap(),
            "--state",
            state.to_str().unwrap(),
        ],
    ] {
        let mut args = args.clone();
        args.extend(["--key", log_pub.to_str().unwrap()]);
        let (code, out, err) = vouch(&args);
        assert_eq!(code, 4, "{args:?}: {out}{err}");
        assert!(
            err.contains("not trusted") && err.contains("--ca-file"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn clients_refuse_a_certificate_they_do_not_trust_and_plain_http_gets_nothing() {
    let other = pki(tempfile::tempdir().unwrap());
    let pki = pki(tempfile::tempdir().unwrap());
    let s = tls_server(&pki);
    // Another CA's certificate file is not a way in.
    let e = agent(Some(&other.ca))
        .get(&format!("{}/v2/health/live", s.url))
        .call()
        .unwrap_err();
    assert!(matches!(e, ureq::Error::Transport(_)), "{e}");
    // Trusted: the probe answers.
    let r = agent(Some(&pki.ca))
        .get(&format!("{}/v2/health/live", s.url))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = s.url.replacen("https://", "http://", 1);
    assert!(ureq::get(&format!("{plain}/v2/health/live"))
        .call()
        .is_err());
    // TLS 1.2 alone is accepted too.
    let tls12 = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .with_root_certificates({
        let mut roots = rustls::RootCertStore::empty();
        use rustls::pki_types::pem::PemObject as _;
        for c in rustls::pki_types::CertificateDer::pem_file_iter(&pki.ca).unwrap() {
            roots.add(c.unwrap()).unwrap();
        }
        roots
    })
    .with_no_client_auth();
    let r = ureq::AgentBuilder::new()
        .tls_config(std::sync::Arc::new(tls12))
        .build()
        .get(&format!("{}/v2/health/ready", s.url))
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[test]
fn a_tls_key_that_does_not_match_its_certificate_stops_the_server_with_a_clear_error() {
    let a = pki(tempfile::tempdir().unwrap());
    let b = pki(tempfile::tempdir().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--demo", "--bind", "127.0.0.1:0"])
        .arg("--data")
        .arg(tempfile::tempdir().unwrap().path())
        .arg("--models")
        .arg(harness::root().join("models"))
        .arg("--policies")
        .arg(harness::root().join("policies"))
        .arg("--tls-cert")
        .arg(&a.cert)
        .arg("--tls-key")
        .arg(&b.key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TLS") && err.contains("key.pem"), "{err}");
}

#[test]
fn the_grpc_listener_serves_the_same_certificate() {
    let pki = pki(tempfile::tempdir().unwrap());
    let s = start_with(Options {
        extra_args: vec![
            "--tls-cert".into(),
            pki.cert.display().to_string(),
            "--tls-key".into(),
            pki.key.display().to_string(),
            "--grpc-bind".into(),
            "127.0.0.1:0".into(),
        ],
        ..Options::default()
    });
    let grpc = s.grpc.clone().expect("no gRPC address printed");
    let python = std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, tritonclient.grpc as g
url, ca, key = sys.argv[1], sys.argv[2], sys.argv[3]
ok = g.InferenceServerClient(url, ssl=True, root_certificates=ca)
assert ok.is_server_live(), "not live over TLS"
meta = ok.get_server_metadata(headers={"authorization": "Bearer " + key})
assert meta.name == "vouch", meta
try:
    g.InferenceServerClient(url, ssl=False).is_server_live()
    print("PLAIN ACCEPTED")
except Exception:
    print("plain refused")
"#;
    let out = Command::new(&python)
        .args(["-c", script, &grpc])
        .arg(&pki.ca)
        .arg(&s.caller_key)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("plain refused"), "{text}");
}
