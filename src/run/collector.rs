//! Reading a container's stdout: bounded lines from untrusted output, turned into
//! protocol events on a channel.

use std::io::Read;
use std::sync::mpsc::{self, Receiver};

use crate::protocol::MAX_LINE;

/// Lines beyond this many from one container are drained but not forwarded.
const MAX_LINES: usize = 10_000;
/// Bytes of the container's stderr we keep for start-failure messages.
const MAX_STDERR: usize = 64 * 1024;

/// What the reader thread hands over.
#[derive(Debug)]
pub enum Incoming {
    Line(String),
    /// A line longer than [`MAX_LINE`]; its start, for the report.
    Overlong(String),
}

/// Spawns a thread that splits `source` into bounded lines. The channel closes at EOF.
pub fn read_lines(mut source: impl Read + Send + 'static) -> Receiver<Incoming> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        let mut line: Vec<u8> = Vec::new();
        let mut overlong = false;
        let mut sent = 0usize;
        let mut emit = |line: &mut Vec<u8>, overlong: bool| {
            if sent < MAX_LINES {
                let mut text = String::from_utf8_lossy(line).into_owned();
                // Invalid bytes become U+FFFD (three bytes each): cut back to the bound.
                if text.len() > MAX_LINE {
                    let mut cut = MAX_LINE;
                    while !text.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    text.truncate(cut);
                }
                let msg = if overlong {
                    Incoming::Overlong(text)
                } else {
                    Incoming::Line(text)
                };
                let _ = tx.send(msg);
                sent += 1;
            }
            line.clear();
        };
        loop {
            let n = match source.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &b in &chunk[..n] {
                if b == b'\n' {
                    emit(&mut line, overlong);
                    overlong = false;
                } else if line.len() < MAX_LINE {
                    line.push(b);
                } else {
                    overlong = true;
                }
            }
        }
        if !line.is_empty() {
            emit(&mut line, overlong);
        }
    });
    rx
}

/// The first [`MAX_STDERR`] bytes of a stream, collected by a thread that drains the
/// rest so the writer never blocks.
pub struct Captured {
    text: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// Closed by the thread when the stream ends.
    ended: Receiver<()>,
}

impl Captured {
    /// What was collected, once the stream ended or `patience` ran out (a process
    /// the harness could not end may keep the pipe open).
    pub fn finish(self, patience: std::time::Duration) -> String {
        // Returns at once when the thread is gone (the sender dropped), else waits.
        let _ = self.ended.recv_timeout(patience);
        let bytes = self.text.lock().expect("capture lock");
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Collects up to [`MAX_STDERR`] bytes of `source` in a thread.
pub fn read_bounded(mut source: impl Read + Send + 'static) -> Captured {
    let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (ended_tx, ended) = mpsc::channel::<()>();
    let captured = Captured {
        text: std::sync::Arc::clone(&text),
        ended,
    };
    std::thread::spawn(move || {
        let _ended = ended_tx;
        let mut chunk = [0u8; 4096];
        loop {
            match source.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let mut text = text.lock().expect("capture lock");
                    let room = MAX_STDERR.saturating_sub(text.len());
                    text.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    });
    captured
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn splits_and_bounds_lines() {
        let mut input = b"one\ntwo\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        input.extend(b"\nthree");
        let rx = read_lines(std::io::Cursor::new(input));
        let got: Vec<Incoming> = rx.iter().collect();
        assert_eq!(got.len(), 4);
        assert!(matches!(&got[0], Incoming::Line(l) if l == "one"));
        assert!(matches!(&got[2], Incoming::Overlong(l) if l.len() == MAX_LINE));
        assert!(matches!(&got[3], Incoming::Line(l) if l == "three"));
    }

    #[test]
    fn captures_a_bounded_start_and_waits_only_as_long_as_asked() {
        let input = vec![b'e'; MAX_STDERR + 100];
        let got = read_bounded(std::io::Cursor::new(input)).finish(Duration::from_secs(5));
        assert_eq!(got.len(), MAX_STDERR);
        // A stream that never ends: finish gives up after its patience.
        let (reader, _writer) = std::io::pipe().unwrap();
        let started = std::time::Instant::now();
        let got = read_bounded(reader).finish(Duration::from_millis(50));
        assert!(got.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
