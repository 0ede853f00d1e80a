//! Frames in; canonical records, session chains, the tree, segment appends, fsync and
//! checkpoints out: `regogate.recording.write.core.LogCore` over `store.SegmentStore`.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde_json::{Map, Value};

use crate::canonical::{sorted, write_member, write_str, write_uint, write_value};
use crate::fast;
use crate::note::Signer;
use crate::tree::{leaf_hash, CompactTree, Hash};

const SCHEMA: &str = "regogate.audit/1";
const CLOSE: &str = "session.close";
const GATEWAY_TYPES: [&str; 5] = [
    "gateway.start",
    "gateway.stop",
    "key.rotate",
    "checkpoint",
    "clock.step",
];
// The envelope's fields in JCS order (all ASCII: byte order is UTF-16 order).
const ENVELOPE: [&str; 8] = ["gw", "n", "prev", "seq", "sid", "ts", "type", "v"];
const CHECKPOINTS: &str = "checkpoints.log";
const FRONTIER: &str = "frontier.json";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Fsync {
    Always,
    Checkpoint,
    Never,
}

/// What the Python worker hands over after opening the directory.
pub struct State {
    dir: PathBuf,
    segment_bytes: u64,
    fsync: Fsync,
    signer: Signer,
    gw: Vec<u8>, // canonical bytes of the gw object
    origin: String,
    tree: CompactTree,
    segment: u64,
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a Value, String> {
    obj.get(key).ok_or_else(|| format!("the state lacks {key}"))
}

fn uint(obj: &Map<String, Value>, key: &str) -> Result<u64, String> {
    field(obj, key)?
        .as_u64()
        .ok_or_else(|| format!("{key} is not a non-negative integer"))
}

fn string<'a>(obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    field(obj, key)?
        .as_str()
        .ok_or_else(|| format!("{key} is not a string"))
}

fn unhex(text: &str) -> Result<Hash, String> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err("a tree hash is not 64 hex digits".into());
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| "bad hex")?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| "a tree hash is not hex")?;
    }
    Ok(out)
}

impl State {
    pub fn parse(raw: &[u8]) -> Result<Self, String> {
        let value: Value =
            serde_json::from_slice(raw).map_err(|e| format!("the state is not JSON: {e}"))?;
        let Value::Object(obj) = value else {
            return Err("the state is not a JSON object".into());
        };
        let fsync = match string(&obj, "fsync")? {
            "always" => Fsync::Always,
            "checkpoint" => Fsync::Checkpoint,
            "never" => Fsync::Never,
            other => return Err(format!("unknown fsync policy {other:?}")),
        };
        let gw = field(&obj, "gw")?;
        if !gw.is_object() {
            return Err("gw is not an object".into());
        }
        let mut gw_bytes = Vec::new();
        write_value(&mut gw_bytes, gw)?;
        let stack = field(&obj, "frontier")?
            .as_array()
            .ok_or("frontier is not a list")?
            .iter()
            .map(|h| unhex(h.as_str().unwrap_or("")))
            .collect::<Result<Vec<Hash>, String>>()?;
        Ok(Self {
            dir: PathBuf::from(string(&obj, "dir")?),
            segment_bytes: uint(&obj, "segment_bytes")?,
            fsync,
            signer: Signer::parse(string(&obj, "skey")?)?,
            gw: gw_bytes,
            origin: string(&obj, "origin")?.to_string(),
            tree: CompactTree::from_parts(uint(&obj, "size")?, stack)?,
            segment: uint(&obj, "segment")?,
        })
    }
}

/// A record body: parsed (the general path), or the members of one already canonical.
enum Body<'a> {
    Tree(Map<String, Value>),
    Canonical(Vec<fast::Member<'a>>),
}

/// A body member to write: a parsed value, or `"key":value` bytes already canonical.
enum Item<'a> {
    Value(&'a Value),
    Raw(&'a [u8]),
}

impl Item<'_> {
    fn write(&self, out: &mut Vec<u8>, first: bool, key: &str) -> Result<(), String> {
        match self {
            Item::Value(v) => write_member(out, first, key, v),
            Item::Raw(raw) => {
                if !first {
                    out.push(b',');
                }
                out.extend_from_slice(raw);
                Ok(())
            }
        }
    }
}

pub struct Log {
    state: State,
    heads: HashMap<String, Hash>, // session id -> leaf hash of its latest record
    seg: File,
    seg_size: u64,
    dirty: bool,
    out: Vec<u8>,     // the batch's lines
    ends: Vec<usize>, // where each line ends in `out`
    ts_cache: (u64, [u8; 19]),
    last_ts: u64,   // µs: the ts of the latest record written
    signed_at: u64, // the signing time of the latest checkpoint signed
}

fn io_error(e: std::io::Error) -> String {
    e.to_string()
}

impl Log {
    pub fn open(state: State) -> Result<Self, String> {
        let number = state.segment;
        let (seg, created) = open_segment(&state.dir, number).map_err(io_error)?;
        let seg_size = seg.metadata().map_err(io_error)?.len();
        let log = Self {
            state,
            heads: HashMap::new(),
            seg,
            seg_size,
            dirty: false,
            out: Vec::with_capacity(1 << 16),
            ends: Vec::new(),
            ts_cache: (u64::MAX, [0; 19]),
            last_ts: 0,
            signed_at: 0,
        };
        if created {
            log.sync_directory().map_err(io_error)?;
        }
        Ok(log)
    }

    pub fn size(&self) -> u64 {
        self.state.tree.size
    }

    /// Append ``frames``, flush (fsync by policy), maybe sign a checkpoint; return it.
    /// With ``rotate_to`` the batch is sealed under the current key, then the new key signs.
    pub fn commit(
        &mut self,
        frames: &[Vec<u8>],
        seal: bool,
        rotate_to: Option<&str>,
    ) -> Result<Option<String>, String> {
        let rotate = rotate_to.map(Signer::parse).transpose()?;
        if !frames.is_empty() {
            self.out.clear();
            self.ends.clear();
            for frame in frames {
                self.record(frame)?;
            }
            self.write().map_err(io_error)?;
            if self.state.fsync == Fsync::Always {
                self.sync_segment().map_err(io_error)?;
            }
        }
        let mut note = None;
        if seal || rotate.is_some() {
            let root = self.state.tree.root();
            let text = format!(
                "{}\n{}\n{}\n",
                self.state.origin,
                self.state.tree.size,
                B64.encode(root)
            );
            let time = self.signing_time();
            let signed = self.state.signer.sign(&text, time);
            self.append_checkpoint(&signed).map_err(io_error)?;
            note = Some(signed);
        }
        if let Some(signer) = rotate {
            self.state.signer = signer;
        }
        Ok(note)
    }

    /// A checkpoint's signing time: the clock's second, never before the previous
    /// checkpoint's or the second of the latest record it covers (`LogCore.signing_time`).
    fn signing_time(&mut self) -> u64 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.signed_at = now.max(self.signed_at).max(self.last_ts / 1_000_000);
        self.signed_at
    }

    fn record(&mut self, frame: &[u8]) -> Result<(), String> {
        // Most frames carry a body already in canonical form: no JSON tree (fast.rs).
        let mut members = Vec::with_capacity(8);
        if let Some(f) = fast::split(frame, &ENVELOPE, &mut members) {
            if f.kind != CLOSE {
                return self.append(&f, Body::Canonical(members));
            }
        }
        let parsed: Value =
            serde_json::from_slice(frame).map_err(|e| format!("a frame is not JSON: {e}"))?;
        let Value::Array(mut parts) = parsed else {
            return Err("a frame is not [seq, ts, type, sid, n, body]".into());
        };
        if parts.len() != 6 {
            return Err("a frame is not [seq, ts, type, sid, n, body]".into());
        }
        let Value::Object(body) = parts.pop().expect("6") else {
            return Err("a record body is not a JSON object".into());
        };
        let n = match &parts[4] {
            Value::Null => None,
            v => Some(v.as_u64().ok_or("n is not a non-negative integer")?),
        };
        let sid = match &parts[3] {
            Value::Null => None,
            Value::String(s) => Some(s.as_str()),
            _ => return Err("sid is not a string or null".into()),
        };
        let kind = parts[2].as_str().ok_or("type is not a string")?;
        let ts = parts[1]
            .as_u64()
            .ok_or("ts is not a non-negative integer")?;
        let seq = parts[0]
            .as_u64()
            .ok_or("seq is not a non-negative integer")?;
        let f = fast::Frame {
            seq,
            ts,
            kind,
            sid,
            n,
        };
        self.append(&f, Body::Tree(body))
    }

    /// Check, chain, encode, hash and queue one record.
    fn append(&mut self, f: &fast::Frame, mut body: Body) -> Result<(), String> {
        self.last_ts = self.last_ts.max(f.ts);
        let size = self.state.tree.size;
        if f.seq != size {
            return Err(format!(
                "record seq {} out of order: the log has {size}",
                f.seq
            ));
        }
        if let Body::Tree(map) = &body {
            // (a canonical body never names one: fast.rs sends it down this path)
            let mut clash: Vec<&str> = ENVELOPE
                .iter()
                .copied()
                .filter(|k| map.contains_key(*k))
                .collect();
            if !clash.is_empty() {
                clash.sort_unstable();
                let names: Vec<String> = clash.iter().map(|k| format!("'{k}'")).collect();
                return Err(format!(
                    "record body may not set envelope fields [{}]",
                    names.join(", ")
                ));
            }
        }
        let (kind, sid, n) = (f.kind, f.sid, f.n);
        let mut prev: Option<Hash> = None;
        if let Some(sid) = sid {
            if !GATEWAY_TYPES.contains(&kind) {
                if n.unwrap_or(0) != 0 {
                    prev = self.heads.get(sid).copied();
                }
                if kind == CLOSE {
                    let head = prev.map_or(Value::Null, |h| Value::String(hex(&h)));
                    match &mut body {
                        Body::Tree(map) => {
                            map.insert("chain_head".into(), head);
                        }
                        Body::Canonical(_) => {
                            return Err("session.close needs its body parsed".into())
                        }
                    }
                }
            }
        }
        let start = self.out.len();
        self.encode(f, prev, &body)
            .map_err(|e| format!("{kind} record: {e}"))?;
        let leaf = leaf_hash(&self.out[start..]);
        self.state.tree.append(leaf);
        if let Some(sid) = sid {
            if kind == CLOSE {
                self.heads.remove(sid);
            } else {
                self.heads.insert(sid.to_string(), leaf);
            }
        }
        self.out.push(b'\n');
        self.ends.push(self.out.len());
        Ok(())
    }

    /// The record's canonical bytes: the body's sorted entries merged with the envelope's.
    fn encode(&mut self, f: &fast::Frame, prev: Option<Hash>, body: &Body) -> Result<(), String> {
        let ts = self.format_ts(f.ts);
        let entries: Vec<(&str, Item)> = match body {
            Body::Tree(map) => sorted(map)
                .into_iter()
                .map(|(k, v)| (k.as_str(), Item::Value(v)))
                .collect(),
            Body::Canonical(members) => members.iter().map(|m| (m.key, Item::Raw(m.raw))).collect(),
        };
        let mut rest = entries.iter().peekable();
        let out = &mut self.out;
        out.push(b'{');
        let mut first = true;
        for key in ENVELOPE {
            while let Some((k, v)) = rest.next_if(|(k, _)| *k < key) {
                v.write(out, first, k)?;
                first = false;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.push(b'"');
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            match key {
                "gw" => out.extend_from_slice(&self.state.gw),
                "n" => match f.n {
                    Some(n) => write_uint(out, n),
                    None => out.extend_from_slice(b"null"),
                },
                "prev" => match prev {
                    Some(h) => {
                        out.push(b'"');
                        out.extend_from_slice(hex(&h).as_bytes());
                        out.push(b'"');
                    }
                    None => out.extend_from_slice(b"null"),
                },
                "seq" => write_uint(out, f.seq),
                "sid" => match f.sid {
                    Some(s) => write_str(out, s),
                    None => out.extend_from_slice(b"null"),
                },
                "ts" => {
                    out.push(b'"');
                    out.extend_from_slice(&ts);
                    out.push(b'"');
                }
                "type" => write_str(out, f.kind),
                _ => write_str(out, SCHEMA),
            }
        }
        for (k, v) in rest {
            v.write(out, false, k)?;
        }
        out.push(b'}');
        Ok(())
    }

    /// RFC 3339 UTC with six fractional digits (``records.format_ts``); the date part
    /// is formatted once per second.
    fn format_ts(&mut self, micros: u64) -> [u8; 27] {
        let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
        if self.ts_cache.0 != secs {
            let days = (secs / 86_400) as i64;
            let rem = secs % 86_400;
            let (y, m, d) = civil_from_days(days);
            let text = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
            let mut stamp = [0u8; 19];
            stamp.copy_from_slice(&text.as_bytes()[..19]);
            self.ts_cache = (secs, stamp);
        }
        let mut out = [0u8; 27];
        out[..19].copy_from_slice(&self.ts_cache.1);
        out[19] = b'.';
        let mut f = frac;
        for digit in out[20..26].iter_mut().rev() {
            *digit = b'0' + (f % 10) as u8;
            f /= 10;
        }
        out[26] = b'Z';
        out
    }

    /// Append the batch's lines, starting a new segment when this one is full.
    fn write(&mut self) -> std::io::Result<()> {
        let mut chunk_start = 0;
        let mut size = self.seg_size;
        let mut line_start = 0;
        for i in 0..self.ends.len() {
            let end = self.ends[i];
            let len = (end - line_start) as u64;
            if size > 0 && size + len > self.state.segment_bytes {
                self.write_all(chunk_start, line_start)?;
                chunk_start = line_start;
                size = 0;
                if self.state.fsync != Fsync::Never {
                    self.seg.sync_all()?;
                }
                self.state.segment += 1;
                let (seg, created) = open_segment(&self.state.dir, self.state.segment)?;
                self.seg = seg;
                self.seg_size = self.seg.metadata()?.len();
                if created {
                    self.sync_directory()?;
                }
            }
            size += len;
            line_start = end;
        }
        self.write_all(chunk_start, line_start)
    }

    fn write_all(&mut self, start: usize, end: usize) -> std::io::Result<()> {
        if start == end {
            return Ok(());
        }
        self.seg.write_all(&self.out[start..end])?;
        self.seg_size += (end - start) as u64;
        self.dirty = true;
        Ok(())
    }

    fn sync_segment(&mut self) -> std::io::Result<()> {
        if self.dirty && self.state.fsync != Fsync::Never {
            self.seg.sync_all()?;
        }
        self.dirty = false;
        Ok(())
    }

    fn sync_directory(&self) -> std::io::Result<()> {
        if self.state.fsync == Fsync::Never {
            return Ok(());
        }
        File::open(&self.state.dir)?.sync_all()
    }

    /// Append a signed note, after the records it covers are on stable storage.
    fn append_checkpoint(&mut self, note: &str) -> std::io::Result<()> {
        self.sync_segment()?;
        let path = self.state.dir.join(CHECKPOINTS);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)?;
        let at = file.metadata()?.len();
        let mut data = Vec::with_capacity(note.len() + 1);
        data.extend_from_slice(note.as_bytes());
        data.push(b'\n');
        file.write_all(&data)?;
        if self.state.fsync != Fsync::Never {
            file.sync_all()?;
        }
        drop(file);
        if created {
            self.sync_directory()?;
        }
        self.write_frontier(at, at + note.len() as u64)
    }

    /// `frontier.json` for the checkpoint just appended at [at, end) of checkpoints.log,
    /// byte for byte what `recording.store.SegmentStore._write_frontier` writes.
    fn write_frontier(&mut self, at: u64, end: u64) -> std::io::Result<()> {
        let tree = &self.state.tree;
        let hashes: Vec<String> = tree
            .frontier()
            .iter()
            .map(|h| format!("\"{}\"", hex(h)))
            .collect();
        let body = format!(
            "{{\"v\":1,\"size\":{},\"frontier\":[{}],\"segment\":{},\"offset\":{},\"checkpoint\":[{},{}]}}\n",
            tree.size,
            hashes.join(","),
            self.state.segment,
            self.seg_size,
            at,
            end
        );
        let scratch = self.state.dir.join(format!(".{FRONTIER}.tmp"));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&scratch)?;
        file.write_all(body.as_bytes())?;
        if self.state.fsync != Fsync::Never {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&scratch, self.state.dir.join(FRONTIER)) // lost in a crash: a full scan
    }
}

fn open_segment(dir: &std::path::Path, number: u64) -> std::io::Result<(File, bool)> {
    let path = dir.join(format!("seg-{number:06}.jsonl"));
    let created = !path.exists();
    let file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)?;
    Ok((file, created))
}

fn hex(h: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in h {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// (year, month, day) of a day count since 1970-01-01 (H. Hinnant's civil_from_days).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(20_425), (2025, 12, 3));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
