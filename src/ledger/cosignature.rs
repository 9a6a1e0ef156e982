//! Witness cosignatures, C2SP `tlog-cosignature` (`cosignature/v1`, Ed25519): a note signature
//! line by a cosigner over a checkpoint, stating that as of its timestamp the checkpoint is the
//! largest consistent tree head the cosigner has seen for the log.
//!
//! - Key id: the first 4 bytes of H(name ‖ 0x0A ‖ 0x04 ‖ public key), big-endian.
//! - Signature line: `— <name> base64(key id ‖ timestamp (u64, big-endian) ‖ Ed25519 signature)`.
//! - Signed message: `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's note text.
//!
//! A witness's key is made by `vouch keygen` like a log's: the same Ed25519 key serves as a
//! cosigner under the algorithm byte 0x04. Its verifier key is written either way — the
//! `vouch keygen` form (0x01) or the cosigner form (`<name>+<id>+base64(0x04 ‖ key)`) — and
//! [`CosignatureVerifier`] reads both.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};

use super::note::{check_name, check_text, parse_id, KeyId, NoteError, SignerKey, VerifierKey};
use super::note::{MAX_NOTE_BYTES, SIG_PREFIX};

/// The signature algorithm byte of `cosignature/v1` (Ed25519) in C2SP keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// Most signature lines read on one note.
const MAX_SIGNATURES: usize = 100;

/// The key id of an Ed25519 cosigner.
fn cosigner_id(name: &str, public: &VerifyingKey) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_COSIGNATURE_V1]);
    h.update(public.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    KeyId::new(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) // PANIC SAFETY: 32-byte digest
}

/// The message a `cosignature/v1` signs.
fn message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A witness's signing key as a `cosignature/v1` cosigner.
pub struct Cosigner {
    name: String,
    key: SigningKey,
    id: KeyId,
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cosigner({}+{})", self.name, self.id)
    }
}

impl Cosigner {
    /// The cosigner of `key`: its name and Ed25519 key, under the cosignature key id.
    pub fn new(key: &SignerKey) -> Cosigner {
        let signing = key.signing_key().clone();
        let id = cosigner_id(key.name(), &signing.verifying_key());
        Cosigner {
            name: key.name().to_string(),
            key: signing,
            id,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            id: self.id,
        }
    }

    /// The cosignature line (ending in a newline) over the note text `text` of a checkpoint, at
    /// `timestamp` (POSIX seconds, at most 2^63 − 1).
    pub fn cosign(&self, text: &str, timestamp: u64) -> Result<String, NoteError> {
        check_text(text)?;
        if timestamp > i64::MAX as u64 {
            return Err(NoteError::Malformed("a timestamp above 2^63 - 1"));
        }
        let sig = self.key.sign(message(text, timestamp).as_bytes());
        let mut blob = Vec::with_capacity(76);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob)))
    }
}

/// A witness's public key, to check its cosignatures.
#[derive(Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    name: String,
    key: VerifyingKey,
    id: KeyId,
}

impl std::fmt::Debug for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

/// The cosigner form of the key: `<name>+<id hex>+base64(0x04 ‖ public key)`.
impl std::fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_COSIGNATURE_V1);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl From<&VerifierKey> for CosignatureVerifier {
    /// The same Ed25519 key as a cosigner.
    fn from(key: &VerifierKey) -> CosignatureVerifier {
        CosignatureVerifier {
            name: key.name().to_string(),
            key: *key.public_key(),
            id: cosigner_id(key.name(), key.public_key()),
        }
    }
}

impl std::str::FromStr for CosignatureVerifier {
    type Err = NoteError;
    /// Reads a cosigner key (`…+base64(0x04 ‖ key)`) or a `vouch keygen` verifier key of the same
    /// Ed25519 key (`…+base64(0x01 ‖ key)`).
    fn from_str(s: &str) -> Result<CosignatureVerifier, NoteError> {
        let s = s.trim();
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(NoteError::VerifierKey("expected <name>+<key id>+<key>"));
        };
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::VerifierKey("key material is not base64"))?;
        match raw.first() {
            Some(&ALG_COSIGNATURE_V1) => {}
            Some(_) => return s.parse::<VerifierKey>().map(|k| (&k).into()),
            None => return Err(NoteError::VerifierKey("empty key material")),
        }
        check_name(name)?;
        let id = parse_id(id_hex).ok_or(NoteError::VerifierKey("key id is not 8 hex digits"))?;
        let public: &[u8; 32] = raw
            .get(1..)
            .and_then(|p| p.try_into().ok())
            .ok_or(NoteError::VerifierKey("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| NoteError::VerifierKey("not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(NoteError::VerifierKey("a small-order Ed25519 key"));
        }
        let expected = cosigner_id(name, &key);
        if expected != id {
            return Err(NoteError::KeyIdMismatch {
                expected,
                found: id,
            });
        }
        Ok(CosignatureVerifier {
            name: name.to_string(),
            key,
            id,
        })
    }
}

impl CosignatureVerifier {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The timestamp of this cosigner's valid cosignature on the signed note `note`, whose text
    /// is the cosigned checkpoint. Lines of other keys are ignored; a line of this key that does
    /// not verify is an error, as is a note with none.
    pub fn verify(&self, note: &str) -> Result<u64, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("note too large"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = note.split_at(split + 1);
        let sigs = &sigs[1..];
        check_text(text)?;
        let mut found = None;
        for (i, line) in sigs.lines().enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            let Some((name, b64)) = line
                .strip_prefix(SIG_PREFIX)
                .and_then(|rest| rest.split_once(' '))
            else {
                return Err(NoteError::Malformed(
                    "a signature line needs a name and a signature",
                ));
            };
            if name != self.name {
                continue;
            }
            let blob = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if blob.get(..4) != Some(&self.id.to_be_bytes()[..]) {
                continue;
            }
            let bad = || NoteError::BadSignature {
                name: name.to_string(),
            };
            let (Some(time), Some(sig)) = (blob.get(4..12), blob.get(12..)) else {
                return Err(bad());
            };
            let timestamp = u64::from_be_bytes(time.try_into().map_err(|_| bad())?);
            let sig: &[u8; 64] = sig.try_into().map_err(|_| bad())?;
            if timestamp > i64::MAX as u64 {
                return Err(bad());
            }
            self.key
                .verify_strict(
                    message(text, timestamp).as_bytes(),
                    &Signature::from_bytes(sig),
                )
                .map_err(|_| bad())?;
            found = Some(timestamp);
        }
        found.ok_or_else(|| NoteError::NoSignature {
            name: self.name.clone(),
            id: self.id,
        })
    }
}

/// Fewer of the witnesses given cosigned a checkpoint than the quorum asks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the checkpoint is cosigned by {} of the {given} witnesses given{}, fewer than the quorum of {quorum}",
    found.len(),
    if found.is_empty() { String::new() } else { format!(" ({})", found.join(", ")) }
)]
pub struct QuorumError {
    /// The names of the witnesses whose valid cosignature it carries.
    pub found: Vec<String>,
    pub given: usize,
    pub quorum: usize,
}

/// The names of the witnesses of `witnesses` that validly cosigned the signed checkpoint
/// `note` (each witness counted once), if they are at least `quorum`. A cosignature line that
/// does not verify counts as none.
pub fn cosigned_by(
    note: &str,
    witnesses: &[CosignatureVerifier],
    quorum: usize,
) -> Result<Vec<String>, QuorumError> {
    let mut found: Vec<String> = Vec::new();
    for w in witnesses {
        let named = format!("{}+{}", w.name(), w.id());
        if w.verify(note).is_ok() && !found.contains(&named) {
            found.push(named);
        }
    }
    let found: Vec<String> = found
        .into_iter()
        .map(|n| n.split('+').next().unwrap_or_default().to_string())
        .collect();
    if found.len() >= quorum && quorum > 0 {
        Ok(found)
    } else {
        Err(QuorumError {
            found,
            given: witnesses.len(),
            quorum,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{Checkpoint, Hash};

    #[test]
    fn a_cosignature_verifies_with_its_key_in_either_form_and_nothing_else() {
        let witness = SignerKey::from_seed("witness.example/w1", &[3; 32]).unwrap();
        let log = SignerKey::from_seed("log.example/log", &[4; 32]).unwrap();
        let cosigner = Cosigner::new(&witness);
        let cp = Checkpoint {
            origin: "log.example/log".into(),
            size: 7,
            root: Hash::digest(b"root"),
        };
        let note = cp.sign(&log).unwrap();
        let line = cosigner.cosign(&cp.body(), 1_700_000_000).unwrap();
        let cosigned = format!("{note}{line}");
        let verifier = cosigner.verifier();
        assert_eq!(verifier.verify(&cosigned), Ok(1_700_000_000));
        // The log's signature still opens, the cosignature line ignored.
        assert_eq!(Checkpoint::open(&cosigned, &log.verifier()).unwrap(), cp);
        // Both key forms read to the same verifier; the 0x04 form round-trips.
        let from_keygen: CosignatureVerifier = witness.verifier().to_string().parse().unwrap();
        assert_eq!(from_keygen, verifier);
        assert_eq!(
            verifier.to_string().parse::<CosignatureVerifier>(),
            Ok(verifier.clone())
        );
        assert_ne!(verifier.id(), witness.id());
        // Not a note signature of the plain key, and no other cosigner's.
        assert!(witness.verifier().open(&cosigned).is_err());
        let other = Cosigner::new(&SignerKey::from_seed("witness.example/w1", &[5; 32]).unwrap());
        assert!(matches!(
            other.verifier().verify(&cosigned),
            Err(NoteError::NoSignature { .. })
        ));
        // Another body, or another time, does not verify.
        let moved = cosigned.replacen("\n7\n", "\n8\n", 1);
        assert!(matches!(
            verifier.verify(&moved),
            Err(NoteError::BadSignature { .. })
        ));
        let blob = B64
            .decode(line.trim_end().rsplit(' ').next().unwrap())
            .unwrap();
        let mut later = blob.clone();
        later[11] ^= 1;
        let forged = format!(
            "{note}{SIG_PREFIX}witness.example/w1 {}\n",
            B64.encode(later)
        );
        assert!(matches!(
            verifier.verify(&forged),
            Err(NoteError::BadSignature { .. })
        ));
        assert!(cosigner.cosign(&cp.body(), 1 << 63).is_err());
    }
}
