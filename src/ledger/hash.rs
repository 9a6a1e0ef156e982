//! Digests and the two hash domains of format v1: leaves are H(0x00 ‖ bytes), interior nodes are
//! H(0x01 ‖ left ‖ right), H = SHA-256 (RFC 9162 §2.1.1). In JSON a digest is lowercase hex.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest: a leaf hash, a node, a root, a commitment.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// The zero digest: the `prev` of the block at height 0.
pub const ZERO: Hash = Hash([0; 32]);

impl Hash {
    /// SHA-256 of `data`, with no domain prefix.
    pub fn digest(data: &[u8]) -> Hash {
        Hash(Sha256::digest(data).into())
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(s: &str) -> Result<Hash, HashParseError> {
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(HashParseError(s.chars().take(80).collect()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out)
            .map_err(|_| HashParseError(s.chars().take(80).collect()))?;
        Ok(Hash(out))
    }

    /// Reads a digest from exactly 32 bytes.
    pub fn from_slice(b: &[u8]) -> Option<Hash> {
        <[u8; 32]>::try_from(b).ok().map(Hash)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A string that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a SHA-256 digest (64 lowercase hex digits): {0:?}")]
pub struct HashParseError(pub String);

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Hex into a stack buffer: every entry carries several digests, and a String per digest
        // showed up in the append profile.
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(serde::ser::Error::custom)?;
        s.serialize_str(std::str::from_utf8(&buf).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Hash, D::Error> {
        // Hex straight from the input's string into the digest: no `String` per digest (a
        // verifier reads several digests per entry, millions of entries).
        struct HexVisitor;
        impl serde::de::Visitor<'_> for HexVisitor {
            type Value = Hash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Hash, E> {
                Hash::from_hex(s).map_err(E::custom)
            }
        }
        d.deserialize_str(HexVisitor)
    }
}

/// Reads a big-endian u32 from the first four bytes of `b`, if it has them.
pub(crate) fn be_u32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}

/// RFC 9162 §2.1.1 leaf hash: H(0x00 ‖ data). Entries and block headers are hashed this way.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    Hash(h.finalize().into())
}

/// RFC 9162 §2.1.1 interior node: H(0x01 ‖ left ‖ right). Also the CBMT merge of format v1.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left.0);
    h.update(right.0);
    Hash(h.finalize().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_strictness() {
        let h = Hash::digest(b"abc");
        assert_eq!(
            h.to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert!(Hash::from_hex(&h.to_hex().to_uppercase()).is_err());
        assert!(Hash::from_hex("ab").is_err());
    }

    #[test]
    fn domains_differ() {
        // RFC 9162 §2.1.1: the empty leaf hashes to H(0x00).
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert_ne!(leaf_hash(&[0u8; 64]), node_hash(&ZERO, &ZERO));
    }
}
