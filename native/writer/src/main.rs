//! regogate-writer: the recording writer's steady state, in native code.
//!
//! `python -m regogate.recording.write.worker` opens the recording directory (the flock, the
//! scan, torn-tail recovery, the check against the last checkpoint), answers the
//! gateway's init request, then execs this program with the log's state on an inherited
//! pipe (`--state-fd N`: JSON with the signing key, the compact tree, the segment). From
//! there on this program speaks the same line protocol on stdin/stdout as
//! `regogate.recording.write.core.LogCore` behind the Python worker, and writes the same bytes
//! (docs/recording-format.md §3-§7; tests/recording/test_native_writer.py compares them).
//!
//!     gateway -> writer   [count, seal, rotate_skey | null]  then `count` frame lines
//!     writer -> gateway   [tree size, checkpoint note | null] | {"error": message}
//!
//! A frame is `[seq, ts_micros, type, sid, n, body]` (compact JSON from the gateway).
//! End of input means the gateway is gone: what is committed stays, nothing more is
//! sealed, a half-received batch is dropped. SIGINT and SIGTERM stay ignored (the
//! worker ignored them before exec); SIGPIPE and SIGXFSZ too, so a full disk is an error
//! reply, not a silent death.

mod canonical;
mod fast;
mod log;
mod note;
mod tree;

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::io::FromRawFd;
use std::process::ExitCode;

use serde_json::Value;

use crate::log::{Log, State};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let fd = match args.as_slice() {
        [_, flag, fd] if flag == "--state-fd" => fd.parse::<i32>().ok(),
        _ => None,
    };
    let Some(fd) = fd else {
        eprintln!("regogate recording writer: usage: regogate-writer --state-fd N (started by python -m regogate.recording.write.worker)");
        return ExitCode::from(2);
    };
    match run(fd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Reply(message)) => {
            let _ = reply(&serde_json::json!({ "error": message }));
            ExitCode::from(1)
        }
        Err(Failure::Request(message)) => {
            eprintln!("regogate recording writer: bad request: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Gone) => ExitCode::SUCCESS,
    }
}

enum Failure {
    /// The log could not be written or a frame was refused: tell the gateway (fail closed).
    Reply(String),
    /// Not the protocol: one line on stderr.
    Request(String),
    /// The gateway went away (end of input, a closed pipe).
    Gone,
}

fn reply(value: &Value) -> io::Result<()> {
    let mut out = io::stdout().lock();
    let mut line = serde_json::to_vec(value).map_err(io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)?;
    out.flush()
}

fn run(state_fd: i32) -> Result<(), Failure> {
    // SAFETY: the worker passes the read end of a pipe it created for us and nobody else.
    let mut file = unsafe { File::from_raw_fd(state_fd) };
    let mut raw = Vec::new();
    file.read_to_end(&mut raw)
        .map_err(|e| Failure::Request(format!("reading the state: {e}")))?;
    drop(file);
    let state: State = State::parse(&raw).map_err(Failure::Request)?;
    let mut log = Log::open(state).map_err(Failure::Reply)?;

    let mut input = BufReader::with_capacity(1 << 16, io::stdin().lock());
    let mut header = Vec::new();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    loop {
        header.clear();
        if input
            .read_until(b'\n', &mut header)
            .map_err(|_| Failure::Gone)?
            == 0
        {
            return Ok(()); // end of input: the gateway is gone or done
        }
        let (count, seal, rotate) = parse_header(&header).map_err(Failure::Request)?;
        frames.clear();
        for _ in 0..count {
            let mut frame = Vec::new();
            let got = input
                .read_until(b'\n', &mut frame)
                .map_err(|_| Failure::Gone)?;
            if got == 0 || frame.pop() != Some(b'\n') {
                return Err(Failure::Gone); // died mid-batch: keep what is committed
            }
            frames.push(frame);
        }
        let note = log
            .commit(&frames, seal, rotate.as_deref())
            .map_err(Failure::Reply)?;
        let answer = serde_json::json!([log.size(), note]);
        if reply(&answer).is_err() {
            return Err(Failure::Gone);
        }
    }
}

fn parse_header(line: &[u8]) -> Result<(usize, bool, Option<String>), String> {
    let value: Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let Value::Array(items) = value else {
        return Err("a batch header is [count, seal, rotate]".into());
    };
    match items.as_slice() {
        [Value::Number(count), seal, rotate] => {
            let count = count
                .as_u64()
                .ok_or("count is not a non-negative integer")? as usize;
            let seal = match seal {
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_i64() != Some(0),
                Value::Null => false,
                _ => return Err("seal is not a boolean".into()),
            };
            let rotate = match rotate {
                Value::Null => None,
                Value::String(s) => Some(s.clone()),
                _ => return Err("rotate is not a signer key or null".into()),
            };
            Ok((count, seal, rotate))
        }
        _ => Err("a batch header is [count, seal, rotate]".into()),
    }
}
