//! DataRow rewriting (`regogate/masking/rows.py`, the reference): the planned cells of a
//! row masked, every other cell's bytes copied as they are (protocol §55.7, DataRow: Int16
//! column count, then per column Int32 length, -1 for NULL, and the value bytes).

use hmac::{Hmac, Mac};
use sha2::Sha256;

const REDACTED: &[u8] = b"REDACTED";
const NULL: [u8; 4] = (-1i32).to_be_bytes();
const HEX: &[u8; 16] = b"0123456789abcdef";

/// What one planned cell becomes (`rows.CompiledCell`).
pub enum Action {
    /// The whole cell (length and value), whatever the value was.
    Constant(Vec<u8>),
    /// All but the last `keep` characters as `*`.
    Partial(usize),
    /// `***@` and the domain.
    Email,
    /// HMAC-SHA256 of the value under the key, in hex.
    Hash,
}

pub struct Cell {
    pub index: usize,
    pub action: Action,
}

/// A DataRow whose lengths run past its end (or shorter than its column count).
#[derive(Debug, PartialEq, Eq)]
pub struct Short;

fn i32_at(body: &[u8], pos: usize) -> Result<i32, Short> {
    let b = body.get(pos..pos + 4).ok_or(Short)?;
    Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn stars(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, b'*');
}

/// `rows._partial(keep)`: characters are UTF-8 code points; a value that is not UTF-8 is
/// redacted.
fn partial(out: &mut Vec<u8>, value: &[u8], keep: usize) {
    if value.is_ascii() {
        let n = value.len();
        if n <= keep || keep == 0 {
            stars(out, n);
        } else {
            stars(out, n - keep);
            out.extend_from_slice(&value[n - keep..]);
        }
        return;
    }
    let Ok(text) = std::str::from_utf8(value) else {
        out.extend_from_slice(REDACTED);
        return;
    };
    let n = text.chars().count();
    if n <= keep || keep == 0 {
        stars(out, n);
        return;
    }
    let (at, _) = text
        .char_indices()
        .nth(n - keep)
        .unwrap_or((text.len(), ' '));
    stars(out, n - keep);
    out.extend_from_slice(&value[at..]);
}

/// `rows._email`: the local part (up to the last `@`) hidden; redacted when there is none
/// or the domain is not UTF-8.
fn email(out: &mut Vec<u8>, value: &[u8]) {
    match value.iter().rposition(|&b| b == b'@') {
        Some(at) if at > 0 && std::str::from_utf8(&value[at + 1..]).is_ok() => {
            out.extend_from_slice(b"***@");
            out.extend_from_slice(&value[at + 1..]);
        }
        _ => out.extend_from_slice(REDACTED),
    }
}

fn hash(out: &mut Vec<u8>, value: &[u8], mac: &Hmac<Sha256>) {
    let mut mac = mac.clone();
    mac.update(value);
    for b in mac.finalize().into_bytes() {
        out.push(HEX[(b >> 4) as usize]);
        out.push(HEX[(b & 15) as usize]);
    }
}

/// `rows.mask_row`: ``body`` with the cells of ``cells`` (in column order) masked, into
/// ``out``. A row with fewer columns than a planned index becomes a row of no columns.
pub fn mask_row(
    body: &[u8],
    cells: &[Cell],
    mac: &Hmac<Sha256>,
    out: &mut Vec<u8>,
) -> Result<(), Short> {
    let count = i16::from_be_bytes(body.get(..2).ok_or(Short)?.try_into().map_err(|_| Short)?);
    let count = count.max(0) as usize;
    let mut pos = 2;
    let mut start = 0;
    let mut index = 0;
    for cell in cells {
        if cell.index >= count {
            out.clear();
            out.extend_from_slice(&[0, 0]);
            return Ok(());
        }
        while index < cell.index {
            let length = i32_at(body, pos)?;
            pos += 4 + length.max(0) as usize;
            index += 1;
        }
        let length = i32_at(body, pos)?;
        let end = pos + 4 + length.max(0) as usize;
        if end > body.len() {
            return Err(Short);
        }
        out.extend_from_slice(&body[start..pos]);
        match &cell.action {
            Action::Constant(bytes) => out.extend_from_slice(bytes),
            _ if length < 0 => out.extend_from_slice(&NULL),
            action => {
                let at = out.len();
                out.extend_from_slice(&[0; 4]);
                let value = &body[pos + 4..end];
                match action {
                    Action::Partial(keep) => partial(out, value, *keep),
                    Action::Email => email(out, value),
                    Action::Hash => hash(out, value, mac),
                    Action::Constant(_) => unreachable!(),
                }
                let len = (out.len() - at - 4) as i32;
                out[at..at + 4].copy_from_slice(&len.to_be_bytes());
            }
        }
        start = end;
        pos = end;
        index += 1;
    }
    out.extend_from_slice(&body[start..]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            match v {
                None => out.extend_from_slice(&NULL),
                Some(v) => {
                    out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                    out.extend_from_slice(v);
                }
            }
        }
        out
    }

    fn run(body: &[u8], cells: &[Cell]) -> Result<Vec<u8>, Short> {
        let mac = Hmac::<Sha256>::new_from_slice(&[b'k'; 32]).unwrap();
        let mut out = Vec::new();
        mask_row(body, cells, &mac, &mut out).map(|()| out)
    }

    fn cell(index: usize, action: Action) -> Cell {
        Cell { index, action }
    }

    #[test]
    fn masks_the_planned_cells_only() {
        let body = row(&[
            Some(b"1"),
            Some(b"123-45-6789"),
            Some(b"ada@example.com"),
            None,
        ]);
        let cells = [
            cell(1, Action::Partial(4)),
            cell(2, Action::Email),
            cell(3, Action::Partial(2)),
        ];
        let want = row(&[
            Some(b"1"),
            Some(b"*******6789"),
            Some(b"***@example.com"),
            None,
        ]);
        assert_eq!(run(&body, &cells).unwrap(), want);
    }

    #[test]
    fn partial_counts_characters() {
        let mut out = Vec::new();
        partial(&mut out, "héllo wörld".as_bytes(), 3);
        assert_eq!(out, "********rld".as_bytes());
        out.clear();
        partial(&mut out, "日本".as_bytes(), 4);
        assert_eq!(out, b"**");
        out.clear();
        partial(&mut out, b"\xff\xfe", 1);
        assert_eq!(out, REDACTED);
    }

    #[test]
    fn email_needs_a_local_part_and_a_utf8_domain() {
        for (value, want) in [
            (&b"a@b@c.org"[..], &b"***@c.org"[..]),
            (b"@c.org", REDACTED),
            (b"no-at", REDACTED),
            (b"a@\xff", REDACTED),
            (b"\xff@c", b"***@c"),
        ] {
            let mut out = Vec::new();
            email(&mut out, value);
            assert_eq!(out, want);
        }
    }

    #[test]
    fn hash_is_hex_hmac_sha256() {
        let mac = Hmac::<Sha256>::new_from_slice(b"key").unwrap();
        let mut out = Vec::new();
        hash(
            &mut out,
            b"The quick brown fox jumps over the lazy dog",
            &mac,
        );
        assert_eq!(
            out,
            b"f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8".to_vec()
        );
    }

    #[test]
    fn constants_nulls_and_short_rows() {
        let body = row(&[None, Some(b"")]);
        let cells = [
            cell(0, Action::Constant(row(&[Some(b"REDACTED")])[2..].to_vec())),
            cell(1, Action::Partial(4)),
        ];
        assert_eq!(
            run(&body, &cells).unwrap(),
            row(&[Some(b"REDACTED"), Some(b"")])
        );
        assert_eq!(run(&body, &[cell(2, Action::Email)]).unwrap(), vec![0, 0]);
        assert_eq!(
            run(&body[..body.len() - 1], &[cell(1, Action::Email)]),
            Err(Short)
        );
        assert_eq!(run(&body[..3], &[cell(1, Action::Email)]), Err(Short));
        assert_eq!(run(b"", &[cell(0, Action::Email)]), Err(Short));
    }
}
