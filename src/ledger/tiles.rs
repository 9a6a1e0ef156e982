//! C2SP `tlog-tiles` over the history tree (`docs/LEDGER.md`, "Tiles"): the tree's leaves are
//! the block headers (leaf = H(0x00 ‖ header bytes)), served as hash tiles of height 8 and as
//! entry bundles of headers; beside them, one bundle per block of its entries.
//!
//! - `tile/<L>/<N>[.p/<W>]`: the hashes MTH(D[(N·256 + i)·256^L .. (N·256 + i + 1)·256^L]) for
//!   i < W (256 when full), concatenated: at level L, the history-tree nodes of level 8·L.
//! - `tile/entries/<N>[.p/<W>]`: block headers N·256 .. N·256 + W, each as a big-endian u16
//!   length and its bytes.
//! - `vouch/entries/<H>`: the entries of block H (H encoded as a tile index), each as a
//!   big-endian u16 length and its bytes, in seq order; they hash to the header's
//!   `entries_root`.
//!
//! `<N>` is written in 3-digit groups, all but the last prefixed with `x` (`x001/x234/067`).

use super::hash::Hash;
use super::history::NodeSource;

/// Hashes per full tile (and headers per full bundle): tiles of height 8.
pub const TILE_WIDTH: u64 = 256;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// A hash tile: level, index, width (256 when full).
    Hashes { level: u8, index: u64, width: u16 },
    /// A bundle of block headers: index, width.
    Headers { index: u64, width: u16 },
    /// The entries of the block of this height.
    BlockEntries { height: u64 },
}

/// The index `n` in 3-digit groups, all but the last prefixed with `x`.
pub fn encode_index(mut n: u64) -> String {
    let mut s = format!("{:03}", n % 1000);
    while n >= 1000 {
        n /= 1000;
        s = format!("x{:03}/{s}", n % 1000);
    }
    s
}

/// Reads an index written by [`encode_index`] (exactly that form).
fn decode_index(parts: &[&str]) -> Option<u64> {
    let (last, rest) = parts.split_last()?;
    let mut n: u64 = 0;
    for (i, p) in rest.iter().enumerate() {
        let digits = p.strip_prefix('x')?;
        let d = three_digits(digits)?;
        // A leading group of 000 would be a second spelling of the same index.
        if i == 0 && d == 0 {
            return None;
        }
        n = n.checked_mul(1000)?.checked_add(d)?;
    }
    n.checked_mul(1000)?.checked_add(three_digits(last)?)
}

fn three_digits(s: &str) -> Option<u64> {
    (s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// A decimal without leading zeros in `range`.
fn decimal(s: &str, range: std::ops::RangeInclusive<u64>) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0'))
    {
        return None;
    }
    s.parse().ok().filter(|n| range.contains(n))
}

impl TilePath {
    /// Parses the part of a path after `tile/` (`<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`).
    pub fn parse_tile(rest: &str) -> Option<TilePath> {
        let (body, width) = match rest.split_once(".p/") {
            Some((b, w)) => (b, u16::try_from(decimal(w, 1..=255)?).ok()?),
            None => (rest, 256),
        };
        let parts: Vec<&str> = body.split('/').collect();
        let (first, index) = parts.split_first()?;
        let index = decode_index(index)?;
        if *first == "entries" {
            return Some(TilePath::Headers { index, width });
        }
        let level = u8::try_from(decimal(first, 0..=63)?).ok()?;
        Some(TilePath::Hashes {
            level,
            index,
            width,
        })
    }

    /// Parses the part of a path after `vouch/entries/`.
    pub fn parse_block_entries(rest: &str) -> Option<TilePath> {
        let parts: Vec<&str> = rest.split('/').collect();
        Some(TilePath::BlockEntries {
            height: decode_index(&parts)?,
        })
    }

    /// The path, from the prefix (`tile/…` or `vouch/entries/…`).
    pub fn path(&self) -> String {
        let partial = |w: u16| {
            if w == 256 {
                String::new()
            } else {
                format!(".p/{w}")
            }
        };
        match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => format!("tile/{level}/{}{}", encode_index(index), partial(width)),
            TilePath::Headers { index, width } => {
                format!("tile/entries/{}{}", encode_index(index), partial(width))
            }
            TilePath::BlockEntries { height } => format!("vouch/entries/{}", encode_index(height)),
        }
    }

    /// The range of leaves (blocks) `[start, end)` its content covers, when it exists in a
    /// tree of `size` leaves: the first `width` hashes of the tile must be of complete subtrees.
    /// `None` when the tree is too small for it (or the numbers overflow).
    pub fn covers(&self, size: u64) -> Option<(u64, u64)> {
        let (level, index, width) = match *self {
            TilePath::Hashes {
                level,
                index,
                width,
            } => (u32::from(level), index, u64::from(width)),
            TilePath::Headers { index, width } => (0, index, u64::from(width)),
            TilePath::BlockEntries { height } => {
                return (height < size).then_some((height, height + 1))
            }
        };
        let span = TILE_WIDTH.checked_pow(level)?; // leaves under one hash of the tile
        let start = index.checked_mul(TILE_WIDTH)?.checked_mul(span)?;
        let end = start.checked_add(width.checked_mul(span)?)?;
        (end <= size).then_some((start, end))
    }
}

/// The bytes of hash tile `(level, index, width)` of a tree of `size` leaves: `width` nodes of
/// the history tree at level 8·level. `None` when the tree does not have them.
pub fn hash_tile<S: NodeSource>(
    nodes: &S,
    level: u8,
    index: u64,
    width: u16,
    size: u64,
) -> Result<Option<Vec<u8>>, S::Error> {
    let tile = TilePath::Hashes {
        level,
        index,
        width,
    };
    if tile.covers(size).is_none() || level > 7 {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(usize::from(width) * 32);
    for i in 0..u64::from(width) {
        let node: Hash = nodes.node(8 * level, index * TILE_WIDTH + i)?;
        out.extend_from_slice(node.as_bytes());
    }
    Ok(Some(out))
}

/// Appends `bytes` to a bundle: a big-endian u16 length, then the bytes. `false` when they are
/// longer than a u16 can say.
pub fn push_bundled(bundle: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let Ok(len) = u16::try_from(bytes.len()) else {
        return false;
    };
    bundle.extend_from_slice(&len.to_be_bytes());
    bundle.extend_from_slice(bytes);
    true
}

/// Splits a bundle into its items; `None` when it is not one.
pub fn split_bundle(mut bundle: &[u8]) -> Option<Vec<&[u8]>> {
    let mut items = Vec::new();
    while !bundle.is_empty() {
        let (len, rest) = bundle.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        if rest.len() < len {
            return None;
        }
        let (item, rest) = rest.split_at(len);
        items.push(item);
        bundle = rest;
    }
    Some(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_written_and_read_as_the_spec_writes_them() {
        assert_eq!(encode_index(1_234_067), "x001/x234/067");
        assert_eq!(encode_index(5), "005");
        assert_eq!(encode_index(1000), "x001/000");
        for (path, tile) in [
            (
                "0/x001/x234/067",
                TilePath::Hashes {
                    level: 0,
                    index: 1_234_067,
                    width: 256,
                },
            ),
            (
                "2/005.p/17",
                TilePath::Hashes {
                    level: 2,
                    index: 5,
                    width: 17,
                },
            ),
            ("entries/000.p/1", TilePath::Headers { index: 0, width: 1 }),
            (
                "entries/x001/000",
                TilePath::Headers {
                    index: 1000,
                    width: 256,
                },
            ),
        ] {
            assert_eq!(TilePath::parse_tile(path), Some(tile), "{path}");
            assert_eq!(tile.path(), format!("tile/{path}"));
        }
        for bad in [
            "0/5",
            "0/0005",
            "00/005",
            "64/005",
            "0/x000/005",
            "0/001/005",
            "0/005.p/0",
            "0/005.p/256",
            "0/005.p/017",
            "entries/005.p/",
            "0/",
            "0/x005",
            "-1/005",
            "0/00a",
        ] {
            assert_eq!(TilePath::parse_tile(bad), None, "{bad}");
        }
        assert_eq!(
            TilePath::parse_block_entries("x001/002"),
            Some(TilePath::BlockEntries { height: 1002 })
        );
        assert_eq!(TilePath::parse_block_entries("1002"), None);
    }

    #[test]
    fn a_tile_exists_only_once_its_hashes_do() {
        // The spec's example: a tree of 70,000 leaves.
        let t = |level, index, width| TilePath::Hashes {
            level,
            index,
            width,
        };
        assert!(t(0, 272, 256).covers(70_000).is_some());
        assert!(t(0, 273, 256).covers(70_000).is_none());
        assert!(t(0, 273, 112).covers(70_000).is_some());
        assert!(t(0, 273, 113).covers(70_000).is_none());
        assert!(t(1, 0, 256).covers(70_000).is_some());
        assert!(t(1, 1, 17).covers(70_000).is_some());
        assert!(t(1, 1, 18).covers(70_000).is_none());
        assert!(t(2, 0, 1).covers(70_000).is_some());
        assert!(t(2, 0, 2).covers(70_000).is_none());
        assert!(t(63, u64::MAX, 256).covers(u64::MAX).is_none());
        let mut b = Vec::new();
        assert!(push_bundled(&mut b, b"ab") && push_bundled(&mut b, b""));
        assert_eq!(split_bundle(&b), Some(vec![&b"ab"[..], &b""[..]]));
        assert_eq!(split_bundle(&b[..3]), None);
        assert!(!push_bundled(&mut b, &vec![0; 70_000]));
    }
}
