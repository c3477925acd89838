//! The syscall probe of the seccomp tests: `syscall_probe.c`, a tiny C program built at
//! test time with `cc -static` (gcc and glibc's `libc.a` are on the build machines), so
//! it runs in a busybox container with no libraries. Bound read-only into a container
//! (`-v DIR:/probe:ro`), `/probe/syscall-probe add_key unshare-user` prints one line per
//! call, `add_key EPERM` or `unshare-user ok`: what the kernel, and so the container's
//! seccomp filter, answered. busybox alone cannot say it (it has no keyctl, and reports
//! errors in words).

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the probe is inside a container that binds [`build`]'s directory at it.
pub const IN_CONTAINER: &str = "/probe/syscall-probe";

/// Build the probe into `dir/syscall-probe` (making `dir`); `-v` for the container.
pub fn build(dir: &Path) -> String {
    std::fs::create_dir_all(dir).expect("creating the probe's dir");
    let source = crate::plugins::repo_root().join("tests/src/syscall_probe.c");
    let binary: PathBuf = dir.join("syscall-probe");
    let out = Command::new("cc")
        .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(&binary)
        .arg(&source)
        .output()
        .expect("running cc (gcc and libc6-dev are in scripts/deps)");
    assert!(out.status.success(), "cc -static {} failed:\n{}", source.display(), String::from_utf8_lossy(&out.stderr));
    format!("{}:/probe:ro", dir.display())
}

/// `NAME RESULT` lines as a list of pairs, in order.
pub fn results(output: &str) -> Vec<(String, String)> {
    output.lines().filter_map(|l| l.split_once(' ')).map(|(name, result)| (name.to_owned(), result.to_owned())).collect()
}
