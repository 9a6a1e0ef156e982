//! Key files: the log's private key (mode 0600, refused when others can read it) and its public
//! verifier key, as `vouch keygen` writes them.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use super::note::{NoteError, SignerKey, VerifierKey};

/// File name of the private key inside a key folder.
pub const PRIVATE_KEY_FILE: &str = "log.key";
/// File name of the verifier key inside a key folder.
pub const VERIFIER_KEY_FILE: &str = "log.pub";

#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Key { path: PathBuf, source: NoteError },
    #[error("{path} can be read by others (mode {mode:03o}); run `chmod 600 {path}`")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{path} already exists; refusing to overwrite a key")]
    Exists { path: PathBuf },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyFileError + '_ {
    move |source| KeyFileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `log.key` (0600, never overwriting) and `log.pub` into `dir`, creating `dir`.
pub fn write_key_pair(key: &SignerKey, dir: &Path) -> Result<(PathBuf, PathBuf), KeyFileError> {
    fs::create_dir_all(dir).map_err(io(dir))?;
    let private = dir.join(PRIVATE_KEY_FILE);
    let public = dir.join(VERIFIER_KEY_FILE);
    for p in [&private, &public] {
        if p.exists() {
            return Err(KeyFileError::Exists { path: p.clone() });
        }
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&private)
        .map_err(io(&private))?;
    f.write_all(key.to_private_string().as_bytes())
        .map_err(io(&private))?;
    f.write_all(b"\n").map_err(io(&private))?;
    f.sync_all().map_err(io(&private))?;
    write_verifier_key(&key.verifier(), &public)?;
    Ok((private, public))
}

/// Writes a verifier key file (public; mode 0644).
pub fn write_verifier_key(key: &VerifierKey, path: &Path) -> Result<(), KeyFileError> {
    fs::write(path, format!("{key}\n")).map_err(io(path))
}

/// Reads a private key file, refusing one that group or others can read.
pub fn read_signer_key(path: &Path) -> Result<SignerKey, KeyFileError> {
    let meta = fs::metadata(path).map_err(io(path))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::TooOpen {
            path: path.to_path_buf(),
            mode,
        });
    }
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io(path))?);
    SignerKey::from_private_string(text.trim()).map_err(|source| KeyFileError::Key {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads a verifier key file.
pub fn read_verifier_key(path: &Path) -> Result<VerifierKey, KeyFileError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    text.trim().parse().map_err(|source| KeyFileError::Key {
        path: path.to_path_buf(),
        source,
    })
}
