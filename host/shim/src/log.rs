//! The container's output in Docker's `json-file` format: one JSON object per line,
//! `{"log":"hello\n","stream":"stdout","time":"2024-02-29T12:34:56.000000001Z"}`.
//! Each stream is cut into lines (the `log` keeps its `\n`); a line longer than 16 KiB
//! is written in 16 KiB pieces without one, as Docker's copier does, and what is left
//! when a stream ends is written as is. Bytes that are not UTF-8 become U+FFFD.

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
            if partial.ends_with(b"\n") || partial.len() == MAX_PARTIAL {
                entry(&mut batch, partial, stream, time)?;
                partial.clear();
            }
        }
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

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        let mut log = JsonLog::new(Vec::new());
        log.feed(Stream::Stderr, b"a\xffb\n", T).unwrap();
        assert_eq!(lines(&log)[0]["log"], "a\u{fffd}b\n");
    }
}
