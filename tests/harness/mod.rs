//! A real `vouch serve` on 127.0.0.1:0 with a temporary data folder, the shipped models and
//! policies, and three callers (a clinic, a regulator, an operator) made for the test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use vouch::ledger::{write_key_pair, SignerKey, VerifierKey};
use vouch::policy::{CallerRecord, CallerRegistry, Role};

pub struct Server {
    pub child: Child,
    pub url: String,
    /// The gRPC listener's `host:port`, when started with `--grpc-bind`.
    pub grpc: Option<String>,
    pub dir: Arc<tempfile::TempDir>,
    pub caller_key: String,
    pub other_caller_key: String,
    pub regulator_key: String,
    pub admin_key: String,
    pub verifier: VerifierKey,
    /// Everything the server wrote to stdout and stderr, as it arrives.
    logs: Arc<Mutex<Vec<u8>>>,
    /// The threads reading stdout and stderr; they end when the server exits.
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// A data folder with its log key and callers, to start another server on (after a stop or a
/// kill): the same ledger, the same keys.
#[derive(Clone)]
pub struct Reuse {
    dir: Arc<tempfile::TempDir>,
    caller_key: String,
    other_caller_key: String,
    regulator_key: String,
    admin_key: String,
    verifier: VerifierKey,
}

impl Reuse {
    /// The data folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The clinic's key (a caller with oversight and a medical licence).
    pub fn caller_key(&self) -> &str {
        &self.caller_key
    }

    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn record(id: &str, role: Role, oversight: bool, licences: &[&str]) -> CallerRecord {
    CallerRecord {
        id: id.into(),
        organisation: format!("{id} org"),
        roles: vec![role],
        tier: "standard".into(),
        jurisdiction: "GB".into(),
        terms_version: terms_version(),
        human_oversight: oversight,
        licences: licences.iter().map(|s| s.to_string()).collect(),
        credentials: vec![],
    }
}

/// The terms version the shipped bundle has in force.
pub fn terms_version() -> String {
    vouch::policy::PolicyEngine::load(&root().join("policies"))
        .unwrap()
        .terms_version()
        .to_string()
}

#[derive(Default)]
pub struct Options {
    pub extra_args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// Start on the data folder, log key and callers of an earlier server instead of new ones.
    pub reuse: Option<Reuse>,
    /// Serve these models instead of the shipped ones.
    pub models: Option<PathBuf>,
    /// Judge by this policy bundle instead of the shipped one.
    pub policies: Option<PathBuf>,
}

pub fn start() -> Server {
    start_with(Options::default())
}

pub fn start_with(opts: Options) -> Server {
    let setup = match opts.reuse {
        Some(r) => r,
        None => provision(),
    };
    let callers = setup.dir.path().join("callers.toml");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vouch"));
    cmd.arg("serve")
        .args(["--bind", "127.0.0.1:0", "--workers", "2"])
        .arg("--data")
        .arg(setup.dir.path())
        .arg("--models")
        .arg(opts.models.clone().unwrap_or_else(|| root().join("models")))
        .arg("--policies")
        .arg(
            opts.policies
                .clone()
                .unwrap_or_else(|| root().join("policies")),
        )
        .arg("--callers")
        .arg(&callers)
        .args(&opts.extra_args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let logs = Arc::new(Mutex::new(Vec::new()));
    // Keep draining stderr so the server never blocks on a full pipe; keep what it says.
    let mut stderr = child.stderr.take().unwrap();
    let err_logs = Arc::clone(&logs);
    let stderr_done = std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n @ 1..) = stderr.read(&mut buf) {
            err_logs.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut grpc = None;
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                logs.lock().unwrap().extend_from_slice(line.as_bytes());
                logs.lock().unwrap().push(b'\n');
                if let Some(g) = line.strip_prefix("vouch serving gRPC on ") {
                    grpc = Some(g.trim().to_string());
                }
                if let Some(u) = line.strip_prefix("vouch serving on ") {
                    break u.trim().to_string();
                }
            }
            _ => {
                let _ = child.wait();
                let _ = stderr_done.join();
                let err = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
                panic!("vouch serve did not start: {err}");
            }
        }
    };
    // The same for stdout.
    let out_logs = Arc::clone(&logs);
    let stdout_done = std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let mut l = out_logs.lock().unwrap();
            l.extend_from_slice(line.as_bytes());
            l.push(b'\n');
        }
    });
    Server {
        child,
        url,
        grpc,
        dir: setup.dir,
        caller_key: setup.caller_key,
        other_caller_key: setup.other_caller_key,
        regulator_key: setup.regulator_key,
        admin_key: setup.admin_key,
        verifier: setup.verifier,
        logs,
        readers: vec![stdout_done, stderr_done],
    }
}

/// A new data folder with a log key and the four callers.
fn provision() -> Reuse {
    provision_at(tempfile::tempdir().unwrap())
}

/// A log key and the four callers in `dir` (for a data folder on a file system of the test's
/// own, such as a small tmpfs), to start a server on with [`Options::reuse`].
pub fn provision_at(dir: tempfile::TempDir) -> Reuse {
    let key = SignerKey::generate("test.vouch/log").unwrap();
    write_key_pair(&key, dir.path()).unwrap();
    let callers = dir.path().join("callers.toml");
    let add = |r| {
        CallerRegistry::add(&callers, r)
            .unwrap()
            .0
            .expose()
            .to_string()
    };
    Reuse {
        caller_key: add(record("clinic", Role::Caller, true, &["medical-practice"])),
        other_caller_key: add(record("startup", Role::Caller, false, &[])),
        regulator_key: add(record("regulator", Role::Regulator, false, &[])),
        admin_key: add(record("operator", Role::Admin, false, &[])),
        verifier: key.verifier(),
        dir: Arc::new(dir),
    }
}

impl Server {
    pub fn data(&self) -> &Path {
        self.dir.path()
    }

    /// What to pass as [`Options::reuse`] to start another server on this one's data folder.
    pub fn reuse(&self) -> Reuse {
        Reuse {
            dir: Arc::clone(&self.dir),
            caller_key: self.caller_key.clone(),
            other_caller_key: self.other_caller_key.clone(),
            regulator_key: self.regulator_key.clone(),
            admin_key: self.admin_key.clone(),
            verifier: self.verifier.clone(),
        }
    }

    /// A split view: stops this server, copies its data folder (ledger, log key, callers),
    /// starts it again, and starts a second server on the copy. Both sign with the same key and
    /// share their history so far; what each appends next diverges.
    pub fn fork(&mut self) -> Server {
        self.stop();
        let other = self.copied();
        *self = start_with(Options {
            reuse: Some(self.reuse()),
            ..Options::default()
        });
        start_with(Options {
            reuse: Some(other),
            ..Options::default()
        })
    }

    /// A copy of the data folder of this (stopped) server — ledger, log key, callers — to start
    /// another server on: the same key and history so far.
    pub fn copied(&self) -> Reuse {
        let copy = tempfile::tempdir().unwrap();
        let ok = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", self.dir.path().display()))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(ok.success(), "copying the data folder failed");
        let mut other = self.reuse();
        other.dir = Arc::new(copy);
        other
    }

    /// Everything the server has written to stdout and stderr so far (all of it after
    /// [`Server::stop`] or [`Server::kill`]).
    pub fn logs(&self) -> Vec<u8> {
        self.logs.lock().unwrap().clone()
    }

    /// Kills the server with SIGKILL (no chance to flush or close anything) and waits for it.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        self.join_readers();
    }

    fn join_readers(&mut self) {
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
    }

    pub fn get(&self, path: &str, key: Option<&str>) -> (u16, serde_json::Value) {
        let mut req = ureq::get(&format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.set("authorization", &format!("Bearer {k}"));
        }
        response(req.call())
    }

    pub fn post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut req = ureq::post(&format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.set("authorization", &format!("Bearer {k}"));
        }
        response(req.send_json(body.clone()))
    }

    pub fn post_raw(
        &self,
        path: &str,
        key: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>, Option<String>) {
        let mut req = ureq::post(&format!("{}{path}", self.url))
            .set("authorization", &format!("Bearer {key}"));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let r = match req.send_bytes(body) {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let status = r.status();
        let header_len = r
            .header("inference-header-content-length")
            .map(str::to_string);
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut buf).unwrap();
        (status, buf, header_len)
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        self.join_readers();
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn response(r: Result<ureq::Response, ureq::Error>) -> (u16, serde_json::Value) {
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = r.status();
    let text = r.into_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

/// One breast-cancer row (a malignant example from the data set's first row).
pub fn breast_cancer_row() -> Vec<f32> {
    vec![
        17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
        0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33,
        184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
    ]
}

pub fn breast_cancer_request(parameters: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": "req-bc",
        "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": breast_cancer_row()}],
        "parameters": parameters,
    })
}

pub fn text_request(text: &str, parameters: serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": "req-text",
        "inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [[text]]}],
        "parameters": parameters,
    })
}
