//! Bind parameter commitments (`recording.format.mac.ParamCommitter.commit`): one pass
//! over a Bind message body, one truncated HMAC-SHA256 per value. Pure; the twin test
//! (tests/recording/test_bind_commitments.py) holds it to the Python reference.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Hex digits of a value's MAC (`mac.MAC_HEX`): the first 128 bits.
const MAC_BYTES: usize = 16;
const HEX: &[u8; 16] = b"0123456789abcdef";

/// What a Bind body commits to.
pub enum Committed {
    /// Nothing: no values, or a body PostgreSQL refuses before binding anything.
    Nothing,
    /// More values than `max`: the caller commits them all at once.
    TooMany,
    /// The statement name's byte range and each value's MAC ($1 first).
    Macs(std::ops::Range<usize>, Vec<[u8; MAC_BYTES]>),
}

fn u16_at(body: &[u8], pos: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes(
        body.get(pos..pos + 2)?.try_into().ok()?,
    )))
}

fn i16_at(body: &[u8], pos: usize) -> Option<i16> {
    Some(i16::from_be_bytes(body.get(pos..pos + 2)?.try_into().ok()?))
}

fn i32_at(body: &[u8], pos: usize) -> Option<i32> {
    Some(i32::from_be_bytes(body.get(pos..pos + 4)?.try_into().ok()?))
}

/// `ParamCommitter.commit` (with a MAC root): the message of `$n` is the RFC 8785 JSON
/// `[n,{"format":F,"value":"<hex>"|null}]`.
pub fn commit(mac: &Hmac<Sha256>, body: &[u8], max: usize) -> Committed {
    read(mac, body, max).unwrap_or(Committed::Nothing)
}

fn read(mac: &Hmac<Sha256>, body: &[u8], max: usize) -> Option<Committed> {
    let end = body.iter().position(|&b| b == 0)?;
    let stop = end + 1 + body[end + 1..].iter().position(|&b| b == 0)?;
    let nformats = u16_at(body, stop + 1)?;
    let first = if nformats == 1 {
        i16_at(body, stop + 3)?
    } else {
        0
    };
    let formats = stop + 3; // where the codes are, when there are more than one
    let mut pos = stop + 3 + 2 * nformats;
    let count = u16_at(body, pos)?;
    if count > max {
        return Some(Committed::TooMany);
    }
    if count == 0 || (nformats > 1 && nformats != count) {
        return Some(Committed::Nothing);
    }
    pos += 2;
    let mut macs = Vec::with_capacity(count);
    let mut message = Vec::with_capacity(64);
    for n in 1..=count {
        let code = if nformats > 1 {
            i16_at(body, formats + 2 * (n - 1))?
        } else {
            first
        };
        let size = i32_at(body, pos)?;
        pos += 4;
        message.clear();
        message.extend_from_slice(format!("[{n},{{\"format\":{code},\"value\":").as_bytes());
        if size >= 0 {
            let size = size as usize;
            let value = body.get(pos..pos + size)?;
            message.push(b'"');
            for &b in value {
                message.push(HEX[usize::from(b >> 4)]);
                message.push(HEX[usize::from(b & 15)]);
            }
            message.extend_from_slice(b"\"}]");
            pos += size;
        } else if size == -1 {
            message.extend_from_slice(b"null}]");
        } else {
            return None;
        }
        let mut one = mac.clone();
        one.update(&message);
        let tag = one.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&tag[..MAC_BYTES]);
        macs.push(out);
    }
    let nresults = u16_at(body, pos)?;
    if pos + 2 + 2 * nresults != body.len() {
        return None; // values cut short, or bytes left over
    }
    Some(Committed::Macs(end + 1..stop, macs))
}

/// Lower-case hex of a MAC.
pub fn hex(mac: &[u8; MAC_BYTES]) -> String {
    let mut out = String::with_capacity(2 * MAC_BYTES);
    for &b in mac {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
    out
}
