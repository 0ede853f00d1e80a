//! A fast path for `policy/sqltext.redact` (literals out of a statement's text, `$n` in
//! their place) for text written in a plain subset of PostgreSQL's lexical grammar.
//!
//! pglast's scanner (PostgreSQL's own lexer) costs ~15 µs for a one-line statement, and in
//! the simple query protocol almost every statement text is new (`... WHERE aid = 4711`).
//! This scanner accepts only text in which each token's extent is beyond doubt:
//! identifiers and keywords, plain decimal numbers, standard strings without a backslash,
//! quoted identifiers without `""`, `$n` parameters, operators and punctuation, ASCII
//! blanks. Anything else — a comment, an E'', B'', X'', N'' or U&'' string, dollar
//! quoting, a string continued on the next line, a number with an exponent, a base or an
//! underscore, trailing junk, a non-ASCII character outside quotes, a NUL — gives `None`,
//! and the caller runs PostgreSQL's lexer as before. Tests compare both on generated text
//! (tests/recording/test_redact_native.py).

/// Blanks PostgreSQL's lexer skips (it also skips \f and \v: those are left to it).
fn blank(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r')
}

/// One-character tokens and operator characters that never start a literal or comment.
fn punct(c: u8) -> bool {
    matches!(
        c,
        b',' | b'('
            | b')'
            | b'['
            | b']'
            | b';'
            | b':'
            | b'+'
            | b'-'
            | b'*'
            | b'/'
            | b'%'
            | b'^'
            | b'<'
            | b'>'
            | b'='
            | b'~'
            | b'!'
            | b'@'
            | b'#'
            | b'&'
            | b'|'
            | b'?'
    )
}

/// What may follow a number or a parameter without doubt about where it ends.
fn ends_number(c: u8) -> bool {
    blank(c) || punct(c)
}

/// `sqltext._word` for the ASCII characters that can stand next to a literal here.
fn word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

/// Longer text is left to PostgreSQL's lexer. Past its allocation limits (2^25 tokens,
/// a 512 MiB literal) the lexer fails and the reference redacts the whole text as one
/// literal; this path must not answer differently.
const MAX_LEN: usize = 1 << 24;

/// Where the literals are, and the highest `$n` the text uses; `None`: not for this path.
fn scan(b: &[u8]) -> Option<(Vec<(usize, usize)>, u64)> {
    let n = b.len();
    if n >= MAX_LEN {
        return None;
    }
    let at = |i: usize| if i < n { b[i] } else { 0 };
    let mut spans = Vec::new();
    let mut highest = 0u64;
    let mut i = 0;
    while i < n {
        let c = b[i];
        if blank(c) {
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            i += 1;
            while word(at(i)) {
                i += 1;
            }
            // E'', B'', X'', N'', U&'', U&"" and non-ASCII identifier characters
            if matches!(at(i), b'\'' | b'"' | b'&') || at(i) >= 0x80 {
                return None;
            }
        } else if c.is_ascii_digit() {
            let start = i;
            while at(i).is_ascii_digit() {
                i += 1;
            }
            if at(i) == b'.' {
                i += 1;
                let frac = i;
                while at(i).is_ascii_digit() {
                    i += 1;
                }
                if i == frac {
                    return None; // "1." and "1..2"
                }
            }
            if i < n && !ends_number(b[i]) {
                return None; // exponent, 0x.., 1_000, trailing junk
            }
            spans.push((start, i));
        } else if c == b'\'' {
            let start = i;
            i += 1;
            loop {
                match at(i) {
                    _ if i >= n => return None, // unterminated
                    b'\\' | 0 => return None,
                    b'\'' if at(i + 1) == b'\'' => i += 2,
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
            let mut j = i;
            while j < n && blank(b[j]) {
                j += 1;
            }
            if at(j) == b'\'' {
                return None; // 'a' \n 'b' is one literal
            }
            spans.push((start, i));
        } else if c == b'"' {
            i += 1;
            let start = i;
            while i < n && b[i] != b'"' && b[i] != 0 {
                i += 1;
            }
            if i >= n || b[i] == 0 || i == start {
                return None;
            }
            i += 1;
            if matches!(at(i), b'"' | b'\'') {
                return None;
            }
        } else if c == b'$' {
            i += 1;
            let start = i;
            while at(i).is_ascii_digit() {
                i += 1;
            }
            if i == start || i - start > 9 || (i < n && !ends_number(b[i])) {
                return None; // dollar quoting, junk after $n
            }
            let number: u64 = std::str::from_utf8(&b[start..i]).ok()?.parse().ok()?;
            highest = highest.max(number);
        } else if (c == b'-' && at(i + 1) == b'-') || (c == b'/' && at(i + 1) == b'*') {
            return None; // comments
        } else if c == b'.' {
            if at(i + 1).is_ascii_digit() {
                return None; // .5
            }
            i += 1;
        } else if punct(c) {
            i += 1;
        } else {
            return None;
        }
    }
    Some((spans, highest))
}

/// `(text, literals, first)` as `sqltext.redact(sql)` gives them, or `None` when the text
/// is not in the subset this scanner reads (see the module comment).
pub fn redact(sql: &str) -> Option<(String, Vec<&str>, u64)> {
    let b = sql.as_bytes();
    let (spans, highest) = scan(b)?;
    let first = highest + 1;
    let mut text = String::with_capacity(sql.len() + 4 * spans.len());
    let mut literals = Vec::with_capacity(spans.len());
    let mut buf = itoa::Buffer::new();
    let mut pos = 0;
    for (k, &(start, end)) in spans.iter().enumerate() {
        text.push_str(&sql[pos..start]);
        if start > 0 && word(b[start - 1]) {
            text.push(' ');
        }
        text.push('$');
        text.push_str(buf.format(first + k as u64));
        if end < b.len() && word(b[end]) {
            text.push(' ');
        }
        literals.push(&sql[start..end]);
        pos = end;
    }
    text.push_str(&sql[pos..]);
    Some((text, literals, first))
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn pgbench_select() {
        let (text, lits, first) =
            redact("SELECT abalance FROM pgbench_accounts WHERE aid = 4711;").unwrap();
        assert_eq!(
            text,
            "SELECT abalance FROM pgbench_accounts WHERE aid = $1;"
        );
        assert_eq!(lits, vec!["4711"]);
        assert_eq!(first, 1);
    }

    #[test]
    fn numbered_after_parameters() {
        let (text, lits, first) = redact("select $2, 'it''s', 1.5 from t").unwrap();
        assert_eq!(text, "select $2, $3, $4 from t");
        assert_eq!(lits, vec!["'it''s'", "1.5"]);
        assert_eq!(first, 3);
    }

    #[test]
    fn left_to_the_lexer() {
        for sql in [
            "select E'\\n'",
            "select 'a'\n'b'",
            "select 1 -- c",
            "select $$x$$",
            "select 1e5",
            "select 0x1f",
            "select 1_000",
            "select .5",
            "select 'a\\'",
            "select u&'x'",
            "select 'unterminated",
            "select \"\"",
            "select é",
            &format!("select {}1", "(".repeat(super::MAX_LEN)),
        ] {
            assert!(redact(sql).is_none(), "{sql}");
        }
    }
}
