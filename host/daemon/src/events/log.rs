//! The event log: every event the bus numbers is appended, as the JSON line `/events`
//! streams, to `<data-root>/events/events.log`. It lets `/events?since=` replay what
//! happened before its reader came, also before the daemon last started (the `die` of a
//! container that exited while the daemon was down is published before the socket
//! serves), and lets `seq` go on from the last logged event when the daemon starts again.
//!
//! **Bounded** by `[events] log-max-size` over both of its files: when the next line would
//! take `events.log` past half of it, that file becomes `events.log.1` (replacing the one
//! before) and a new one starts. The log so holds at least the last half of the bound's
//! worth of events; an event bigger than half the bound gets a file to itself.
//!
//! **Durability**: each event is one `write(2)` of its whole line, made while the bus
//! holds its lock (lines are in `seq` order), with no fsync: a written line is in the
//! kernel's page cache, so it survives the daemon being killed (SIGKILL, a panic), and
//! the next start numbers on from it. A background task (see [`super::start`]) asks for
//! `fdatasync` once a second while there is something new, so a crash of the machine
//! loses at most about a second: those events are missing from the log, and their
//! numbers are given out again after the reboot. A torn last line (a write the crash cut
//! short) is cut off when the log is opened; a line that does not parse is skipped.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hostctl_api::types::Event;

/// The file events are appended to, in the log's directory.
pub const LOG_FILE: &str = "events.log";
/// The file it becomes when it is full (one is kept).
pub const ROTATED_FILE: &str = "events.log.1";

/// The bound when `[events] log-max-size` is not set.
pub const DEFAULT_MAX_SIZE: &str = "16m";
/// The smallest bound accepted: below it the log would hold a handful of events.
pub const MIN_MAX_SIZE: u64 = 16 << 10;

/// A failure to open the log (writing never fails a publish: it is logged).
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    #[error("event log {path}: {what}: {source}")]
    Io { path: PathBuf, what: &'static str, source: std::io::Error },
}

/// The log's writing end; the bus holds it under its lock.
#[derive(Debug)]
pub struct EventLog {
    dir: PathBuf,
    max_size: u64,
    /// `events.log`, opened for appending; shared with the syncer.
    file: Arc<File>,
    /// Its length, as far as our writes took it.
    size: u64,
    /// The highest `seq` in the log when it was opened (0: none).
    last_seq: u64,
    /// Something was written since the last sync.
    dirty: bool,
    /// The last write failed (logged once, until one succeeds).
    failing: bool,
}

impl EventLog {
    /// Open (or create) the log in `dir`, bounded by `max_size` bytes over both files;
    /// a torn last line is cut off.
    pub fn open(dir: &Path, max_size: u64) -> Result<Self, EventLogError> {
        let io = |what: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| EventLogError::Io { path, what, source }
        };
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(io("creating its directory", dir))?;
        let path = dir.join(LOG_FILE);
        let mut file = open_append(&path).map_err(io("opening", &path))?;
        let size = cut_torn_tail(&mut file).map_err(io("reading its end", &path))?;
        let mut last_seq = last_seq_in(&mut file).map_err(io("reading its end", &path))?;
        if last_seq.is_none() {
            let rotated = dir.join(ROTATED_FILE);
            last_seq = match File::open(&rotated) {
                Ok(mut old) => last_seq_in(&mut old).map_err(io("reading its end", &rotated))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(io("opening", &rotated)(e)),
            };
        }
        Ok(EventLog { dir: dir.to_owned(), max_size, file: Arc::new(file), size, last_seq: last_seq.unwrap_or(0), dirty: false, failing: false })
    }

    /// The highest `seq` logged before this daemon opened the log (0: none).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// Append `event` (rotating first when it would not fit). A failure is logged, and
    /// the event goes unlogged: publishing never fails.
    pub fn append(&mut self, event: &Event) {
        let mut line = serde_json::to_vec(event).expect("events serialize");
        line.push(b'\n');
        let len = line.len() as u64;
        if self.size > 0 && self.size + len > self.max_size / 2 {
            self.rotate();
        }
        match (&*self.file).write_all(&line) {
            Ok(()) => {
                self.size += len;
                self.dirty = true;
                if std::mem::take(&mut self.failing) {
                    tracing::warn!(seq = event.seq, "events: the event log takes events again");
                }
            }
            Err(err) => {
                // A short write would glue the next line onto this one: cut it off.
                let _ = self.file.set_len(self.size);
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::error!(seq = event.seq, "events: writing the event log {}: {err}; events go unlogged until it works again", self.path().display());
                }
            }
        }
    }

    /// The current file when something was written since the last call, to sync
    /// outside the bus's lock.
    pub fn take_dirty(&mut self) -> Option<Arc<File>> {
        std::mem::take(&mut self.dirty).then(|| self.file.clone())
    }

    /// Both files, opened now, for [`Replay`]ing what they hold (call under the bus's
    /// lock, so no rotation comes between the two opens).
    pub fn replay(&self, before: u64) -> Replay {
        let files = [ROTATED_FILE, LOG_FILE].iter().filter_map(|name| File::open(self.dir.join(name)).ok()).collect();
        Replay { files, before }
    }

    fn path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// `events.log` becomes `events.log.1`; a new `events.log` starts. On failure the
    /// current file goes on growing (logged).
    fn rotate(&mut self) {
        let (path, rotated) = (self.path(), self.dir.join(ROTATED_FILE));
        let renewed = std::fs::rename(&path, &rotated).and_then(|()| open_append(&path));
        match renewed {
            Ok(file) => {
                self.file = Arc::new(file);
                self.size = 0;
                tracing::debug!("events: event log rotated");
            }
            Err(err) if !self.failing => tracing::error!("events: rotating the event log {}: {err}", path.display()),
            Err(_) => {}
        }
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().read(true).append(true).create(true).mode(0o600).open(path)
}

/// Cut the file after its last newline (a write a crash cut short); its new length.
fn cut_torn_tail(file: &mut File) -> std::io::Result<u64> {
    let len = file.metadata()?.len();
    let end = match last_newline(file, len)? {
        Some(at) => at + 1,
        None => 0,
    };
    if end != len {
        tracing::warn!(cut = len - end, "events: cutting a torn last line off the event log");
        file.set_len(end)?;
    }
    Ok(end)
}

/// Where the last `\n` before `len` is.
fn last_newline(file: &mut File, len: u64) -> std::io::Result<Option<u64>> {
    let mut end = len;
    let mut chunk = vec![0u8; 64 << 10];
    while end > 0 {
        let start = end.saturating_sub(chunk.len() as u64);
        let part = &mut chunk[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(part)?;
        if let Some(i) = part.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(start + i as u64));
        }
        end = start;
    }
    Ok(None)
}

/// The `seq` of the last line of `file` that parses as an event.
fn last_seq_in(file: &mut File) -> std::io::Result<Option<u64>> {
    let mut end = file.metadata()?.len();
    // Lines from the end, one at a time: the last one parses but for damage.
    while end > 0 {
        let start = match last_newline(file, end.saturating_sub(1))? {
            Some(at) => at + 1,
            None => 0,
        };
        let mut line = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut line)?;
        if let Ok(event) = serde_json::from_slice::<Event>(&line) {
            return Ok(Some(event.seq));
        }
        end = start;
    }
    Ok(None)
}

/// What the log held when a reader subscribed: the events numbered before `before`,
/// oldest first.
#[derive(Debug, Default)]
pub struct Replay {
    files: Vec<File>,
    before: u64,
}

impl Replay {
    /// The first `seq` not in the replay (the reader's first live one).
    pub fn before(&self) -> u64 {
        self.before
    }

    /// Hand each logged event numbered before [`Replay::before`] to `each`, oldest first,
    /// until it returns false. Lines that do not parse are skipped (a log damaged by a
    /// crash), so are numbers already handed (never twice, whatever the files hold).
    pub fn for_each(self, mut each: impl FnMut(Event) -> bool) {
        let mut last = 0;
        for file in self.files {
            for line in BufReader::new(file).split(b'\n') {
                let Ok(line) = line else { break };
                let Ok(event) = serde_json::from_slice::<Event>(&line) else { continue };
                if event.seq >= self.before {
                    return;
                }
                if event.seq <= last {
                    continue;
                }
                last = event.seq;
                if !each(event) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hostctl_api::types::Actor;

    fn event(seq: u64) -> Event {
        Event {
            kind: "volume".into(),
            action: "create".into(),
            actor: Actor { id: format!("v{seq}"), attributes: [("driver".to_owned(), "local".to_owned())].into() },
            scope: "local".into(),
            time: 1_700_000_000,
            time_nano: 1_700_000_000_000_000_000 + seq as i64,
            seq,
            status: None,
            id: None,
            from: None,
        }
    }

    fn replayed(log: &EventLog, before: u64) -> Vec<u64> {
        let mut seqs = Vec::new();
        log.replay(before).for_each(|e| {
            seqs.push(e.seq);
            true
        });
        seqs
    }

    /// A log in `dir` that the events numbered `seqs` were appended to, then closed.
    fn written(dir: &Path, seqs: impl IntoIterator<Item = u64>) {
        let mut log = EventLog::open(dir, 1 << 20).unwrap();
        for seq in seqs {
            log.append(&event(seq));
        }
    }

    fn sizes(dir: &Path) -> u64 {
        [LOG_FILE, ROTATED_FILE].iter().filter_map(|f| std::fs::metadata(dir.join(f)).ok()).map(|m| m.len()).sum()
    }

    #[test]
    fn a_reopened_log_knows_its_last_seq_and_replays_in_order() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(EventLog::open(dir.path(), 1 << 20).unwrap().last_seq(), 0);
        written(dir.path(), 1..=5);
        let log = EventLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.last_seq(), 5);
        assert_eq!(replayed(&log, 4), [1, 2, 3]);
        assert_eq!(replayed(&log, 100), [1, 2, 3, 4, 5]);
    }

    #[test]
    fn the_log_stays_under_its_bound_and_keeps_the_newest_events() {
        let dir = tempfile::tempdir().unwrap();
        let max = MIN_MAX_SIZE;
        let mut log = EventLog::open(dir.path(), max).unwrap();
        for seq in 1..=2000 {
            log.append(&event(seq));
            assert!(sizes(dir.path()) <= max, "after event {seq}: {} bytes", sizes(dir.path()));
        }
        let kept = replayed(&log, u64::MAX);
        assert_eq!(kept.last(), Some(&2000));
        assert!(kept.windows(2).all(|w| w[1] == w[0] + 1), "no hole in what is kept");
        let line = serde_json::to_vec(&event(2000)).unwrap().len() as u64 + 1;
        assert!(kept.len() as u64 >= (max / 2) / line, "at least half the bound's worth is kept: {}", kept.len());
        drop(log);
        assert_eq!(EventLog::open(dir.path(), max).unwrap().last_seq(), 2000);
    }

    #[test]
    fn the_last_seq_is_found_in_the_rotated_file_when_the_current_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), [7]);
        std::fs::rename(dir.path().join(LOG_FILE), dir.path().join(ROTATED_FILE)).unwrap();
        assert_eq!(EventLog::open(dir.path(), 1 << 20).unwrap().last_seq(), 7);
    }

    #[test]
    fn a_torn_last_line_is_cut_off_and_damaged_lines_skipped() {
        let dir = tempfile::tempdir().unwrap();
        written(dir.path(), [1]);
        let path = dir.path().join(LOG_FILE);
        let mut text = std::fs::read(&path).unwrap();
        text.extend_from_slice(b"not json\n");
        text.extend_from_slice(&serde_json::to_vec(&event(2)).unwrap());
        text.push(b'\n');
        text.extend_from_slice(br#"{"Type":"vol"#);
        std::fs::write(&path, text).unwrap();
        let mut log = EventLog::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(log.last_seq(), 2);
        log.append(&event(3));
        assert_eq!(replayed(&log, u64::MAX), [1, 2, 3]);
    }

    #[test]
    fn a_replay_opened_before_a_rotation_still_reads_what_it_covered() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = EventLog::open(dir.path(), MIN_MAX_SIZE).unwrap();
        for seq in 1..=10 {
            log.append(&event(seq));
        }
        let replay = log.replay(11);
        for seq in 11..=200 {
            log.append(&event(seq));
        }
        let mut seqs = Vec::new();
        replay.for_each(|e| {
            seqs.push(e.seq);
            true
        });
        assert_eq!(seqs, (1..=10).collect::<Vec<_>>());
    }
}
