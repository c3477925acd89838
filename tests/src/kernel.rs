//! Counting what tests leave in the kernel: mounts under a directory. Tests assert these
//! counts go back to zero (or to what they were) when they end.

use std::path::{Path, PathBuf};

/// Mount points at or below `dir`, from /proc/self/mountinfo.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|escaped| PathBuf::from(unescape(escaped)))
        .filter(|mount| mount.starts_with(dir))
        .collect()
}

/// Lazily unmount everything at or below `dir`, deepest first (test clean-up after a
/// failure; a passing test has nothing to unmount).
pub fn unmount_all_under(dir: &Path) {
    let mut mounts = mounts_under(dir);
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for mount in mounts {
        let _ = rustix_unmount(&mount);
    }
}

fn rustix_unmount(path: &Path) -> std::io::Result<()> {
    let status = std::process::Command::new("umount").arg("-l").arg(path).status()?;
    if status.success() { Ok(()) } else { Err(std::io::Error::other("umount failed")) }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(byte) = u8::from_str_radix(&code, 8) {
                out.push(byte as char);
                continue;
            }
            out.push('\\');
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    #[test]
    fn root_is_a_mount() {
        assert!(!mounts_under(Path::new("/")).is_empty());
    }
}
