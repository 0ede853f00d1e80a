//! The fast path of a frame whose body is already canonical JSON (RFC 8785).
//!
//! The gateway serializes bodies with sorted keys (`orjson.OPT_SORT_KEYS`, and the result
//! summary in key order), so most frames need no JSON tree: this module checks, in one
//! pass over the bytes, that the frame is `[seq,ts,"type",sid,n,{...}]` and that its body
//! is exactly what `canonical::write_value` would write for it, and returns where the
//! body's top-level members are. Anything else (floats, escapes in keys, keys beyond
//! ASCII, an integer beyond ±(2^53 - 1), a body member named like an envelope field,
//! malformed JSON) returns `None`: the caller takes the general path, which canonicalizes
//! or refuses with its own message. The output is the same bytes either way
//! (tests/recording/test_native_writer.py compares the two writers).

/// A frame's envelope values (borrowed from the frame, or from its parsed JSON).
pub struct Frame<'a> {
    pub seq: u64,
    pub ts: u64,
    pub kind: &'a str,
    pub sid: Option<&'a str>,
    pub n: Option<u64>,
}

/// A top-level body member: its key, and the `"key":value` bytes to copy.
pub struct Member<'a> {
    pub key: &'a str,
    pub raw: &'a [u8],
}

const MAX_SAFE: u64 = (1 << 53) - 1;
const MAX_DEPTH: usize = 64;

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        if self.peek()? == byte {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.bytes[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// A non-negative integer in canonical form (no leading zeros), as u64.
    fn uint(&mut self) -> Option<u64> {
        let start = self.pos;
        let mut value: u64 = 0;
        while let Some(b @ b'0'..=b'9') = self.peek() {
            value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
            self.pos += 1;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.bytes[start] == b'0') {
            return None;
        }
        if matches!(self.peek(), Some(b'.' | b'e' | b'E')) {
            return None; // a float: the general path formats it
        }
        Some(value)
    }

    /// A string whose bytes need no escape at all; returns its contents.
    fn plain_str(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' | 0x00..=0x1F => return None,
                _ => self.pos += 1,
            }
        }
        let text = std::str::from_utf8(&self.bytes[start..self.pos]).ok()?;
        self.pos += 1;
        Some(text)
    }

    /// A string in canonical form: only the escapes `canonical::write_str` writes.
    fn canonical_str(&mut self) -> Option<()> {
        self.eat(b'"')?;
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                0x00..=0x1F => return None,
                b'\\' => {
                    self.pos += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't' => self.pos += 1,
                        b'u' => {
                            // \u00XX, lowercase, only for a control character without a
                            // short form
                            let hex = self.bytes.get(self.pos + 1..self.pos + 5)?;
                            let code = match hex {
                                [b'0', b'0', hi @ (b'0' | b'1'), lo] => {
                                    let lo = match lo {
                                        b'0'..=b'9' => lo - b'0',
                                        b'a'..=b'f' => lo - b'a' + 10,
                                        _ => return None,
                                    };
                                    (hi - b'0') * 16 + lo
                                }
                                _ => return None,
                            };
                            if matches!(code, 0x08 | 0x09 | 0x0A | 0x0C | 0x0D) {
                                return None;
                            }
                            self.pos += 5;
                        }
                        _ => return None,
                    }
                }
                _ => self.pos += 1,
            }
        }
    }

    /// An integer in canonical form within ±(2^53 - 1); no floats, no `-0`.
    fn canonical_int(&mut self) -> Option<()> {
        let negative = self.eat(b'-').is_some();
        let value = self.uint()?;
        if value > MAX_SAFE || (negative && value == 0) {
            return None;
        }
        Some(())
    }

    fn canonical_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.canonical_object(depth, |_, _, _| Some(())),
            b'[' => {
                self.pos += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.canonical_value(depth + 1)?;
                    if self.eat(b']').is_some() {
                        return Some(());
                    }
                    self.eat(b',')?;
                }
            }
            b'"' => self.canonical_str(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.canonical_int(),
            _ => None,
        }
    }

    /// An object with plain ASCII keys in strictly ascending order (JCS order for them);
    /// `member(key, start, end)` sees each member's `"key":value` span.
    fn canonical_object(
        &mut self,
        depth: usize,
        mut member: impl FnMut(&'a str, usize, usize) -> Option<()>,
    ) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let mut last: Option<&str> = None;
        loop {
            let start = self.pos;
            let key = self.plain_str()?;
            if !key.is_ascii() || last.is_some_and(|prev| prev >= key) {
                return None;
            }
            last = Some(key);
            self.eat(b':')?;
            self.canonical_value(depth + 1)?;
            member(key, start, self.pos)?;
            if self.eat(b'}').is_some() {
                return Some(());
            }
            self.eat(b',')?;
        }
    }
}

fn null_or<'a, T>(
    cur: &mut Cursor<'a>,
    value: impl FnOnce(&mut Cursor<'a>) -> Option<T>,
) -> Option<Option<T>> {
    if cur.peek()? == b'n' {
        cur.literal(b"null")?;
        Some(None)
    } else {
        value(cur).map(Some)
    }
}

/// The envelope of a fast-path frame, and its body's members in `members`; `None` sends
/// the frame down the general path. `reserved`: body keys that must take that path.
pub fn split<'a>(
    frame: &'a [u8],
    reserved: &[&str],
    members: &mut Vec<Member<'a>>,
) -> Option<Frame<'a>> {
    members.clear();
    std::str::from_utf8(frame).ok()?; // the general path refuses invalid UTF-8
    let mut cur = Cursor {
        bytes: frame,
        pos: 0,
    };
    cur.eat(b'[')?;
    let seq = cur.uint()?;
    cur.eat(b',')?;
    let ts = cur.uint()?;
    cur.eat(b',')?;
    let kind = cur.plain_str()?;
    cur.eat(b',')?;
    let sid = null_or(&mut cur, Cursor::plain_str)?;
    cur.eat(b',')?;
    let n = null_or(&mut cur, Cursor::uint)?;
    cur.eat(b',')?;
    let mut found: Vec<Member<'a>> = std::mem::take(members);
    let body = cur.canonical_object(0, |key, start, end| {
        if reserved.contains(&key) {
            return None;
        }
        found.push(Member {
            key,
            raw: &frame[start..end],
        });
        Some(())
    });
    *members = found;
    body?;
    cur.eat(b']')?;
    if cur.pos != frame.len() {
        return None;
    }
    Some(Frame {
        seq,
        ts,
        kind,
        sid,
        n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::write_value;
    use serde_json::Value;

    fn keys(frame: &str) -> Option<Vec<String>> {
        let mut members = Vec::new();
        split(frame.as_bytes(), &["seq", "type"], &mut members)?;
        Some(members.iter().map(|m| m.key.to_string()).collect())
    }

    #[test]
    fn canonical_bodies_take_the_fast_path() {
        let frame = r#"[7,1733240000000000,"stmt","s-1",3,{"a":[1,-2,"x\n\u001f",{"b":null}],"c":true,"d":{}}]"#;
        assert_eq!(keys(frame).unwrap(), ["a", "c", "d"]);
        let mut members = Vec::new();
        let f = split(frame.as_bytes(), &[], &mut members).unwrap();
        assert_eq!(
            (f.seq, f.ts, f.kind, f.sid, f.n),
            (7, 1733240000000000, "stmt", Some("s-1"), Some(3))
        );
        assert_eq!(members[2].raw, br#""d":{}"#);
        let f = split(br#"[0,1,"gateway.start",null,null,{}]"#, &[], &mut members).unwrap();
        assert_eq!((f.sid, f.n), (None, None));
        assert!(members.is_empty());
    }

    #[test]
    fn anything_else_takes_the_general_path() {
        for frame in [
            r#"[1,2,"stmt","s",0,{"b":1,"a":2}]"#, // keys out of order
            r#"[1,2,"stmt","s",0,{"a":1,"a":2}]"#, // a duplicate key
            r#"[1,2,"stmt","s",0,{"a":1.5}]"#,     // a float
            r#"[1,2,"stmt","s",0,{"a":1e3}]"#,     // an exponent
            r#"[1,2,"stmt","s",0,{"a":-0}]"#,      // minus zero
            r#"[1,2,"stmt","s",0,{"a":9007199254740992}]"#, // beyond 2^53 - 1
            r#"[1,2,"stmt","s",0,{"a":"\u000a"}]"#, // a long escape with a short form
            r#"[1,2,"stmt","s",0,{"a":"\u001F"}]"#, // uppercase hex
            r#"[1,2,"stmt","s",0,{"a":"\/"}]"#,    // an escape JCS never writes
            r#"[1,2,"stmt","s",0,{"\u00e9":1}]"#,  // an escaped key
            r#"[1,2,"stmt","s",0,{"é":1}]"#,       // a key beyond ASCII
            r#"[1,2,"stmt","s",0,{"seq":1}]"#,     // an envelope field
            r#"[1,2,"stmt","s",0, {"a":1}]"#,      // whitespace
            r#"[1,2,"stmt","s",0,{"a":1}] "#,      // trailing bytes
            r#"[01,2,"stmt","s",0,{}]"#,           // a leading zero
            r#"[1,2,"st\"mt","s",0,{}]"#,          // an escaped type
            r#"[1,2,"stmt","s",0,["a"]]"#,         // not an object
            r#"[1,2,"stmt","s",0,{"a":1}"#,        // truncated
        ] {
            assert!(keys(frame).is_none(), "{frame}");
        }
        let mut invalid = br#"[1,2,"stmt","s",0,{"a":"x"}]"#.to_vec();
        invalid[24] = 0xff; // the string's one byte: not UTF-8
        assert!(split(&invalid, &[], &mut Vec::new()).is_none());
    }

    #[test]
    fn a_fast_path_body_is_its_own_canonical_form() {
        let body = "{\"a\":[1,-2,\"x\\n\\u001f\u{7f}/é\",{\"b\":null}],\"c\":true,\"d\":{},\"e\":9007199254740991}";
        let value: Value = serde_json::from_str(body).unwrap();
        let mut out = Vec::new();
        write_value(&mut out, &value).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), body);
        assert!(keys(&format!(r#"[1,2,"t",null,null,{body}]"#)).is_some());
    }
}
