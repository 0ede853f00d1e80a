//! regogate's recording hot path, as a Python extension (`regogate._native`).
//!
//! What runs on the gateway's event loop for every statement: the record frame
//! (`[seq,ts,"type",sid,n,body]`, the bytes `recording/core.frame` writes), the queue of
//! frames with its limits, each session's chain counter, and the per-cycle result
//! summary. `regogate/recording/write/hotpath.py` is the same code in Python: the fallback when
//! this module is not built, and the reference it is tested against byte for byte
//! (docs/decisions/0009).

use hmac::{Hmac, Mac};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};
use sha2::Sha256;
use std::collections::VecDeque;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Row counts above this have no exact JSON number (RFC 8785): recorded capped, flagged.
const MAX_ROWS: u128 = (1 << 53) - 1;

/// Records only the recorder itself writes (`recording.writer._NOT_BY_SESSIONS`).
const NOT_BY_SESSIONS: [&str; 7] = [
    "gateway.start",
    "gateway.stop",
    "key.rotate",
    "checkpoint",
    "clock.step",
    "session.open",
    "session.close",
];

mod binds;
mod redact;
mod rows;

/// The record of a clock that went back (`records.RecordType.CLOCK_STEP`).
const CLOCK_STEP: &str = "clock.step";
const CLOSE_TYPE: &str = "session.close";

/// RFC 3339 UTC with six fractional digits (`records.format_ts`); before 1970 as 1970.
fn format_ts(micros: i64) -> [u8; 27] {
    let micros = micros.max(0) as u64;
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (y, m, d) = civil_from_days(days);
    let text = format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{frac:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    );
    let mut out = [0u8; 27];
    out.copy_from_slice(&text.as_bytes()[..27]);
    out
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

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A JSON string as orjson writes it: `"`, `\` and control characters escaped (the
/// short forms where JSON has them), everything else as it is.
fn json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes); // most strings: nothing to escape
        out.push(b'"');
        return;
    }
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 15) as usize]);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

fn push_int<I: itoa::Integer>(out: &mut Vec<u8>, v: I) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

fn unavailable(py: Python<'_>, message: String, hint: Option<&str>) -> PyErr {
    let built = (|| -> PyResult<PyErr> {
        let cls = py
            .import("regogate.errors")?
            .getattr("RecordingUnavailable")?;
        let kwargs = pyo3::types::PyDict::new(py);
        if let Some(hint) = hint {
            kwargs.set_item("hint", hint)?;
        }
        Ok(PyErr::from_value(cls.call((message,), Some(&kwargs))?))
    })();
    built.unwrap_or_else(|e| e)
}

fn is_unavailable(py: Python<'_>, err: &PyErr) -> bool {
    py.import("regogate.errors")
        .and_then(|m| m.getattr("RecordingUnavailable"))
        .map(|cls| err.get_type(py).is_subclass(&cls).unwrap_or(false))
        .unwrap_or(false)
}

/// The frames the event loop has queued for the writer, with the log's next seq.
#[pyclass(module = "regogate._native")]
pub struct FrameQueue {
    buf: Vec<u8>,          // the frames, each followed by "\n"
    lens: VecDeque<usize>, // their lengths, "\n" included
    #[pyo3(get)]
    size: u64, // the next record's seq
    #[pyo3(get)]
    last_ts: i64,
    last_clock: i64, // the clock's previous reading: one below it is a backward step
    #[pyo3(get)]
    pending_bytes: usize, // queued or being written (frames without their "\n")
    max_record: usize,
    max_pending: usize,
    #[pyo3(get, set)]
    accepting: bool,
    #[pyo3(get, set)]
    draining: bool,
    #[pyo3(get, set)]
    idle: bool, // the writer task waits: the next append calls `wake`
    #[pyo3(get, set)]
    failure: Option<Py<PyAny>>,
    wake: Py<PyAny>,
    clock: Option<Py<PyAny>>,
}

impl FrameQueue {
    fn now(&self, py: Python<'_>) -> PyResult<i64> {
        match &self.clock {
            Some(clock) => clock.call0(py)?.extract(py),
            None => Ok(SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0)),
        }
    }

    /// Frame and queue one record; return its seq and whether to wake the writer task.
    /// A clock that went back since the previous record is recorded first, as a
    /// clock.step record (`hotpath.PyFrameQueue.append`).
    fn push(
        &mut self,
        py: Python<'_>,
        rtype: &str,
        sid_json: Option<&[u8]>,
        n: Option<i64>,
        body: &[u8],
    ) -> PyResult<(u64, bool)> {
        self.check_accepting(py)?;
        let now = self.now(py)?;
        let mut wake = false;
        if now < self.last_clock {
            let mut step = Vec::with_capacity(80);
            step.extend_from_slice(b"{\"clock\":\"");
            step.extend_from_slice(&format_ts(now));
            step.extend_from_slice(b"\",\"previous\":\"");
            step.extend_from_slice(&format_ts(self.last_clock));
            step.extend_from_slice(b"\"}");
            wake = self.frame(py, CLOCK_STEP, None, None, &step, now)?.1;
        }
        self.last_clock = now;
        let (seq, woke) = self.frame(py, rtype, sid_json, n, body, now)?;
        Ok((seq, wake || woke))
    }

    fn check_accepting(&self, py: Python<'_>) -> PyResult<()> {
        if !self.accepting || self.failure.is_some() {
            return Err(match &self.failure {
                // the same error each time: with a fresh traceback, not a growing one
                Some(exc) => match exc.bind(py).call_method1("with_traceback", (py.None(),)) {
                    Ok(exc) => PyErr::from_value(exc),
                    Err(err) => err,
                },
                None => unavailable(py, "the recorder is not running".into(), None),
            });
        }
        Ok(())
    }

    fn frame(
        &mut self,
        py: Python<'_>,
        rtype: &str,
        sid_json: Option<&[u8]>,
        n: Option<i64>,
        body: &[u8],
        now: i64,
    ) -> PyResult<(u64, bool)> {
        let ts = now.max(self.last_ts); // never back within a boot
        self.last_ts = ts;
        let seq = self.size;
        let start = self.buf.len();
        let buf = &mut self.buf;
        buf.push(b'[');
        push_int(buf, seq);
        buf.push(b',');
        push_int(buf, ts);
        buf.push(b',');
        json_str(buf, rtype);
        buf.push(b',');
        buf.extend_from_slice(sid_json.unwrap_or(b"null"));
        buf.push(b',');
        match n {
            Some(n) => push_int(buf, n),
            None => buf.extend_from_slice(b"null"),
        }
        buf.push(b',');
        buf.extend_from_slice(body);
        buf.push(b']');
        let size = buf.len() - start;
        if size > self.max_record {
            buf.truncate(start);
            let message = format!(
                "a {rtype} record of {size} bytes exceeds the {}-byte limit",
                self.max_record
            );
            return Err(unavailable(py, message, None));
        }
        // A session's close record is never refused for a full queue: there is one per
        // session (bounded by the sessions open), and refusing it would lose the end of a
        // chain whose statements were all recorded. Statements are still refused.
        if self.pending_bytes + size > self.max_pending
            && !self.lens.is_empty()
            && !self.draining
            && rtype != CLOSE_TYPE
        {
            buf.truncate(start);
            let message = format!(
                "the recording queue is full ({} bytes not yet written): the recording disk \
                 is too slow or stalled",
                self.pending_bytes
            );
            let hint = "statements resume when the writer catches up";
            return Err(unavailable(py, message, Some(hint)));
        }
        buf.push(b'\n');
        self.lens.push_back(size + 1);
        self.size = seq + 1;
        self.pending_bytes += size;
        let wake = self.idle;
        self.idle = false;
        Ok((seq, wake))
    }
}

fn append_to(
    queue: &Bound<'_, FrameQueue>,
    rtype: &str,
    sid_json: Option<&[u8]>,
    n: Option<i64>,
    body: &[u8],
) -> PyResult<u64> {
    let py = queue.py();
    let (seq, wake) = queue.borrow_mut().push(py, rtype, sid_json, n, body)?;
    if wake {
        // after the borrow ends: the callback may look at the queue
        let callback = queue.borrow().wake.clone_ref(py);
        callback.call0(py)?;
    }
    Ok(seq)
}

// The Python objects each class holds are visited for the cycle collector: a recorder's
// queue holds its wake-up method, a session's tap its sink's failure callback.
#[pymethods]
impl FrameQueue {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.wake)?;
        visit.call(&self.failure)?;
        visit.call(&self.clock)
    }

    fn __clear__(&mut self) {
        self.failure = None;
        self.clock = None;
    }

    #[new]
    #[pyo3(signature = (size, *, wake, max_record, max_pending, clock=None))]
    fn new(
        size: u64,
        wake: Py<PyAny>,
        max_record: usize,
        max_pending: usize,
        clock: Option<Py<PyAny>>,
    ) -> Self {
        FrameQueue {
            buf: Vec::with_capacity(1 << 16),
            lens: VecDeque::new(),
            size,
            last_ts: 0,
            last_clock: 0,
            pending_bytes: 0,
            max_record,
            max_pending,
            accepting: false,
            draining: false,
            idle: false,
            failure: None,
            wake,
            clock,
        }
    }

    /// Queue one record; return its seq. Raises RecordingUnavailable (nothing queued).
    #[pyo3(signature = (rtype, sid, n, body))]
    fn append(
        slf: &Bound<'_, Self>,
        rtype: &str,
        sid: Option<&str>,
        n: Option<i64>,
        body: &[u8],
    ) -> PyResult<u64> {
        let sid_json = sid.map(|sid| {
            let mut out = Vec::with_capacity(sid.len() + 2);
            json_str(&mut out, sid);
            out
        });
        append_to(slf, rtype, sid_json.as_deref(), n, body)
    }

    #[getter]
    fn queued(&self) -> usize {
        self.lens.len()
    }

    /// The first `count` queued frames, each followed by "\n"; their number; their
    /// bytes without the newlines (to `release` once written).
    fn take<'py>(&mut self, py: Python<'py>, count: usize) -> (Bound<'py, PyBytes>, usize, usize) {
        let count = count.min(self.lens.len());
        let cut: usize = self.lens.drain(..count).sum();
        let blob = if cut == self.buf.len() {
            let out = PyBytes::new(py, &self.buf);
            self.buf.clear();
            out
        } else {
            let out = PyBytes::new(py, &self.buf[..cut]);
            self.buf.drain(..cut);
            out
        };
        (blob, count, cut - count)
    }

    /// Bytes that were written: they no longer count against the pending limit.
    fn release(&mut self, nbytes: usize) {
        self.pending_bytes = self.pending_bytes.saturating_sub(nbytes);
    }

    /// Drop everything queued (the recorder failed).
    fn clear(&mut self) {
        self.buf.clear();
        self.lens.clear();
        self.pending_bytes = 0;
    }
}

/// One session's hash chain as the event loop sees it: its record counter.
#[pyclass(module = "regogate._native")]
pub struct Chain {
    queue: Py<FrameQueue>,
    #[pyo3(get)]
    sid: String,
    sid_json: Vec<u8>, // the sid as a JSON string, once
    #[pyo3(get)]
    n: i64, // the last record's n (-1: none yet)
    #[pyo3(get)]
    last_seq: i64,
    #[pyo3(get, set)]
    closed: bool,
}

impl Chain {
    fn push(&mut self, py: Python<'_>, rtype: &str, body: &[u8]) -> PyResult<u64> {
        if self.closed {
            return Err(PyRuntimeError::new_err(format!(
                "session {} is closed",
                self.sid
            )));
        }
        let n = self.n + 1;
        let seq = append_to(
            self.queue.bind(py),
            rtype,
            Some(&self.sid_json),
            Some(n),
            body,
        )?;
        self.n = n;
        self.last_seq = seq as i64;
        Ok(seq)
    }
}

#[pymethods]
impl Chain {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.queue)
    }

    #[new]
    fn new(queue: Py<FrameQueue>, sid: String) -> Self {
        let mut sid_json = Vec::with_capacity(sid.len() + 2);
        json_str(&mut sid_json, &sid);
        Chain {
            queue,
            sid,
            sid_json,
            n: -1,
            last_seq: -1,
            closed: false,
        }
    }

    /// Queue one record of this session (body: serialized JSON); return its seq.
    fn append(&mut self, py: Python<'_>, rtype: &str, body: &[u8]) -> PyResult<u64> {
        self.push(py, rtype, body)
    }
}

/// The result summary of one session (`proxy.recording_sink`): per request cycle, up to
/// ReadyForQuery, the command tags, the row count, the first error's SQLSTATE, the
/// elapsed time and a keyed digest (HMAC-SHA256, the result-digest key) of the bytes sent
/// to the client; and its stmt records. Keyed: a plain hash of a one-value result would
/// give the value away to anyone who can guess it (a date of birth, an account number).
#[pyclass(module = "regogate._native")]
pub struct ResultTap {
    chain: Py<Chain>,
    serialize: Py<PyAny>, // (type, mapping) -> bytes (recording.core.prepared's form)
    failed: Option<Py<PyAny>>, // on_error = "continue": called on a failed record
    clock: Option<Py<PyAny>>, // seconds (tests); else a monotonic clock
    epoch: Instant,
    mac: Hmac<Sha256>, // keyed once; reset to the keyed state after each cycle
    sent: u64,
    tags: Vec<u8>, // the JSON array's members so far, comma-separated (never "" once one)
    rows: u128,
    error: Option<String>,
    started: Option<f64>,
    suspended: bool,
    // following the messages across chunks
    hdr: [u8; 5],
    hdr_len: usize,
    remaining: usize,
    tag: u8,
    capture: Option<Vec<u8>>,
    broken: bool,
}

impl ResultTap {
    fn now(&self, py: Python<'_>) -> PyResult<f64> {
        match &self.clock {
            Some(clock) => clock.call0(py)?.extract(py),
            None => Ok(self.epoch.elapsed().as_secs_f64()),
        }
    }

    fn add_tag(&mut self, tag: &str) {
        if !self.tags.is_empty() {
            self.tags.push(b',');
        }
        json_str(&mut self.tags, tag);
    }

    fn cycle_done(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.tags.is_empty() && self.error.is_none() && !self.suspended {
            Mac::reset(&mut self.mac);
            self.reset(); // a cycle with nothing in it: no record
            return Ok(());
        }
        let digest = self.mac.finalize_reset().into_bytes();
        let mut body = Vec::with_capacity(192 + self.tags.len());
        body.extend_from_slice(b"{\"bytes\":");
        push_int(&mut body, self.sent);
        body.extend_from_slice(b",\"digest\":\"");
        for b in digest {
            body.push(HEX[(b >> 4) as usize]);
            body.push(HEX[(b & 15) as usize]);
        }
        body.extend_from_slice(b"\",\"elapsed_us\":");
        match self.started {
            Some(started) => {
                let micros = (self.now(py)? - started) * 1e6;
                push_int(&mut body, micros.trunc() as i128);
            }
            None => body.extend_from_slice(b"null"),
        }
        body.extend_from_slice(b",\"error\":");
        match &self.error {
            Some(code) => json_str(&mut body, code),
            None => body.extend_from_slice(b"null"),
        }
        body.extend_from_slice(b",\"rows\":");
        push_int(&mut body, self.rows.min(MAX_ROWS) as u64);
        if self.rows > MAX_ROWS {
            body.extend_from_slice(b",\"rows_capped\":true");
        }
        if self.suspended {
            body.extend_from_slice(b",\"suspended\":true");
        }
        body.extend_from_slice(b",\"tags\":[");
        body.extend_from_slice(&self.tags);
        body.extend_from_slice(b"]}");
        self.reset();
        match self.chain.bind(py).borrow_mut().push(py, "result", &body) {
            Err(err) if is_unavailable(py, &err) => {
                // with "deny" the gate refuses the statements that follow
                if let Some(failed) = &self.failed {
                    failed.call0(py)?;
                }
                Ok(())
            }
            recorded => recorded.map(|_| ()),
        }
    }

    /// Bytes of the current cycle, in order.
    fn digest(&mut self, part: &[u8]) {
        self.mac.update(part);
        self.sent += part.len() as u64;
    }

    fn reset(&mut self) {
        self.sent = 0;
        self.tags.clear();
        self.rows = 0;
        self.error = None;
        self.started = None;
        self.suspended = false;
    }
}

/// The SQLSTATE of an ErrorResponse body (its `C` field), ASCII-decoded with U+FFFD.
fn sqlstate(body: &[u8]) -> Option<String> {
    body.split(|&b| b == 0)
        .find(|part| part.first() == Some(&b'C'))
        .map(|part| {
            part[1..]
                .iter()
                .map(|&b| if b < 128 { b as char } else { '\u{fffd}' })
                .collect()
        })
}

#[pymethods]
impl ResultTap {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.chain)?;
        visit.call(&self.serialize)?;
        visit.call(&self.failed)?;
        visit.call(&self.clock)
    }

    fn __clear__(&mut self) {
        self.failed = None;
        self.clock = None;
    }

    #[new]
    #[pyo3(signature = (chain, *, key, serialize, failed=None, clock=None))]
    fn new(
        chain: Py<Chain>,
        key: &[u8],
        serialize: Py<PyAny>,
        failed: Option<Py<PyAny>>,
        clock: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
            .map_err(|e| PyValueError::new_err(format!("result digest key: {e}")))?;
        Ok(ResultTap {
            chain,
            serialize,
            failed,
            clock,
            epoch: Instant::now(),
            mac,
            sent: 0,
            tags: Vec::with_capacity(64),
            rows: 0,
            error: None,
            started: None,
            suspended: false,
            hdr: [0; 5],
            hdr_len: 0,
            remaining: 0,
            tag: 0,
            capture: None,
            broken: false,
        })
    }

    /// A record of this session (a stmt starts the cycle's clock). ``body``: bytes
    /// serialized once, a mapping, or None.
    #[pyo3(signature = (kind, body=None))]
    fn event(
        &mut self,
        py: Python<'_>,
        kind: &str,
        body: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        if kind == "stmt" && self.started.is_none() {
            self.started = Some(self.now(py)?);
        }
        if NOT_BY_SESSIONS.contains(&kind) {
            return Err(PyValueError::new_err(format!(
                "{kind} records are written by the recorder itself"
            )));
        }
        let recorded = match body {
            Some(b) if b.is_instance_of::<PyBytes>() && b.len()? > 0 => {
                let bytes = b.cast::<PyBytes>()?;
                self.chain
                    .bind(py)
                    .borrow_mut()
                    .push(py, kind, bytes.as_bytes())
            }
            Some(b) if b.is_truthy()? && !b.is_instance_of::<PyBytes>() => {
                let data = self.serialize.call1(py, (kind, b))?;
                let bytes = data.bind(py).cast::<PyBytes>()?;
                self.chain
                    .bind(py)
                    .borrow_mut()
                    .push(py, kind, bytes.as_bytes())
            }
            _ => self.chain.bind(py).borrow_mut().push(py, kind, b"{}"), // None, {}, b""
        };
        match recorded {
            Ok(_) => Ok(()),
            Err(err) => match &self.failed {
                Some(failed) if is_unavailable(py, &err) => {
                    failed.call0(py)?;
                    Ok(())
                }
                _ => Err(err),
            },
        }
    }

    /// Bytes sent to the client, one call per chunk as sent: hashed, and followed
    /// message by message (headers and bodies may span chunks).
    fn upstream(&mut self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let end = data.len();
        let mut pos = 0;
        // Each cycle's digest covers exactly its own bytes: the chunk is cut after each
        // ReadyForQuery in it (a pipelined client's cycles may arrive in one read).
        let mut cut = 0;
        // A message that raises (a closed chain, a failing callback) skips the rest of
        // the chunk's messages, as the Python reference does; the scan goes on, so the
        // next chunk starts in step.
        let mut failure: Option<PyErr> = None;
        while pos < end && !self.broken {
            if self.remaining > 0 {
                let take = self.remaining.min(end - pos);
                if let Some(capture) = self.capture.as_mut() {
                    capture.extend_from_slice(&data[pos..pos + take]);
                }
                pos += take;
                self.remaining -= take;
                if self.remaining == 0 {
                    if let Some(body) = self.capture.take() {
                        if failure.is_none() {
                            if self.tag == b'Z' {
                                self.digest(&data[cut..pos]);
                                cut = pos;
                            }
                            failure = self.message(py, self.tag, &body).err();
                        }
                    }
                }
                continue;
            }
            let take = (5 - self.hdr_len).min(end - pos);
            self.hdr[self.hdr_len..self.hdr_len + take].copy_from_slice(&data[pos..pos + take]);
            self.hdr_len += take;
            pos += take;
            if self.hdr_len < 5 {
                break;
            }
            self.hdr_len = 0;
            let tag = self.hdr[0];
            let length = u32::from_be_bytes([self.hdr[1], self.hdr[2], self.hdr[3], self.hdr[4]]);
            if length < 4 {
                self.broken = true; // the relay reports the malformed stream
                break;
            }
            let length = length as usize - 4;
            if !INTEREST.contains(&tag) {
                self.remaining = length;
            } else if length <= end - pos {
                if failure.is_none() {
                    if tag == b'Z' {
                        self.digest(&data[cut..pos + length]);
                        cut = pos + length;
                    }
                    failure = self.message(py, tag, &data[pos..pos + length]).err();
                }
                pos += length;
            } else {
                self.tag = tag;
                self.remaining = length;
                self.capture = Some(Vec::with_capacity(length.min(1 << 16)));
            }
        }
        self.digest(&data[cut..]);
        failure.map_or(Ok(()), Err)
    }
}

/// The messages a result summary reads: ReadyForQuery, ErrorResponse, CommandComplete,
/// EmptyQueryResponse, PortalSuspended.
const INTEREST: [u8; 5] = [b'Z', b'E', b'C', b'I', b's'];

impl ResultTap {
    fn message(&mut self, py: Python<'_>, tag: u8, body: &[u8]) -> PyResult<()> {
        match tag {
            b'Z' => self.cycle_done(py)?,
            b'C' => {
                let mut end = body.len();
                while end > 0 && body[end - 1] == 0 {
                    end -= 1;
                }
                let text = &body[..end];
                self.add_tag(&String::from_utf8_lossy(text));
                let last = match text.iter().rposition(|&b| b == b' ') {
                    Some(i) => &text[i + 1..],
                    None => text,
                };
                if !last.is_empty() && last.iter().all(u8::is_ascii_digit) {
                    let count = std::str::from_utf8(last)
                        .ok()
                        .and_then(|s| s.parse::<u128>().ok())
                        .unwrap_or(u128::MAX);
                    self.rows = self.rows.saturating_add(count);
                }
            }
            b'E' if self.error.is_none() => self.error = sqlstate(body),
            b'I' => self.add_tag("EMPTY"),
            b's' => self.suspended = true,
            _ => {}
        }
        Ok(())
    }
}

/// The keyed commitment to a statement's literals (`recording/write/commit.py`): hex
/// HMAC-SHA256 over their RFC 8785 JSON array. For strings RFC 8785 escapes exactly what
/// orjson does (`json_str`). A literal with a lone surrogate (text decoded with
/// surrogateescape) cannot be extracted: the caller falls back to the Python code.
#[pyfunction]
fn commitment(key: &[u8], literals: Vec<String>) -> PyResult<String> {
    let mut array = Vec::with_capacity(2 + literals.iter().map(|l| l.len() + 3).sum::<usize>());
    array.push(b'[');
    for (i, literal) in literals.iter().enumerate() {
        if i > 0 {
            array.push(b',');
        }
        json_str(&mut array, literal);
    }
    array.push(b']');
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .map_err(|e| PyValueError::new_err(format!("commitment key: {e}")))?;
    mac.update(&array);
    let tag = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for b in tag {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 15) as usize] as char);
    }
    Ok(out)
}

/// `policy/sqltext.redact(sql)` as `(text, literals, first)` for text in the plain subset
/// of SQL `redact.rs` reads; `None` for any other text (and for a lone surrogate): the
/// caller runs PostgreSQL's lexer through pglast.
#[pyfunction]
fn redact_plain<'py>(
    py: Python<'py>,
    sql: &Bound<'py, PyString>,
) -> PyResult<Option<(String, Bound<'py, PyTuple>, u64)>> {
    let Ok(sql) = sql.to_str() else {
        return Ok(None);
    };
    match redact::redact(sql) {
        Some((text, literals, first)) => Ok(Some((text, PyTuple::new(py, literals)?, first))),
        None => Ok(None),
    }
}

/// `masking/rows.mask_row` over one compiled plan (`rows.row_masker` builds it): each
/// cell as `(index, kind, keep, constant)`, kind 0 a constant cell, 1 partial keeping
/// `keep` characters, 2 email, 3 hash (HMAC-SHA256 under `key`).
#[pyclass(module = "regogate._native", frozen)]
pub struct RowMasker {
    cells: Vec<rows::Cell>,
    mac: Hmac<Sha256>,
}

#[pymethods]
impl RowMasker {
    #[new]
    fn new(cells: Vec<(usize, u8, usize, Option<Vec<u8>>)>, key: &[u8]) -> PyResult<Self> {
        let mut out = Vec::with_capacity(cells.len());
        let mut last = None;
        for (index, kind, keep, constant) in cells {
            if last.is_some_and(|l| index <= l) {
                return Err(PyValueError::new_err(
                    "row mask cells must be in column order",
                ));
            }
            last = Some(index);
            let action = match (kind, constant) {
                (0, Some(bytes)) => rows::Action::Constant(bytes),
                (1, None) => rows::Action::Partial(keep),
                (2, None) => rows::Action::Email,
                (3, None) => rows::Action::Hash,
                _ => return Err(PyValueError::new_err(format!("row mask kind {kind}"))),
            };
            out.push(rows::Cell { index, action });
        }
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { cells: out, mac })
    }

    fn __len__(&self) -> usize {
        self.cells.len()
    }

    /// The DataRow body with the planned cells masked; ProtocolViolation when its lengths
    /// run past its end.
    fn __call__<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let mut out = Vec::with_capacity(body.len() + 64);
        match rows::mask_row(body, &self.cells, &self.mac, &mut out) {
            Ok(()) => Ok(PyBytes::new(py, &out)),
            Err(rows::Short) => {
                let cls = py.import("regogate.errors")?.getattr("ProtocolViolation")?;
                Err(PyErr::from_value(cls.call1((
                    "the upstream sent a DataRow shorter than its lengths",
                ))?))
            }
        }
    }
}

/// `recording.format.mac.ParamCommitter.commit` with a MAC root (per-value MACs): called
/// with a Bind body, None (nothing to commit), False (more than `max` values: the caller
/// commits them all at once) or `(statement name, {"1": hex, ...})`.
#[pyclass(module = "regogate._native", frozen)]
pub struct BindMacs {
    mac: Hmac<Sha256>,
    max: usize,
}

#[pymethods]
impl BindMacs {
    #[new]
    fn new(key: &[u8], max: usize) -> PyResult<Self> {
        let mac = Hmac::<Sha256>::new_from_slice(key)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Self { mac, max })
    }

    fn __call__<'py>(&self, py: Python<'py>, body: &[u8]) -> PyResult<Bound<'py, PyAny>> {
        match binds::commit(&self.mac, body, self.max) {
            binds::Committed::Nothing => Ok(py.None().into_bound(py)),
            binds::Committed::TooMany => Ok(false.into_pyobject(py)?.to_owned().into_any()),
            binds::Committed::Macs(name, macs) => {
                let dict = PyDict::new(py);
                for (i, mac) in macs.iter().enumerate() {
                    dict.set_item((i + 1).to_string(), binds::hex(mac))?;
                }
                let out = (PyBytes::new(py, &body[name]), dict);
                Ok(out.into_pyobject(py)?.into_any())
            }
        }
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(commitment, m)?)?;
    m.add_function(wrap_pyfunction!(redact_plain, m)?)?;
    m.add_class::<FrameQueue>()?;
    m.add_class::<Chain>()?;
    m.add_class::<ResultTap>()?;
    m.add_class::<RowMasker>()?;
    m.add_class::<BindMacs>()?;
    Ok(())
}
