//! The daemon's pidfile: one daemon per pidfile, held by an exclusive `flock(2)` on the
//! open file for as long as the daemon runs (the kernel drops the lock when the process
//! dies, so a pidfile a crash left behind is taken over, not refused).
//!
//! The daemon that holds the lock removes the file before the lock goes: when it stops,
//! and when its start-up fails after taking it. A daemon refused the lock never touches
//! the file, which belongs to the daemon that holds it. Because a file can be removed
//! while another process has it open and is waiting to lock it, taking the lock checks
//! that the path still names the file locked, and tries again if it does not; the same
//! check keeps a holder from removing a file that was replaced under it.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rustix::fs::FlockOperation;

/// How many times the lock is tried when the file keeps being replaced under it.
const ATTEMPTS: usize = 8;

/// A locked pidfile holding this process's pid; removed when dropped.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    file: File,
}

impl Pidfile {
    /// Take `path`'s lock and write our pid; refused while another daemon holds it.
    pub fn lock(path: &Path) -> anyhow::Result<Pidfile> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        for _ in 0..ATTEMPTS {
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .with_context(|| format!("opening the pidfile {}", path.display()))?;
            if rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
                let pid = std::fs::read_to_string(path).unwrap_or_default();
                bail!("another hostctl daemon (pid {}) holds the pidfile {}", pid.trim(), path.display());
            }
            if !names(path, &file) {
                // Removed (or replaced) by its last holder between our open and our lock.
                continue;
            }
            let mut pidfile = Pidfile { path: path.to_owned(), file };
            pidfile.file.set_len(0).with_context(|| format!("writing the pidfile {}", path.display()))?;
            writeln!(pidfile.file, "{}", std::process::id()).with_context(|| format!("writing the pidfile {}", path.display()))?;
            return Ok(pidfile);
        }
        bail!("the pidfile {} kept being replaced while it was being locked", path.display())
    }

}

/// Whether `path` names the open `file` (the same inode on the same device).
fn names(path: &Path, file: &File) -> bool {
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(on_disk), Ok(open)) => (on_disk.dev(), on_disk.ino()) == (open.dev(), open.ino()),
        _ => false,
    }
}

impl Drop for Pidfile {
    /// Remove the file while still holding its lock (the lock goes with the handle, after).
    fn drop(&mut self) {
        if names(&self.path, &self.file)
            && let Err(err) = std::fs::remove_file(&self.path)
        {
            tracing::warn!(pidfile = %self.path.display(), "removing the pidfile: {err}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_holder_writes_its_pid_and_removes_the_file_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/h.pid");
        let held = Pidfile::lock(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        drop(held);
        assert!(!path.exists());
    }

    #[test]
    fn a_refused_daemon_leaves_the_holder_s_file_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.pid");
        let held = Pidfile::lock(&path).unwrap();
        // flock locks belong to the open file, so a second open in this process is refused
        // as another daemon's would be.
        let err = Pidfile::lock(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("another hostctl daemon (pid {}) holds the pidfile", std::process::id())), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        drop(held);
        assert!(!path.exists());
    }

    #[test]
    fn a_file_left_by_a_dead_daemon_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.pid");
        std::fs::write(&path, "999999999\n").unwrap();
        let held = Pidfile::lock(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), format!("{}\n", std::process::id()));
        drop(held);
    }

    #[test]
    fn a_holder_does_not_remove_a_file_that_replaced_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.pid");
        let held = Pidfile::lock(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let other = Pidfile::lock(&path).unwrap();
        drop(held);
        assert!(path.exists(), "the newer holder's file stays");
        drop(other);
        assert!(!path.exists());
    }
}
