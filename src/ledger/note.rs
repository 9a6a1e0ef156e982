//! Keys, signed notes and checkpoints, as the C2SP specifications define them.
//!
//! - C2SP `signed-note`: a note is its text (non-empty, ending in a newline, no blank line), a
//!   blank line, then signature lines `— <key name> <base64(key id ‖ signature)>`. An Ed25519 key
//!   id is the first 4 bytes of H(key name ‖ 0x0A ‖ 0x01 ‖ public key), big-endian.
//!   A verifier key is `<name>+<key id hex>+<base64(0x01 ‖ public key)>`; a private key is
//!   `PRIVATE+KEY+<name>+<key id hex>+<base64(0x01 ‖ seed)>`.
//! - C2SP `tlog-checkpoint`: the note text `<origin>\n<tree size>\n<base64 root>\n`, optionally
//!   followed by extension lines.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::hash::{Hash, RootHash};

/// The signature algorithm byte of Ed25519 in C2SP keys.
const ALG_ED25519: u8 = 0x01;
/// The prefix of signature lines: an em dash and a space.
pub(super) const SIG_PREFIX: &str = "\u{2014} ";
/// Largest note accepted for parsing.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines accepted on one note.
const MAX_SIGNATURES: usize = 100;

/// Errors in keys and notes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("invalid key name {0:?}: it must be non-empty, without '+', spaces or newlines")]
    KeyName(String),
    #[error(
        "the key name is {0} bytes, more than the {MAX_KEY_NAME_BYTES} allowed (it is the log's \
         origin, written into every block header and checkpoint)"
    )]
    KeyNameTooLong(usize),
    #[error("malformed verifier key: {0}")]
    VerifierKey(&'static str),
    #[error("malformed private key: {0}")]
    PrivateKey(&'static str),
    #[error("the key id {found:08x} does not match the key (expected {expected:08x})")]
    KeyIdMismatch { expected: KeyId, found: KeyId },
    #[error("malformed note: {0}")]
    Malformed(&'static str),
    #[error("the note carries no signature by {name} (key id {id:08x})")]
    NoSignature { name: String, id: KeyId },
    #[error("the signature by {name} does not verify")]
    BadSignature { name: String },
    #[error("malformed checkpoint: {0}")]
    Checkpoint(&'static str),
}

/// Longest key name (the log's origin) accepted, in bytes. C2SP `signed-note` sets no limit, but
/// the name is written into every block header, which is at most
/// [`MAX_HEADER_BYTES`](super::block::MAX_HEADER_BYTES): 255 bytes (510 when every byte needs a
/// JSON escape) leave the header's other fields ample room.
pub const MAX_KEY_NAME_BYTES: usize = 255;

/// A key name as C2SP `signed-note` defines it (non-empty UTF-8 without Unicode spaces or `+`;
/// control characters are refused too), at most [`MAX_KEY_NAME_BYTES`] long.
pub(super) fn check_name(name: &str) -> Result<(), NoteError> {
    if name.len() > MAX_KEY_NAME_BYTES {
        return Err(NoteError::KeyNameTooLong(name.len()));
    }
    if name.is_empty()
        || name
            .chars()
            .any(|c| c == '+' || c.is_whitespace() || c.is_control())
    {
        return Err(NoteError::KeyName(name.to_string()));
    }
    Ok(())
}

/// A C2SP `signed-note` key id: the first 4 bytes of H(key name ‖ 0x0A ‖ signature algorithm ‖
/// public key), big-endian. Written as 8 lowercase hex digits in keys, and as its 4 bytes before
/// each signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(u32);

impl KeyId {
    pub const fn new(id: u32) -> KeyId {
        KeyId(id)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// The 4 bytes a signature line starts with.
    pub const fn to_be_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

/// The 8 lowercase hex digits of keys (`{:08x}`).
impl std::fmt::LowerHex for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::LowerHex::fmt(&self.0, f)
    }
}

/// As keys write it: 8 lowercase hex digits.
impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// The C2SP key id of an Ed25519 key.
pub fn key_id(name: &str, public: &VerifyingKey) -> KeyId {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public.as_bytes());
    let d: [u8; 32] = h.finalize().into();
    KeyId(u32::from_be_bytes([d[0], d[1], d[2], d[3]])) // PANIC SAFETY: a SHA-256 digest has 32 bytes
}

/// A log's signing key: a name (the log's origin) and an Ed25519 key.
pub struct SignerKey {
    name: String,
    key: SigningKey,
    id: KeyId,
}

impl std::fmt::Debug for SignerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerKey({}+{:08x})", self.name, self.id)
    }
}

impl SignerKey {
    /// A new random key named `name`.
    pub fn generate(name: &str) -> Result<SignerKey, NoteError> {
        check_name(name)?;
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let id = key_id(name, &key.verifying_key());
        Ok(SignerKey {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// A key from its 32-byte seed (for tests with fixed keys).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<SignerKey, NoteError> {
        check_name(name)?;
        let key = SigningKey::from_bytes(seed);
        let id = key_id(name, &key.verifying_key());
        Ok(SignerKey {
            name: name.to_string(),
            key,
            id,
        })
    }

    /// Parses `PRIVATE+KEY+<name>+<id hex>+<base64(0x01 ‖ seed)>`.
    pub fn from_private_string(s: &str) -> Result<SignerKey, NoteError> {
        let s = s.trim_end_matches('\n');
        let rest = s
            .strip_prefix("PRIVATE+KEY+")
            .ok_or(NoteError::PrivateKey("missing PRIVATE+KEY+ prefix"))?;
        let (name, rest) = rest
            .split_once('+')
            .ok_or(NoteError::PrivateKey("missing key id"))?;
        let (id_hex, b64) = rest
            .split_once('+')
            .ok_or(NoteError::PrivateKey("missing key material"))?;
        check_name(name)?;
        let id = parse_id(id_hex).ok_or(NoteError::PrivateKey("key id is not 8 hex digits"))?;
        let raw = Zeroizing::new(
            B64.decode(b64)
                .map_err(|_| NoteError::PrivateKey("key material is not base64"))?,
        );
        let (alg, seed) = raw
            .split_first()
            .ok_or(NoteError::PrivateKey("empty key material"))?;
        if *alg != ALG_ED25519 {
            return Err(NoteError::PrivateKey("not an Ed25519 key"));
        }
        let seed: &[u8; 32] = seed
            .try_into()
            .map_err(|_| NoteError::PrivateKey("an Ed25519 seed is 32 bytes"))?;
        let key = SignerKey::from_seed(name, seed)?;
        if key.id != id {
            return Err(NoteError::KeyIdMismatch {
                expected: key.id,
                found: id,
            });
        }
        Ok(key)
    }

    /// The private key string (secret: write it only to a 0600 file).
    pub fn to_private_string(&self) -> Zeroizing<String> {
        let mut raw = Zeroizing::new(Vec::with_capacity(33));
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        Zeroizing::new(format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.id,
            B64.encode(&*raw)
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The Ed25519 key (for the cosigner of the same key, [`super::Cosigner`]).
    pub(super) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn verifier(&self) -> VerifierKey {
        VerifierKey {
            name: self.name.clone(),
            key: self.key.verifying_key(),
            id: self.id,
        }
    }

    /// Signs `text` as a C2SP signed note and returns the whole note.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        let mut blob = Vec::with_capacity(68);
        blob.extend_from_slice(&self.id.to_be_bytes());
        blob.extend_from_slice(&sig.to_bytes());
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

pub(super) fn parse_id(s: &str) -> Option<KeyId> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok().map(KeyId)
}

pub(super) fn check_text(text: &str) -> Result<(), NoteError> {
    if text.is_empty() || !text.ends_with('\n') {
        return Err(NoteError::Malformed(
            "the text must be non-empty and end with a newline",
        ));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(NoteError::Malformed(
            "the text must not contain a blank line",
        ));
    }
    Ok(())
}

/// A log's public verifier key.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: String,
    key: VerifyingKey,
    id: KeyId,
}

impl std::fmt::Debug for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_string())
    }
}

impl std::fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut raw = Vec::with_capacity(33);
        raw.push(ALG_ED25519);
        raw.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.id, B64.encode(raw))
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = NoteError;
    /// Parses `<name>+<id hex>+<base64(0x01 ‖ public key)>`.
    fn from_str(s: &str) -> Result<VerifierKey, NoteError> {
        let s = s.trim();
        let (name, rest) = s
            .split_once('+')
            .ok_or(NoteError::VerifierKey("missing key id"))?;
        let (id_hex, b64) = rest
            .split_once('+')
            .ok_or(NoteError::VerifierKey("missing key material"))?;
        check_name(name)?;
        let id = parse_id(id_hex).ok_or(NoteError::VerifierKey("key id is not 8 hex digits"))?;
        let raw = B64
            .decode(b64)
            .map_err(|_| NoteError::VerifierKey("key material is not base64"))?;
        let (alg, public) = raw
            .split_first()
            .ok_or(NoteError::VerifierKey("empty key material"))?;
        if *alg != ALG_ED25519 {
            return Err(NoteError::VerifierKey("not an Ed25519 key"));
        }
        let public: &[u8; 32] = public
            .try_into()
            .map_err(|_| NoteError::VerifierKey("an Ed25519 key is 32 bytes"))?;
        let key = VerifyingKey::from_bytes(public)
            .map_err(|_| NoteError::VerifierKey("not a valid Ed25519 point"))?;
        if key.is_weak() {
            return Err(NoteError::VerifierKey("a small-order Ed25519 key"));
        }
        let expected = key_id(name, &key);
        if expected != id {
            return Err(NoteError::KeyIdMismatch {
                expected,
                found: id,
            });
        }
        Ok(VerifierKey {
            name: name.to_string(),
            key,
            id,
        })
    }
}

impl VerifierKey {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The Ed25519 public key.
    pub(super) fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Opens a signed note: checks that it carries a valid signature by this key and returns its
    /// text. Signatures by other keys are ignored, as C2SP allows (cosigners, witnesses).
    pub fn open<'n>(&self, note: &'n str) -> Result<&'n str, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::Malformed("note too large"));
        }
        let split = note
            .rfind("\n\n")
            .ok_or(NoteError::Malformed("no blank line before the signatures"))?;
        let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
        check_text(text)?;
        if !sigs.ends_with('\n') {
            return Err(NoteError::Malformed(
                "the signature block must end with a newline",
            ));
        }
        let mut found_ours = false;
        for (i, line) in sigs[..sigs.len() - 1].split('\n').enumerate() {
            if i >= MAX_SIGNATURES {
                return Err(NoteError::Malformed("too many signatures"));
            }
            let rest = line.strip_prefix(SIG_PREFIX).ok_or(NoteError::Malformed(
                "a signature line must start with an em dash",
            ))?;
            let (name, b64) = rest.split_once(' ').ok_or(NoteError::Malformed(
                "a signature line needs a name and a signature",
            ))?;
            check_name(name)
                .map_err(|_| NoteError::Malformed("bad key name in a signature line"))?;
            let blob = B64
                .decode(b64)
                .map_err(|_| NoteError::Malformed("a signature is not base64"))?;
            if blob.len() < 5 {
                return Err(NoteError::Malformed("a signature is too short"));
            }
            let (id, sig) = blob.split_at(4);
            let id = super::hash::be_u32(id)
                .map(KeyId)
                .ok_or(NoteError::Malformed("a signature is too short"))?;
            if name != self.name || id != self.id {
                continue;
            }
            let sig: &[u8; 64] = sig.try_into().map_err(|_| NoteError::BadSignature {
                name: name.to_string(),
            })?;
            self.key
                .verify_strict(text.as_bytes(), &Signature::from_bytes(sig))
                .map_err(|_| NoteError::BadSignature {
                    name: name.to_string(),
                })?;
            found_ours = true;
        }
        if !found_ours {
            return Err(NoteError::NoSignature {
                name: self.name.clone(),
                id: self.id,
            });
        }
        Ok(text)
    }
}

/// A checkpoint: the log's origin, the number of blocks in its history tree and the tree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
}

impl Checkpoint {
    /// The root it signs, with the tree size it is the root of: what proofs are checked against.
    pub fn tree_root(&self) -> RootHash {
        RootHash::new(self.root, self.size)
    }

    /// The note text of the checkpoint.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root.as_bytes())
        )
    }

    /// Signs the checkpoint: the whole signed note.
    pub fn sign(&self, key: &SignerKey) -> Result<String, NoteError> {
        key.sign_note(&self.body())
    }

    /// Parses a checkpoint's note text (already opened). Extension lines are allowed and ignored.
    pub fn parse_body(text: &str) -> Result<Checkpoint, NoteError> {
        let mut lines = text
            .strip_suffix('\n')
            .ok_or(NoteError::Checkpoint("must end with a newline"))?
            .split('\n');
        let origin = lines
            .next()
            .filter(|o| !o.is_empty())
            .ok_or(NoteError::Checkpoint("empty origin"))?;
        let size = lines
            .next()
            .ok_or(NoteError::Checkpoint("missing tree size"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(NoteError::Checkpoint("tree size is not a decimal number"));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| NoteError::Checkpoint("tree size out of range"))?;
        let root = lines
            .next()
            .ok_or(NoteError::Checkpoint("missing root hash"))?;
        let root = B64
            .decode(root)
            .map_err(|_| NoteError::Checkpoint("root hash is not base64"))?;
        let root =
            Hash::from_slice(&root).ok_or(NoteError::Checkpoint("root hash is not 32 bytes"))?;
        if lines.any(str::is_empty) {
            return Err(NoteError::Checkpoint("empty extension line"));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
        })
    }

    /// Opens a signed checkpoint with `key` and parses it; the origin must be the key's name.
    pub fn open(note: &str, key: &VerifierKey) -> Result<Checkpoint, NoteError> {
        let cp = Checkpoint::parse_body(key.open(note)?)?;
        if cp.origin != key.name() {
            return Err(NoteError::Checkpoint(
                "origin differs from the verifier key's name",
            ));
        }
        Ok(cp)
    }
}
