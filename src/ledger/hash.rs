//! Digests and the two hash domains of format v1: leaves are H(0x00 ‖ bytes), interior nodes are
//! H(0x01 ‖ left ‖ right), H = SHA-256 (RFC 9162 §2.1.1). In JSON a digest is lowercase hex.
//!
//! [`Hash`] is any SHA-256 digest (a tree node, a commitment, a file's digest). What a digest
//! stands for has a type of its own: [`LeafHash`] (an RFC 9162 leaf: an entry's leaf in its
//! block's CBMT, a block's leaf in the history tree), [`BlockHash`] (a block's hash, its leaf in
//! the history tree and the next header's `prev`) and [`RootHash`] (the root of a history tree
//! together with its size, which proofs are checked against). Each is written in JSON as the
//! digest it wraps.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// A SHA-256 digest: a tree node, a commitment, a file's digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash([u8; 32]);

/// The zero digest: the `prev` of the block at height 0.
pub const ZERO: BlockHash = BlockHash(LeafHash(Hash([0; 32])));

impl Hash {
    /// The digest of these 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Hash {
        Hash(bytes)
    }

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
pub fn leaf_hash(data: &[u8]) -> LeafHash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    LeafHash(Hash(h.finalize().into()))
}

/// An RFC 9162 §2.1.1 leaf hash, H(0x00 ‖ data): an entry's leaf in its block's CBMT, a block's
/// leaf in the history tree. Made by [`leaf_hash`] (or read back, as a block hash, from JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LeafHash(Hash);

impl LeafHash {
    /// The digest itself: the leaf as a node of its tree.
    pub const fn hash(self) -> Hash {
        self.0
    }

    /// A leaf hash known by its digest alone (a vector, a proof read from elsewhere).
    pub const fn from_digest(hash: Hash) -> LeafHash {
        LeafHash(hash)
    }
}

/// A block's hash: H(0x00 ‖ header bytes), the block's leaf in the history tree and the `prev`
/// of the header after it ([`ZERO`] at height 0).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct BlockHash(LeafHash);

impl BlockHash {
    /// The hash of the block whose header is `header_bytes`.
    pub fn of_header(header_bytes: &[u8]) -> BlockHash {
        BlockHash(leaf_hash(header_bytes))
    }

    /// The block's leaf in the history tree.
    pub const fn leaf(self) -> LeafHash {
        self.0
    }

    pub const fn hash(self) -> Hash {
        self.0 .0
    }

    /// A block hash known by its digest alone (a header's `prev`, a vector).
    pub const fn from_digest(hash: Hash) -> BlockHash {
        BlockHash(LeafHash(hash))
    }

    pub fn to_hex(&self) -> String {
        self.0 .0.to_hex()
    }
}

/// The root of a history tree together with the tree's size (its number of leaves): what a
/// checkpoint signs, and what inclusion and consistency proofs are checked against.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RootHash {
    hash: Hash,
    size: u64,
}

impl RootHash {
    pub const fn new(hash: Hash, size: u64) -> RootHash {
        RootHash { hash, size }
    }

    pub const fn hash(self) -> Hash {
        self.hash
    }

    /// The number of leaves of the tree.
    pub const fn size(self) -> u64 {
        self.size
    }
}

impl fmt::Display for RootHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (tree size {})", self.hash, self.size)
    }
}

macro_rules! shows_as_digest {
    ($($t:ty),*) => {$(
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.hash(), f)
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.hash(), f)
            }
        }
    )*};
}

shows_as_digest!(LeafHash, BlockHash);

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
            leaf_hash(b"").hash().to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let zero = ZERO.hash();
        assert_ne!(leaf_hash(&[0u8; 64]).hash(), node_hash(&zero, &zero));
    }
}
