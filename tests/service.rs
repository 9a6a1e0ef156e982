//! The service driven in-process: `server::Service` loaded from a `server::Config` and served on
//! `127.0.0.1:0` inside the test, with the clock and the nonces pinned, so that two services on
//! two ledgers give the same receipt byte for byte.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::net::TcpListener;
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use vouch::ledger::{Decision, LedgerConfig, Receipt};
use vouch::server::{Config, LoadError, Service};
use vouch::sources::{Clock, Nonces};

fn pinned_time() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-04T05:06:07Z")
        .unwrap()
        .with_timezone(&Utc)
}

/// A config over `data` with the shipped models and rules, a pinned clock and counting nonces.
fn config(data: &Path) -> Config {
    let mut c = Config::new(data);
    c.models = harness::root().join("models");
    c.policies = harness::root().join("policies");
    c.callers = data.join("callers.toml");
    c.workers = 1;
    c.ledger = LedgerConfig {
        clock: Clock::fixed(pinned_time()),
        ..LedgerConfig::default()
    };
    c.nonces = Nonces::counting(1);
    c
}

/// The service answering on a port of its own until the returned sender is dropped or fired.
struct Running {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    service: std::sync::Arc<Service>,
}

fn serve(service: Service) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = std::sync::Arc::new(service);
    let s = std::sync::Arc::clone(&service);
    let done = tokio::spawn(async move {
        s.serve(listener, None, async {
            let _ = stopped.await;
        })
        .await
    });
    Running {
        url,
        stop: Some(stop),
        done,
        service,
    }
}

impl Running {
    async fn post(&self, path: &str, key: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.url);
        let key = format!("Bearer {key}");
        tokio::task::spawn_blocking(move || {
            match ureq::post(&url).set("authorization", &key).send_json(body) {
                Ok(r) => (r.status(), r.into_json().unwrap()),
                Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
                Err(e) => panic!("{e}"),
            }
        })
        .await
        .unwrap()
    }

    async fn status(&self, path: &str) -> u16 {
        let url = format!("{}{path}", self.url);
        tokio::task::spawn_blocking(move || match ureq::get(&url).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{e}"),
        })
        .await
        .unwrap()
    }

    async fn stop(mut self) {
        drop(self.stop.take());
        tokio::time::timeout(Duration::from_secs(40), self.done)
            .await
            .expect("the service stops when told to")
            .unwrap()
            .unwrap();
        self.service.close();
    }
}

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_with_the_same_clock_nonces_and_key_give_the_same_receipt() {
    // One set-up (key, callers and their credentials) copied to a second data folder.
    let first = harness::provision_at(tempfile::tempdir().unwrap());
    let second = tempfile::tempdir().unwrap();
    for f in ["log.key", "log.pub", "callers.toml"] {
        let to = second.path().join(f);
        std::fs::copy(first.path().join(f), &to).unwrap();
        std::fs::set_permissions(
            &to,
            std::fs::metadata(first.path().join(f))
                .unwrap()
                .permissions(),
        )
        .unwrap();
    }
    let key = first.caller_key().to_string();
    let verifier = first.verifier().clone();
    let request = harness::breast_cancer_request(triage());

    let mut receipts = Vec::new();
    for data in [first.path(), second.path()] {
        let running = serve(Service::load(config(data)).unwrap());
        assert_eq!(running.status("/v2/health/ready").await, 200);
        let (status, body) = running
            .post("/v2/models/breast-cancer/infer", &key, request.clone())
            .await;
        assert_eq!(status, 200, "{body}");
        receipts.push(body["receipt"].clone());
        running.stop().await;
    }
    assert_eq!(
        serde_json::to_string(&receipts[0]).unwrap(),
        serde_json::to_string(&receipts[1]).unwrap(),
        "pinned clock and nonces: the same receipt from two ledgers"
    );
    let receipt: Receipt = serde_json::from_value(receipts[0].clone()).unwrap();
    let v = receipt.verify(&verifier).unwrap();
    assert_eq!(v.entry.decision(), Decision::Allow);
    assert_eq!(v.entry.time(), "2026-03-04T05:06:07.000000Z");
    // The first nonce of the counting source blinds the first call.
    let mut one = [0u8; 32];
    one[31] = 1;
    assert_eq!(receipt.nonce, Some(one));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_reload_in_process_and_a_missing_key_is_named() {
    let setup = harness::provision_at(tempfile::tempdir().unwrap());
    let running = serve(Service::load(config(setup.path())).unwrap());
    let request = harness::breast_cancer_request(triage());
    let key = setup.caller_key().to_string();
    assert_eq!(
        running
            .post("/v2/models/breast-cancer/infer", &key, request.clone())
            .await
            .0,
        200
    );
    // The clinic removed from the file: after a reload its key no longer works.
    let callers = setup.path().join("callers.toml");
    let mut file: toml::Table = std::fs::read_to_string(&callers).unwrap().parse().unwrap();
    let list = file["callers"].as_array_mut().unwrap();
    let before = list.len();
    list.retain(|c| c["id"].as_str() != Some("clinic"));
    assert_eq!(list.len(), before - 1);
    std::fs::write(&callers, toml::to_string(&file).unwrap()).unwrap();
    assert_eq!(running.service.reload_callers().unwrap(), 3);
    assert_eq!(
        running
            .post("/v2/models/breast-cancer/infer", &key, request)
            .await
            .0,
        401
    );
    running.stop().await;

    let empty = tempfile::tempdir().unwrap();
    let mut c = config(empty.path());
    c.callers = callers;
    match Service::load(c) {
        Err(e @ LoadError::NoKey { .. }) => {
            assert!(e.is_input());
            assert!(e.to_string().contains("vouch keygen"), "{e}");
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a service without a key started"),
    }
}
