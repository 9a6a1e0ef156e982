//! An `add-checkpoint` request body (C2SP `tlog-witness`): `old <size>\n`, up to 63 consistency
//! proof lines (one base64 hash each), an empty line, then the signed checkpoint note.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::ledger::{Hash, MAX_NOTE_BYTES};

/// Most consistency proof lines a request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// The largest body read: the old size line, 63 proof lines and the largest note.
pub const MAX_REQUEST_BYTES: usize = 32 + MAX_PROOF_LINES * 46 + MAX_NOTE_BYTES;

/// A parsed `add-checkpoint` body; the checkpoint is left as the signed note it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint<'a> {
    pub old: u64,
    pub proof: Vec<Hash>,
    pub checkpoint: &'a str,
}

impl<'a> AddCheckpoint<'a> {
    /// Reads a body, or says what is wrong with it.
    pub fn parse(body: &'a [u8]) -> Result<AddCheckpoint<'a>, String> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(format!("the body is more than {MAX_REQUEST_BYTES} bytes"));
        }
        let text = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_string())?;
        let (first, mut rest) = text
            .split_once('\n')
            .ok_or("the body must start with an old size line")?;
        let digits = first
            .strip_prefix("old ")
            .ok_or("the first line must be `old <size>`")?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || (digits.len() > 1 && digits.starts_with('0'))
        {
            return Err("the old size must be a decimal number without leading zeros".into());
        }
        let old: u64 = digits
            .parse()
            .map_err(|_| "the old size is out of range".to_string())?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or("the proof must end with an empty line")?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(format!(
                    "more than {MAX_PROOF_LINES} consistency proof lines"
                ));
            }
            let hash = B64
                .decode(line)
                .ok()
                .and_then(|b| Hash::from_slice(&b))
                .ok_or("a consistency proof line is not a base64 hash of 32 bytes")?;
            proof.push(hash);
        }
        if rest.is_empty() {
            return Err("no checkpoint after the proof".into());
        }
        Ok(AddCheckpoint {
            old,
            proof,
            checkpoint: rest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_read_as_the_spec_writes_them() {
        let h = B64.encode([7u8; 32]);
        let body = format!("old 20\n{h}\n{h}\n\nlog\n21\nroot\n\n— log sig\n");
        let r = AddCheckpoint::parse(body.as_bytes()).unwrap();
        assert_eq!((r.old, r.proof.len()), (20, 2));
        assert_eq!(r.checkpoint, "log\n21\nroot\n\n— log sig\n");
        let r = AddCheckpoint::parse(b"old 0\n\nlog\n1\nr\n\n- x\n").unwrap();
        assert_eq!((r.old, r.proof.len()), (0, 0));
        for bad in [
            "old 01\n\nx\n".to_string(),
            "old -1\n\nx\n".into(),
            "old 1".into(),
            "new 1\n\nx\n".into(),
            "old 1\nnot-base64!\n\nx\n".into(),
            format!("old 1\n{}\n\nx\n", B64.encode([1u8; 31])),
            "old 1\n\n".into(),
            "old 1\n".into(),
            format!("old 1\n{}\nx\n", format!("{h}\n").repeat(64)),
            "old 18446744073709551616\n\nx\n".into(),
        ] {
            assert!(AddCheckpoint::parse(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(AddCheckpoint::parse(&[b'o', 0xff]).is_err());
        assert!(AddCheckpoint::parse(&vec![b'a'; MAX_REQUEST_BYTES + 1]).is_err());
    }
}
