//! Counting what tests leave in the kernel: mounts under a directory, cgroups under a
//! parent, processes whose command line names a directory. Tests assert these counts go
//! back to zero when they end.

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

/// The mount points of every cgroup hierarchy (v1 controllers and v2), from mountinfo.
pub fn cgroup_mounts() -> Vec<PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("reading /proc/self/mountinfo");
    info.lines()
        .filter(|line| line.split(" - ").nth(1).is_some_and(|rest| rest.starts_with("cgroup ") || rest.starts_with("cgroup2 ")))
        .filter_map(|line| line.split(' ').nth(4))
        .map(|m| PathBuf::from(unescape(m)))
        .collect()
}

/// Cgroups below `parent` (a path relative to each hierarchy's root) in any hierarchy.
pub fn cgroups_under(parent: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for mount in cgroup_mounts() {
        let dir = mount.join(parent.trim_start_matches('/'));
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.push(entry.path());
            }
        }
    }
    out
}

/// Remove `parent` and every cgroup below it in every hierarchy, killing what is left
/// in them first (test clean-up after a failure; these are the test's own cgroups).
pub fn remove_cgroups(parent: &str) {
    for mount in cgroup_mounts() {
        let dir = mount.join(parent.trim_start_matches('/'));
        if !dir.is_dir() {
            continue;
        }
        let mut dirs = vec![dir.clone()];
        let mut stack = vec![dir];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    dirs.push(entry.path());
                    stack.push(entry.path());
                }
            }
        }
        dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        for d in dirs {
            for pid in std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines() {
                let _ = std::process::Command::new("kill").arg("-KILL").arg(pid).status();
            }
            for _ in 0..50 {
                if std::fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }
}

/// Pids of processes whose command line mentions `dir` (shims are started with their
/// bundle path), other than this one.
pub fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).replace('\0', " ").contains(&needle))
                .unwrap_or(false)
        })
        .collect()
}

/// The host namespace's links, by name (`/sys/class/net`).
pub fn links() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Delete host link `name` if it exists (with iproute2).
pub fn delete_link(name: &str) {
    if Path::new("/sys/class/net").join(name).exists() {
        let _ = std::process::Command::new("ip").args(["link", "del", name]).status();
    }
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
