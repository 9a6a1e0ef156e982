//! Reading an export's lines: a line reader that refuses a line over [`MAX_LINE_BYTES`] before it
//! is buffered, the strict parser that takes a line only as one type with exactly that type's
//! fields, base64 decoding with the line named, and the recognition of an entry line in the
//! writer's form, whose decoding can wait for the pool (`docs/LEDGER.md`, "Export").

use std::borrow::Cow;
use std::io::{BufRead, Read as _};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Deserialize;

use super::*;

/// One line, all types' fields optional; [`Line::only`] checks which a type may carry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Line<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    pub(super) v: Option<u8>,
    pub(super) log: Option<String>,
    pub(super) from_height: Option<u64>,
    pub(super) to_height: Option<u64>,
    pub(super) base: Option<ExportBase>,
    pub(super) height: Option<u64>,
    #[serde(borrow)]
    pub(super) header: Option<Cow<'a, str>>,
    pub(super) seq: Option<u64>,
    #[serde(borrow)]
    pub(super) entry: Option<Cow<'a, str>>,
    pub(super) note: Option<String>,
    pub(super) blocks: Option<u64>,
    pub(super) entries: Option<u64>,
}

impl Line<'_> {
    /// The names of the fields present, in declaration order.
    pub(super) fn present(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        let mut add = |name, is: bool| {
            if is {
                p.push(name)
            }
        };
        add("v", self.v.is_some());
        add("log", self.log.is_some());
        add("from_height", self.from_height.is_some());
        add("to_height", self.to_height.is_some());
        add("base", self.base.is_some());
        add("height", self.height.is_some());
        add("header", self.header.is_some());
        add("seq", self.seq.is_some());
        add("entry", self.entry.is_some());
        add("note", self.note.is_some());
        add("blocks", self.blocks.is_some());
        add("entries", self.entries.is_some());
        p
    }
}

/// The writer's form of an entry line: `{"type":"entry","seq":N,"entry":"B64"}` with `N` a
/// JSON integer without leading zeros that fits a u64, and only base64 characters in `B64`. Such
/// a line reads (with [`parse`]) as an entry line with that seq and that string, so its checks
/// can wait for the pool: `(seq, where B64 is in the line)`. `None` for any other line, which
/// the reader reads itself.
pub(super) fn writer_form(line: &[u8]) -> Option<(u64, (usize, usize))> {
    const HEAD: &[u8] = br#"{"type":"entry","seq":"#;
    const MID: &[u8] = br#","entry":""#;
    const TAIL: &[u8] = br#""}"#;
    let rest = line.strip_prefix(HEAD)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, rest) = rest.split_at(digits);
    if number.is_empty() || (number.len() > 1 && number.first() == Some(&b'0')) {
        return None;
    }
    let seq: u64 = std::str::from_utf8(number).ok()?.parse().ok()?;
    let b64 = rest.strip_prefix(MID)?.strip_suffix(TAIL)?;
    // Without early exits, so that the check runs on whole vectors of bytes.
    let is_b64 = |b: u8| {
        b.is_ascii_uppercase()
            | b.is_ascii_lowercase()
            | b.is_ascii_digit()
            | (b == b'+')
            | (b == b'/')
            | (b == b'=')
    };
    if !b64
        .chunks(64)
        .all(|c| c.iter().fold(true, |ok, &b| ok & is_b64(b)))
    {
        return None;
    }
    let start = HEAD.len() + digits + MID.len();
    Some((seq, (start, start + b64.len())))
}

/// The fewest bytes `len` base64 characters can decode to, if they decode at all.
pub(super) fn decoded_at_least(len: usize) -> usize {
    (len / 4 * 3).saturating_sub(2)
}

/// The first line of an export.
#[derive(Debug, Clone)]
pub(super) struct HeadLine {
    pub(super) log: String,
    pub(super) from_height: u64,
    pub(super) to_height: u64,
    pub(super) base: ExportBase,
}

/// A line with its number, or why it was refused.
pub(super) type ReadLine<'a> = Result<(u64, &'a [u8]), String>;

pub(super) struct LineReader<R> {
    pub(super) input: R,
    pub(super) buf: Vec<u8>,
    pub(super) number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// The next line (without its newline), `Ok(None)` at the end of the input. A line longer
    /// than [`MAX_LINE_BYTES`] is an error string.
    pub(super) fn next(&mut self) -> std::io::Result<Option<ReadLine<'_>>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let read = self.next_into(&mut buf);
        self.buf = buf;
        Ok(match read? {
            None => None,
            Some(Err(e)) => Some(Err(e)),
            Some(Ok(number)) => Some(Ok((number, &self.buf))),
        })
    }

    /// Appends the next line (without its newline) to `buf`; its number, `Ok(None)` at the end
    /// of the input, an error string for a line longer than [`MAX_LINE_BYTES`].
    pub(super) fn next_into(
        &mut self,
        buf: &mut Vec<u8>,
    ) -> std::io::Result<Option<Result<u64, String>>> {
        let start = buf.len();
        let n = (&mut self.input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() - start > MAX_LINE_BYTES {
            return Ok(Some(Err(format!(
                "line {}: longer than {MAX_LINE_BYTES} bytes",
                self.number
            ))));
        }
        Ok(Some(Ok(self.number)))
    }
}

/// Parses a line as a JSON object of type `kind` carrying exactly `fields`.
pub(super) fn parse<'a>(
    number: u64,
    bytes: &'a [u8],
    kind: &[&str],
    fields: &[&[&str]],
) -> Result<Line<'a>, String> {
    let line: Line<'a> =
        serde_json::from_slice(bytes).map_err(|e| format!("line {number}: {e}"))?;
    let Some(i) = kind.iter().position(|k| *k == line.kind) else {
        return Err(format!("line {number}: a line of type {:?}", line.kind));
    };
    let present = line.present();
    if fields.get(i).copied() != Some(present.as_slice()) {
        return Err(format!(
            "line {number}: a {:?} line with fields [{}]",
            line.kind,
            present.join(", ")
        ));
    }
    Ok(line)
}

pub(super) const BLOCK_FIELDS: &[&str] = &["height", "header"];
pub(super) const ENTRY_FIELDS: &[&str] = &["seq", "entry"];
pub(super) const CHECKPOINT_FIELDS: &[&str] = &["height", "note"];
pub(super) const END_FIELDS: &[&str] = &["blocks", "entries"];

pub(super) fn decode(b64: &str, what: &str, number: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decode_into(b64.as_bytes(), &mut out, what, number)?;
    Ok(out)
}

/// Decodes `b64` into `out` (appended), with [`decode`]'s error.
pub(super) fn decode_into(
    b64: &[u8],
    out: &mut Vec<u8>,
    what: &str,
    number: u64,
) -> Result<(), String> {
    B64.decode_vec(b64, out)
        .map_err(|e| format!("line {number}: {what} is not padded standard base64 ({e})"))
}
