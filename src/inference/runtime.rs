//! Finding and starting ONNX Runtime, once per process.
//!
//! The `ort` crate is built with `load-dynamic`: nothing is linked at build time, and the shared
//! library is opened at run time. It comes from the `onnxruntime` wheel on PyPI (`make setup`
//! fetches it into `.ort/lib/`). The library is looked for in this order:
//!
//! 1. `ORT_DYLIB_PATH`, when set and not empty — an operator who sets it means that file, so a
//!    missing file there is an error, not a reason to look elsewhere;
//! 2. `<crate dir>/.ort/lib/libonnxruntime.so.1.32.0`, where `make setup` puts it.
//!
//! When neither is there, [`init`] returns a [`RuntimeError`] whose message is one line saying what
//! to run; nothing panics, and the service reports itself not ready. No `ort` API may be called
//! before [`init`] succeeded: `ort` panics when its library is missing.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

/// The ONNX Runtime release whose library `make setup` fetches.
pub const ORT_VERSION: &str = "1.32.0";

/// Where the library was looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LibrarySource {
    /// The `ORT_DYLIB_PATH` environment variable.
    EnvVar,
    /// The project's `.ort/lib/` folder, filled by `make setup`.
    SetupFolder,
}

impl std::fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LibrarySource::EnvVar => "from ORT_DYLIB_PATH",
            LibrarySource::SetupFolder => "where `make setup` puts it",
        })
    }
}

/// ONNX Runtime cannot be used. Every message is one line that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {} ({from}): run `make setup`, or set ORT_DYLIB_PATH to libonnxruntime.so.{ORT_VERSION}",
        path.display()
    )]
    NotFound { path: PathBuf, from: LibrarySource },
    #[error(
        "ONNX Runtime library at {} could not be loaded ({detail}): run `make setup`, or set ORT_DYLIB_PATH to libonnxruntime.so.{ORT_VERSION}",
        path.display()
    )]
    Load { path: PathBuf, detail: String },
    #[error("ONNX Runtime loaded from {} but its environment could not be created: {detail}", path.display())]
    Environment { path: PathBuf, detail: String },
}

/// A started ONNX Runtime: the library that was loaded and the process's one environment.
#[derive(Debug, Clone)]
pub struct Runtime {
    library: PathBuf,
    environment: Environment,
}

impl Runtime {
    /// The shared library in use.
    pub fn library(&self) -> &Path {
        &self.library
    }

    /// The environment sessions are built in (ONNX Runtime allows one per process).
    pub fn environment(&self) -> &Environment {
        &self.environment
    }
}

/// The setup folder's library for a crate checked out at `crate_dir`.
pub fn setup_folder_library(crate_dir: &Path) -> PathBuf {
    crate_dir
        .join(".ort")
        .join("lib")
        .join(format!("libonnxruntime.so.{ORT_VERSION}"))
}

/// Decides which file to load, given the value of `ORT_DYLIB_PATH` and the crate's folder, and
/// checks that it exists. Pure apart from looking at the file system; tests call it directly.
pub fn locate(env_value: Option<OsString>, crate_dir: &Path) -> Result<PathBuf, RuntimeError> {
    let (path, source) = match env_value.filter(|v| !v.is_empty()) {
        Some(v) => (PathBuf::from(v), LibrarySource::EnvVar),
        None => (setup_folder_library(crate_dir), LibrarySource::SetupFolder),
    };
    if !path.is_file() {
        return Err(RuntimeError::NotFound { path, from: source });
    }
    // `ort` resolves a relative path against the executable's folder (and panics if it cannot
    // find the executable); an absolute path avoids both.
    let absolute = std::fs::canonicalize(&path).unwrap_or(path);
    Ok(absolute)
}

static RUNTIME: OnceLock<Result<Runtime, RuntimeError>> = OnceLock::new();

/// Loads ONNX Runtime and creates its environment on the first call; later calls return the same
/// outcome (a process can load the library only once).
pub fn init() -> Result<Runtime, RuntimeError> {
    RUNTIME
        .get_or_init(|| {
            let path = locate(
                std::env::var_os("ORT_DYLIB_PATH"),
                Path::new(env!("CARGO_MANIFEST_DIR")),
            )?;
            start(path)
        })
        .clone()
}

fn start(path: PathBuf) -> Result<Runtime, RuntimeError> {
    let builder = ort::init_from(&path).map_err(|e| RuntimeError::Load {
        path: path.clone(),
        detail: one_line(&e.to_string()),
    })?;
    let environment = builder
        .with_name("vouch")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Environment {
            path: path.clone(),
            detail: one_line(&e.to_string()),
        })?;
    tracing::info!(library = %path.display(), "ONNX Runtime loaded");
    Ok(Runtime {
        library: path,
        environment,
    })
}

/// Error texts from the loader can span lines; the contract here is one line.
pub(crate) fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_env_value_falls_back_to_the_setup_folder() {
        let dir = tempfile::tempdir().unwrap();
        let err = locate(Some(OsString::new()), dir.path()).unwrap_err();
        assert_eq!(
            err,
            RuntimeError::NotFound {
                path: setup_folder_library(dir.path()),
                from: LibrarySource::SetupFolder
            }
        );
    }

    #[test]
    fn env_value_wins_over_the_setup_folder() {
        let dir = tempfile::tempdir().unwrap();
        let lib = setup_folder_library(dir.path());
        std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
        std::fs::write(&lib, b"").unwrap();
        let err = locate(Some("/nonexistent/libonnxruntime.so".into()), dir.path()).unwrap_err();
        assert!(matches!(
            err,
            RuntimeError::NotFound {
                from: LibrarySource::EnvVar,
                ..
            }
        ));
        assert_eq!(
            locate(None, dir.path()).unwrap(),
            std::fs::canonicalize(&lib).unwrap()
        );
    }
}
