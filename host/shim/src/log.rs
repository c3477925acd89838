//! The container's output in Docker's `json-file` format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-02-29T12:34:56.000000001Z"}`.
//! Each stream is cut into lines (the `log` keeps its `\n`); a line longer than 16 KiB
//! is written in 16 KiB pieces without one, as Docker's copier does (a piece ends before
//! a UTF-8 character it would cut), and what is left when a stream ends is written as
//! is.
//!
//! A partial line is not held back until its newline: once the shim has read all there
//! is in the pipe, [`JsonLog::flush`] writes what the stream's buffer holds as an entry
//! without `\n` (as Docker's json-file has such entries), so a prompt or a progress dot
//! reaches a foreground `run` or `logs -f` at once. Readers concatenate entries, so the
//! text `logs` prints is byte for byte what the container wrote. A flush keeps back the
//! first bytes of a UTF-8 character cut by the end of what was read, for the next read
//! to complete.
//!
//! Bytes that are not UTF-8 are replaced with U+FFFD, as Docker's json-file does (its
//! `log` is a JSON string): such output is kept lossily, one replacement per invalid
//! sequence.

use std::fs::File;
use std::io::{self, Write};

use serde::Serialize;

/// Docker's copier buffer: a partial line is flushed when it reaches this size.
pub const MAX_PARTIAL: usize = 16 * 1024;

/// Which stream a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

#[derive(Serialize)]
struct Entry<'a> {
    log: &'a str,
    stream: &'a str,
    time: &'a str,
}

/// A json-file log being written; buffers the incomplete line of each stream.
#[derive(Debug)]
pub struct JsonLog<W: Write = File> {
    out: W,
    partial: [Vec<u8>; 2],
}

impl<W: Write> JsonLog<W> {
    pub fn new(out: W) -> Self {
        JsonLog { out, partial: [Vec::new(), Vec::new()] }
    }

    /// Add output read from `stream` at `time`; complete lines (and 16 KiB pieces) are
    /// written at once, in one write.
    pub fn feed(&mut self, stream: Stream, bytes: &[u8], time: &str) -> io::Result<()> {
        let mut batch = Vec::new();
        let partial = &mut self.partial[stream as usize];
        let mut rest = bytes;
        while !rest.is_empty() {
            let room = MAX_PARTIAL - partial.len();
            let take = match rest[..rest.len().min(room)].iter().position(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => rest.len().min(room),
            };
            partial.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if partial.ends_with(b"\n") {
                entry(&mut batch, partial, stream, time)?;
                partial.clear();
            } else if partial.len() == MAX_PARTIAL {
                let whole = partial.len() - incomplete_utf8_tail(partial);
                entry(&mut batch, &partial[..whole], stream, time)?;
                partial.drain(..whole);
            }
        }
        self.out.write_all(&batch)
    }

    /// Write what `stream`'s buffer holds as an entry of its own, without a newline (the
    /// pipe has nothing more for now), except the start of a UTF-8 character that the
    /// next read completes.
    pub fn flush(&mut self, stream: Stream, time: &str) -> io::Result<()> {
        let partial = &mut self.partial[stream as usize];
        let whole = partial.len() - incomplete_utf8_tail(partial);
        if whole == 0 {
            return Ok(());
        }
        let mut batch = Vec::new();
        entry(&mut batch, &partial[..whole], stream, time)?;
        partial.drain(..whole);
        self.out.write_all(&batch)
    }

    /// Write what is left of `stream` (it ended).
    pub fn finish(&mut self, stream: Stream, time: &str) -> io::Result<()> {
        let partial = std::mem::take(&mut self.partial[stream as usize]);
        if partial.is_empty() {
            return Ok(());
        }
        let mut batch = Vec::new();
        entry(&mut batch, &partial, stream, time)?;
        self.out.write_all(&batch)
    }

    pub fn get_ref(&self) -> &W {
        &self.out
    }
}

/// How many bytes at the end of `bytes` begin a UTF-8 character they do not finish (0
/// to 3). Bytes that could never be UTF-8 count as whole: they are written, replaced.
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: look further back for its lead
        }
        let needs = match b {
            0xc2..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf4 => 4,
            _ => return 0,
        };
        return if needs > back { back } else { 0 };
    }
    0
}

fn entry(batch: &mut Vec<u8>, bytes: &[u8], stream: Stream, time: &str) -> io::Result<()> {
    let log = String::from_utf8_lossy(bytes);
    serde_json::to_writer(&mut *batch, &Entry { log: &log, stream: stream.name(), time })?;
    batch.push(b'\n');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2024-02-29T12:34:56.000000001Z";

    fn lines(log: &JsonLog<Vec<u8>>) -> Vec<serde_json::Value> {
        log.get_ref().split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect()
    }

    #[test]
    fn lines_keep_their_newline_and_partial_lines_wait() {
        let mut log = JsonLog::new(Vec::new());
        log.feed(Stream::Stdout, b"one\ntw", T).unwrap();
        log.feed(Stream::Stderr, b"err\n", T).unwrap();
        log.feed(Stream::Stdout, b"o\nthree", T).unwrap();
        log.finish(Stream::Stdout, T).unwrap();
        let got: Vec<(String, String)> =
            lines(&log).iter().map(|v| (v["log"].as_str().unwrap().into(), v["stream"].as_str().unwrap().into())).collect();
        let want = [("one\n", "stdout"), ("err\n", "stderr"), ("two\n", "stdout"), ("three", "stdout")];
        assert_eq!(got, want.map(|(l, s)| (l.to_string(), s.to_string())));
    }

    #[test]
    fn the_exact_bytes_of_an_entry_match_dockers() {
        let mut log = JsonLog::new(Vec::new());
        log.feed(Stream::Stdout, b"hi \"there\"\n", T).unwrap();
        assert_eq!(
            String::from_utf8(log.get_ref().clone()).unwrap(),
            format!("{{\"log\":\"hi \\\"there\\\"\\n\",\"stream\":\"stdout\",\"time\":\"{T}\"}}\n")
        );
    }

    #[test]
    fn long_lines_are_cut_at_16_kib() {
        let mut log = JsonLog::new(Vec::new());
        let long = vec![b'x'; MAX_PARTIAL * 2 + 10];
        log.feed(Stream::Stdout, &long, T).unwrap();
        log.feed(Stream::Stdout, b"\n", T).unwrap();
        let sizes: Vec<usize> = lines(&log).iter().map(|v| v["log"].as_str().unwrap().len()).collect();
        assert_eq!(sizes, [MAX_PARTIAL, MAX_PARTIAL, 11]);
    }

    /// What `logs` prints of the entries: their `log`s, concatenated.
    fn text(log: &JsonLog<Vec<u8>>) -> String {
        lines(log).iter().map(|v| v["log"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn a_flush_writes_the_partial_line_as_an_entry_without_newline() {
        let mut log = JsonLog::new(Vec::new());
        log.feed(Stream::Stdout, b"partial", T).unwrap();
        assert!(lines(&log).is_empty(), "a partial line waits for its newline or a flush");
        log.flush(Stream::Stdout, T).unwrap();
        log.flush(Stream::Stdout, T).unwrap();
        assert_eq!(lines(&log).len(), 1, "an empty buffer writes nothing");
        log.feed(Stream::Stdout, b" end\nnext", T).unwrap();
        log.finish(Stream::Stdout, T).unwrap();
        let logs: Vec<String> = lines(&log).iter().map(|v| v["log"].as_str().unwrap().to_owned()).collect();
        assert_eq!(logs, ["partial", " end\n", "next"]);
        assert_eq!(text(&log), "partial end\nnext");
    }

    #[test]
    fn a_flush_keeps_back_a_character_cut_by_the_read() {
        // "é" is c3 a9, "€" is e2 82 ac, "😀" is f0 9f 98 80: each cut after its first bytes.
        for (first, rest) in [(&b"caf\xc3"[..], &b"\xa9\n"[..]), (b"5 \xe2\x82", b"\xac\n"), (b"\xf0\x9f\x98", b"\x80\n")] {
            let mut log = JsonLog::new(Vec::new());
            log.feed(Stream::Stdout, first, T).unwrap();
            log.flush(Stream::Stdout, T).unwrap();
            log.feed(Stream::Stdout, rest, T).unwrap();
            let want = String::from_utf8([first, rest].concat()).unwrap();
            assert_eq!(text(&log), want, "no U+FFFD in {want:?}");
        }
    }

    #[test]
    fn a_16_kib_piece_ends_before_a_character_it_would_cut() {
        let mut log = JsonLog::new(Vec::new());
        let mut long = vec![b'x'; MAX_PARTIAL - 1];
        long.extend_from_slice("é and more\n".as_bytes());
        log.feed(Stream::Stdout, &long, T).unwrap();
        let sizes: Vec<usize> = lines(&log).iter().map(|v| v["log"].as_str().unwrap().len()).collect();
        assert_eq!(sizes, [MAX_PARTIAL - 1, 12]);
        assert_eq!(text(&log).as_bytes(), long.as_slice());
    }

    #[test]
    fn bytes_that_are_never_utf8_are_flushed_replaced() {
        let mut log = JsonLog::new(Vec::new());
        log.feed(Stream::Stdout, b"a\xff", T).unwrap();
        log.flush(Stream::Stdout, T).unwrap();
        assert_eq!(text(&log), "a\u{fffd}");
        assert_eq!(incomplete_utf8_tail(b"\xe2\x82\xac"), 0, "a whole character");
        assert_eq!(incomplete_utf8_tail(b"\x80\x80\x80"), 0, "continuations without a lead");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut log = JsonLog::new(Vec::new());
        log.feed(Stream::Stderr, b"a\xffb\n", T).unwrap();
        assert_eq!(lines(&log)[0]["log"], "a\u{fffd}b\n");
    }
}
