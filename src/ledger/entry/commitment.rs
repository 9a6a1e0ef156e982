//! Commitments (DESIGN.md "The ledger (format v1)", **Commitments**): `input` = H(nonce ‖
//! JCS(request `inputs`)), `output` = H(nonce ‖ JCS(response `outputs`)), with a 32-byte nonce
//! drawn per call that only the caller receives (it is never stored).

use super::jcs::canonical_json;
use super::{EntryError, Hash};

/// A commitment under a nonce: H(nonce ‖ parts…). The server commits to JCS(request `inputs`)
/// (followed, for a binary-extension body, by its binary part) and to JCS(response `outputs`);
/// the caller opens them with its nonce. Server and verifier both compute it here.
pub fn commit_parts(nonce: &[u8; 32], parts: &[&[u8]]) -> Hash {
    use sha2::{Digest as _, Sha256};
    let mut h = Sha256::new();
    h.update(nonce);
    for p in parts {
        h.update(p);
    }
    Hash::from_bytes(h.finalize().into())
}

/// A commitment to a JSON value: H(nonce ‖ JCS(value)).
pub fn commit(nonce: &[u8; 32], value: &serde_json::Value) -> Result<Hash, EntryError> {
    let bytes = canonical_json(value)?;
    Ok(commit_parts(nonce, &[&bytes]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers computed outside vouch (coreutils `sha256sum` over the nonce and the JCS
    /// text written by hand): the nonce comes first, then the parts as they are, nothing between.
    #[test]
    fn commitments_are_the_digest_of_the_nonce_then_the_parts() {
        let nonce = [7u8; 32];
        let value = serde_json::json!([{"shape": [2], "name": "x", "data": [1, 2.5]}]);
        let jcs = br#"[{"data":[1,2.5],"name":"x","shape":[2]}]"#;
        assert_eq!(canonical_json(&value).unwrap(), jcs);
        let expected = "3cd66018f754b24939b1cd9860759e207212c2eb662674879b6f4ea6060ecd0d";
        assert_eq!(commit(&nonce, &value).unwrap().to_hex(), expected);
        assert_eq!(commit_parts(&nonce, &[jcs]).to_hex(), expected);
        // A binary part follows the JSON part directly.
        assert_eq!(
            commit_parts(&nonce, &[jcs, &[0, 1]]).to_hex(),
            "f6f742352b746c679ccc58b67730403e3170fd4b2452445b5b16cc54b834af27"
        );
        assert_eq!(
            commit_parts(&nonce, &[&jcs[..10], &jcs[10..]]),
            commit_parts(&nonce, &[jcs])
        );
    }
}
