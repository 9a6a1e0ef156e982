//! Opening a ledger's tail: the last block, its entries and CBMT root, its history leaf and the
//! compact range of the history tree, and its checkpoint opened with the log's key — all checked
//! to hold together before the writer appends after them.

use super::*;

/// Checks that the tail of the store holds together — last block, its entries, its CBMT, the
/// history tree and the last checkpoint agree — and returns the writer's starting state.
pub(super) fn recover(store: &Store, key: &VerifierKey) -> Result<(Tail, Head), LedgerError> {
    let tail_err = |what: &'static str, expected: String, found: String| LedgerError::Tail {
        what,
        expected,
        found,
    };
    let Some((k, header_bytes)) = store.last(store::BLOCK)? else {
        if let Some((k, _)) = store.last(store::ENTRY)? {
            return Err(tail_err(
                "entries",
                "none in a ledger without blocks".into(),
                format!("key {}", hex::encode(k)),
            ));
        }
        let tail = Tail {
            next_seq: Seq::new(0),
            prev: ZERO,
            range: CompactRange::empty(),
            last_time: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        };
        return Ok((tail, Head::default()));
    };
    let height = Height::new(store::seq_suffix(&k).unwrap_or(0));
    let header = BlockHeader::from_bytes(&header_bytes).map_err(LedgerError::Header)?;
    if header.height != height {
        return Err(tail_err(
            "last block height",
            height.to_string(),
            header.height.to_string(),
        ));
    }
    let next_seq = header.first_seq + header.count;
    // A header read with `from_bytes` counts at least one entry.
    let last = header.first_seq + (header.count - 1);
    let last_entry = store.last_seq()?;
    if last_entry != Some(last) {
        return Err(tail_err(
            "last entry",
            last.to_string(),
            format!("{last_entry:?}"),
        ));
    }
    let mut leaves = Vec::with_capacity(usize::try_from(header.count).unwrap_or(0));
    for seq in (header.first_seq.get()..next_seq.get()).map(Seq::new) {
        let e = store
            .entry(seq)?
            .ok_or_else(|| tail_err("entry", format!("seq {seq}"), "nothing".into()))?;
        leaves.push(entry_leaf(&e));
    }
    let root = EntriesTree::build(&leaves).root();
    if root != header.entries_root {
        return Err(tail_err(
            "entries_root of the last block",
            header.entries_root.to_hex(),
            root.to_hex(),
        ));
    }
    let size = height.tree_size();
    let hash = block_hash(&header_bytes);
    let leaf = store.node(0, height.get())?;
    if leaf != hash.hash() {
        return Err(tail_err(
            "history leaf of the last block",
            hash.to_hex(),
            leaf.to_hex(),
        ));
    }
    if store.get(&store::key_history(0, size))?.is_some() {
        return Err(tail_err(
            "history size",
            size.to_string(),
            "a leaf beyond it".into(),
        ));
    }
    let range = CompactRange::load(store, size)?;
    let note = store.checkpoint(height)?.ok_or_else(|| {
        tail_err(
            "last checkpoint",
            format!("height {height}"),
            "nothing".into(),
        )
    })?;
    let cp = Checkpoint::open(&note, key).map_err(LedgerError::Key)?;
    let computed = range.root().map(RootHash::hash).unwrap_or_default();
    if cp.size != size || cp.root != computed {
        return Err(tail_err(
            "last checkpoint",
            format!("size {size} root {computed}"),
            format!("size {} root {}", cp.size, cp.root),
        ));
    }
    let last_time = chrono::DateTime::parse_from_rfc3339(&header.time)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| tail_err("last block time", "RFC 3339".into(), header.time.clone()))?;
    let head = Head {
        entries: next_seq.get(),
        blocks: size,
        checkpoint: Some(note),
    };
    Ok((
        Tail {
            next_seq,
            prev: hash,
            range,
            last_time,
        },
        head,
    ))
}
