//! The init's last step: find the command in the container's `PATH` and execve(2) it,
//! or explain why not with Docker's words and exit codes: 127 when the command is not
//! there (`exec: "nosuch": executable file not found in $PATH`), 126 when it cannot be
//! run (`permission denied`), 125 for anything else. With `no_new_privs`, the seccomp
//! filter is installed here, just before execve(2), as runc does.

use std::ffi::CString;
use std::io;

use super::StartFailure;
use super::seccomp::Filter;
use super::sys;

/// Find `cmd` as Go's `exec.LookPath` does (which is what runc uses): a name with a `/`
/// is taken as is, anything else is searched in `path_env`; a candidate must be a
/// non-directory with an execute bit.
pub fn look_path(cmd: &str, path_env: &str) -> Result<String, StartFailure> {
    if cmd.contains('/') {
        return match executable(cmd) {
            Ok(()) => Ok(cmd.to_owned()),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                Err(StartFailure::new(126, format!("exec: {cmd:?}: permission denied")))
            }
            Err(e) => Err(StartFailure::new(127, format!("exec: {cmd:?}: stat {cmd}: {}", errno_text(&e)))),
        };
    }
    for dir in path_env.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = format!("{}/{cmd}", dir.trim_end_matches('/'));
        if executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(StartFailure::new(127, format!("exec: {cmd:?}: executable file not found in $PATH")))
}

/// Go's `findExecutable`: a directory or a file without any execute bit is "permission
/// denied".
fn executable(path: &str) -> io::Result<()> {
    let st = rustix::fs::stat(path)?;
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    if !is_dir && st.st_mode & 0o111 != 0 { Ok(()) } else { Err(io::ErrorKind::PermissionDenied.into()) }
}

/// The exit code Docker gives a failed exec: 127 not found, 126 cannot be run, else 125.
pub fn exit_code_for(err: &io::Error) -> i32 {
    match err.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR) => 127,
        Some(libc::EACCES | libc::EPERM | libc::EISDIR) => 126,
        _ => 125,
    }
}

/// An errno as Go prints it: `no such file or directory`.
pub fn errno_text(err: &io::Error) -> String {
    let text = err.to_string();
    let text = match text.find(" (os error") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Execute `args` with `env`, `args[0]` looked up in `path_env`. Returns only on failure.
/// Signal dispositions are reset and every descriptor above stderr is marked
/// close-on-exec first, so the error pipe closes exactly when the exec succeeds; then
/// `seccomp`, if given, is installed, the last step before execve(2) (so the filter
/// need allow only execve, and the report of a failure).
pub fn exec(args: &[String], env: &[String], path_env: &str, seccomp: Option<&Filter>) -> StartFailure {
    let path = match look_path(&args[0], path_env) {
        Ok(path) => path,
        Err(failure) => return failure,
    };
    let cstrings = |items: &[String]| items.iter().map(|s| CString::new(s.as_str())).collect::<Result<Vec<_>, _>>();
    let (Ok(argv), Ok(envp), Ok(cpath)) = (cstrings(args), cstrings(env), CString::new(path.as_str())) else {
        return StartFailure::new(125, "exec: arguments contain a NUL byte".into());
    };
    sys::reset_signals();
    if let Err(e) = sys::cloexec_from(3).and_then(|()| sys::set_parent_death_signal(0)) {
        return StartFailure::new(125, format!("container init: prepare exec: {}", errno_text(&e)));
    }
    if let Some(Err(e)) = seccomp.map(Filter::install) {
        return StartFailure::new(125, format!("container init: install the seccomp filter: {}", errno_text(&e)));
    }
    let err = sys::execve(&cpath, &argv, &envp);
    StartFailure::new(exit_code_for(&err), format!("exec {path}: {}", errno_text(&err)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn path_search_finds_the_first_executable() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("tool"), b"").unwrap(); // not executable: skipped
        std::fs::write(b.join("tool"), b"").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::create_dir(a.join("dir")).unwrap();
        let path_env = format!("{}:{}", a.display(), b.display());
        assert_eq!(look_path("tool", &path_env).unwrap(), format!("{}/tool", b.display()));
        let missing = look_path("nosuch", &path_env).unwrap_err();
        assert_eq!(missing, StartFailure::new(127, "exec: \"nosuch\": executable file not found in $PATH".into()));
        assert_eq!(look_path("dir", &path_env).unwrap_err().exit_code, 127);
    }

    #[test]
    fn a_path_with_a_slash_is_checked_directly() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("data");
        std::fs::write(&file, b"").unwrap();
        let file = file.to_str().unwrap();
        assert_eq!(look_path(file, "").unwrap_err(), StartFailure::new(126, format!("exec: {file:?}: permission denied")));
        let missing = look_path("/nosuch", "").unwrap_err();
        assert_eq!(missing, StartFailure::new(127, "exec: \"/nosuch\": stat /nosuch: no such file or directory".into()));
    }

    #[test]
    fn exit_codes_follow_docker() {
        assert_eq!(exit_code_for(&io::Error::from_raw_os_error(libc::ENOENT)), 127);
        assert_eq!(exit_code_for(&io::Error::from_raw_os_error(libc::EACCES)), 126);
        assert_eq!(exit_code_for(&io::Error::from_raw_os_error(libc::ENOEXEC)), 125);
        assert_eq!(errno_text(&io::Error::from_raw_os_error(libc::ENOEXEC)), "exec format error");
    }
}
