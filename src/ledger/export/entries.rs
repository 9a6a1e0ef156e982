//! Reading the entries an export holds, in order, without verifying the log: for tools that
//! judge what a log records (`vouch policy replay`) rather than prove it (`vouch verify`, which
//! they may run first). Lines are read with the same caps and the same strict parser as
//! verification; lines of other types are passed over.

use std::io::BufRead;

use super::lines::{decode, Line, LineReader, ENTRY_FIELDS};
use crate::ledger::position::Seq;

/// Why an export's entries could not be read: the input failed, or a line is not an export line.
#[derive(Debug, thiserror::Error)]
pub enum ExportReadError {
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    #[error("the export is malformed: {0}")]
    Line(String),
}

/// Calls `f` with the seq and bytes of every entry line of the export read from `input`, in the
/// order of its lines; every other line must be a line of an export (`export`, `block`,
/// `checkpoint`, `end`) and is passed over. Returns the number of entry lines. Nothing is
/// verified: the bytes are what the export says.
pub fn for_each_export_entry<R: BufRead>(
    input: R,
    f: &mut dyn FnMut(Seq, &[u8]),
) -> Result<u64, ExportReadError> {
    let mut lines = LineReader {
        input,
        buf: Vec::with_capacity(4096),
        number: 0,
    };
    let mut entries = 0;
    while let Some(line) = lines.next()? {
        let (number, bytes) = line.map_err(ExportReadError::Line)?;
        let line: Line<'_> = serde_json::from_slice(bytes)
            .map_err(|e| ExportReadError::Line(format!("line {number}: {e}")))?;
        match &*line.kind {
            "entry" if line.present() == ENTRY_FIELDS => {}
            "entry" => {
                return Err(ExportReadError::Line(format!(
                    "line {number}: an \"entry\" line with fields [{}]",
                    line.present().join(", ")
                )))
            }
            "export" | "block" | "checkpoint" | "end" => continue,
            other => {
                return Err(ExportReadError::Line(format!(
                    "line {number}: a line of type {other:?}"
                )))
            }
        }
        let (Some(seq), Some(entry)) = (line.seq, line.entry.as_deref()) else {
            continue;
        };
        let bytes = decode(entry, "entry", number).map_err(ExportReadError::Line)?;
        f(Seq::new(seq), &bytes);
        entries += 1;
    }
    Ok(entries)
}
