//! Where things are in the log (DESIGN.md "The ledger (format v1)"): [`Seq`], an entry's
//! position (0-based, gap-free across the log), and [`Height`], a block's number (0-based; the
//! block at height h is leaf h of the history tree, and its checkpoint is of the tree of h + 1
//! blocks). In JSON each is the plain integer it wraps (`#[serde(transparent)]`), so entries,
//! headers, receipts and exports read and write the bytes they did when these were bare `u64`s.
//!
//! Counts and tree sizes (how many entries or blocks) stay plain `u64`s: a position and a count
//! are different things, and adding a count to a position gives a position (`first_seq + i`).

use std::fmt;
use std::ops::{Add, Sub};

use serde::{Deserialize, Serialize};

macro_rules! position {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(u64);

        impl $name {
            pub const fn new(n: u64) -> $name {
                $name(n)
            }

            /// The number itself (0-based).
            pub const fn get(self) -> u64 {
                self.0
            }

            /// The position `n` after this one, if it fits.
            pub fn checked_add(self, n: u64) -> Option<$name> {
                self.0.checked_add(n).map($name)
            }

            /// The position `n` after this one, or the last there is.
            pub fn saturating_add(self, n: u64) -> $name {
                $name(self.0.saturating_add(n))
            }

            /// How far this position is after `earlier`, if it is not before it.
            pub fn checked_since(self, earlier: $name) -> Option<u64> {
                self.0.checked_sub(earlier.0)
            }

            /// The position before this one, if there is one.
            pub fn previous(self) -> Option<$name> {
                self.0.checked_sub(1).map($name)
            }
        }

        /// The position `n` after this one (overflows as `u64` does).
        impl Add<u64> for $name {
            type Output = $name;
            fn add(self, n: u64) -> $name {
                $name(self.0 + n)
            }
        }

        /// How many positions lie from `earlier` up to this one (overflows as `u64` does).
        impl Sub for $name {
            type Output = u64;
            fn sub(self, earlier: $name) -> u64 {
                self.0 - earlier.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

position!(
    /// An entry's position in the log: 0-based, gap-free; its `seq` member.
    Seq
);

position!(
    /// A block's number: 0-based; its header's `height` member, and its leaf index in the
    /// history tree.
    Height
);

impl Height {
    /// The size of the history tree once this block is in it (height + 1 blocks).
    pub const fn tree_size(self) -> u64 {
        self.0 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_their_integers_in_json_and_count_as_integers() {
        assert_eq!(serde_json::to_string(&Seq::new(42)).unwrap(), "42");
        assert_eq!(serde_jcs::to_vec(&Height::new(7)).unwrap(), b"7");
        assert_eq!(serde_json::from_str::<Seq>("42").unwrap(), Seq::new(42));
        assert!(serde_json::from_str::<Seq>("-1").is_err());
        assert!(serde_json::from_str::<Height>("\"1\"").is_err());
        let first = Seq::new(10);
        assert_eq!(first + 3, Seq::new(13));
        assert_eq!(Seq::new(13) - first, 3);
        assert_eq!(Seq::new(13).checked_since(first), Some(3));
        assert_eq!(first.checked_since(Seq::new(13)), None);
        assert_eq!(Seq::new(u64::MAX).checked_add(1), None);
        assert_eq!(Height::new(0).previous(), None);
        assert_eq!(Height::new(4).tree_size(), 5);
        assert_eq!(Height::new(4).to_string(), "4");
    }
}
