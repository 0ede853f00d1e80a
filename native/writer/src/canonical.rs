//! RFC 8785 (JCS) bytes of a parsed JSON value, as `regogate.recording.format.jcs.dumps` writes
//! them: keys sorted by UTF-16 code units, ECMAScript number formatting, minimal string
//! escapes; integers beyond ±(2^53 - 1) have no canonical form and are refused.

use serde_json::{Map, Number, Value};

const MAX_SAFE: u64 = (1 << 53) - 1;

pub fn write_value(out: &mut Vec<u8>, value: &Value) -> Result<(), String> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item)?;
            }
            out.push(b']');
        }
        Value::Object(map) => {
            out.push(b'{');
            for (i, (key, item)) in sorted(map).into_iter().enumerate() {
                write_member(out, i == 0, key, item)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

/// ``,"key":value`` (no comma before the ``first`` member of an object).
pub fn write_member(
    out: &mut Vec<u8>,
    first: bool,
    key: &str,
    value: &Value,
) -> Result<(), String> {
    if !first {
        out.push(b',');
    }
    write_str(out, key);
    out.push(b':');
    write_value(out, value)
}

/// The entries of an object in JCS order. serde_json's map is ordered by UTF-8 bytes,
/// which is UTF-16 order unless a key holds a character beyond the BMP.
pub fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    if entries.iter().any(|(k, _)| k.bytes().any(|b| b >= 0xF0)) {
        entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
    }
    entries
}

pub fn utf16_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

pub fn write_uint(out: &mut Vec<u8>, mut v: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn write_number(out: &mut Vec<u8>, n: &Number) -> Result<(), String> {
    if let Some(u) = n.as_u64() {
        if u > MAX_SAFE {
            return Err(format!(
                "integer {u} is beyond ±(2**53 - 1): no canonical form"
            ));
        }
        write_uint(out, u);
    } else if let Some(i) = n.as_i64() {
        if i.unsigned_abs() > MAX_SAFE {
            return Err(format!(
                "integer {i} is beyond ±(2**53 - 1): no canonical form"
            ));
        }
        out.push(b'-');
        write_uint(out, i.unsigned_abs());
    } else {
        let f = n
            .as_f64()
            .ok_or("a number that is neither integer nor float")?;
        if !f.is_finite() {
            return Err("a non-finite number has no JSON form".into());
        }
        let mut buf = ryu_js::Buffer::new();
        out.extend_from_slice(buf.format_finite(f).as_bytes());
    }
    Ok(())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jcs(text: &str) -> String {
        let v: Value = serde_json::from_str(text).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &v).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn rfc8785_numbers() {
        // RFC 8785 appendix B (a selection) and the ECMAScript cut-overs
        assert_eq!(
            jcs("[0.0, -0.0, 1.0, 1e21, 1e20, 1e-7, 1e-6, 5e-324]"),
            "[0,0,1,1e+21,100000000000000000000,1e-7,0.000001,5e-324]"
        );
        assert_eq!(
            jcs("[1.7976931348623157e308, 333333333.33333329, 9007199254740991]"),
            "[1.7976931348623157e+308,333333333.3333333,9007199254740991]"
        );
    }

    #[test]
    fn rfc8785_sorting_and_strings() {
        assert_eq!(
            jcs(r#"{"\u20ac":1,"\r":2,"\ud83d\ude00":3,"\u0080":4,"1":5,"\u00f6":6,"\ufb33":7}"#),
            "{\"\\r\":2,\"1\":5,\"\u{80}\":4,\"ö\":6,\"€\":1,\"😀\":3,\"\u{fb33}\":7}"
        );
        assert_eq!(
            jcs(r#""\u0000\u001f\u007f\b\f/\u2028""#),
            "\"\\u0000\\u001f\u{7f}\\b\\f/\u{2028}\""
        );
    }

    #[test]
    fn unsafe_integers_are_refused() {
        let v: Value = serde_json::from_str("[9007199254740992]").unwrap();
        assert!(write_value(&mut Vec::new(), &v).is_err());
        let v: Value = serde_json::from_str("[-9007199254740992]").unwrap();
        assert!(write_value(&mut Vec::new(), &v).is_err());
    }
}
