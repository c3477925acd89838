//! The container's init, from fork to exec, as a list of steps. Each step names what it
//! does, so a failure reads `container init: mount proc at /proc: operation not
//! permitted`. The failure goes back to the shim over the error pipe and the child
//! exits; success is the pipe closing at exec (it is close-on-exec).

use std::convert::Infallible;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use super::config::{Config, NamespaceKind};
use super::exec::{self, errno_text};
use super::rootfs::{self, Root};
use super::user::ExecUser;
use super::{StartFailure, Stdio, devices, sys};
use crate::cgroups::JoinHandles;

/// Run `step`, turning its error into a start failure that names it.
fn step<T>(what: impl std::fmt::Display, result: io::Result<T>) -> Result<T, StartFailure> {
    result.map_err(|e| StartFailure::new(125, format!("container init: {what}: {}", errno_text(&e))))
}

/// The child's whole life: set up, exec, or report and exit.
pub(crate) fn run(config: &Config, stdio: Stdio, cgroup: Option<&JoinHandles>, error_pipe: OwnedFd) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| init(config, stdio, cgroup)));
    let failure = match outcome {
        Ok(Err(failure)) => failure,
        Ok(Ok(never)) => match never {},
        Err(_) => StartFailure::new(125, "container init: panicked".into()),
    };
    let _ = rustix::io::write(&error_pipe, failure.encode().as_bytes());
    sys::exit_now(1)
}

fn init(config: &Config, stdio: Stdio, cgroup: Option<&JoinHandles>) -> Result<Infallible, StartFailure> {
    // Die with the shim while setting up (cleared just before exec).
    step("set the parent death signal", sys::set_parent_death_signal(libc::SIGKILL))?;
    if let Some(cgroup) = cgroup {
        step("join the cgroup", cgroup.join_self().map_err(io::Error::from))?;
    }
    step("set up stdio", redirect_stdio(stdio))?;
    rustix::process::umask(rustix::fs::Mode::empty());

    enter_namespaces(config)?;
    step("make / rprivate", sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None))?;
    if config.namespaces.iter().any(|n| n.kind == NamespaceKind::Network && n.path.is_none()) {
        step("bring lo up", sys::loopback_up())?;
    }
    // Through the host's /proc, before the container's is mounted (it may be read-only):
    // sysctl files resolve to the writer's namespaces, /proc/self to the writer.
    for (key, value) in &config.sysctls {
        let file = format!("/proc/sys/{}", key.replace('.', "/"));
        step(format_args!("sysctl {key}={value}"), std::fs::write(file, value))?;
    }
    if let Some(adj) = config.process.oom_score_adj {
        match std::fs::write("/proc/self/oom_score_adj", adj.to_string()) {
            // Lowering it needs CAP_SYS_RESOURCE, which the host may lack: keep the shim's.
            Err(e) if e.raw_os_error() == Some(libc::EACCES) => {}
            other => step(format_args!("set oom_score_adj {adj}"), other)?,
        }
    }

    let rootfs = config.rootfs.display();
    step(format!("bind the rootfs {rootfs} onto itself"), rootfs::bind_onto_itself(&config.rootfs))?;
    let root = step(format!("open the rootfs {rootfs}"), Root::open(&config.rootfs))?;
    for mount in &config.mounts {
        step(mount, mount.mount_in(&root))?;
    }
    for device in &config.devices {
        step(format_args!("mknod /{}", device.path), device.create_in(&root))?;
    }
    step("create the /dev links", devices::create_links(&root))?;
    step("pivot_root into the rootfs", rootfs::pivot_root(root))?;

    let root = step("open the new /", Root::open(Path::new("/")))?;
    for path in &config.masked_paths {
        step(format_args!("mask {path}"), rootfs::mask_path(&root, path))?;
    }
    for path in &config.readonly_paths {
        step(format_args!("make {path} read-only"), rootfs::readonly_path(&root, path))?;
    }
    if config.readonly_rootfs {
        step("remount / read-only", rootfs::remount_readonly(root.fd()))?;
    }
    if let Some(hostname) = &config.hostname {
        step(format_args!("sethostname {hostname:?}"), rustix::system::sethostname(hostname.as_bytes()).map_err(io::Error::from))?;
    }

    let process = &config.process;
    for limit in &process.rlimits {
        step(format_args!("setrlimit {}", limit.name), set_rlimit(limit))?;
    }
    let cwd = process.cwd.as_str();
    step(format_args!("create the working directory {cwd}"), root.make_dir(cwd))?;
    step(format_args!("chdir {cwd}"), rustix::process::chdir(cwd).map_err(io::Error::from))?;
    drop(root);

    let user = resolve_user(config)?;
    // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: install it now,
    // while the init still has it (runc's order); the init's last calls pass through it.
    // With no_new_privs it is installed just before execve, by `exec`.
    let (early, late) = match &config.seccomp {
        Some(filter) if process.no_new_privileges => (None, Some(filter)),
        other => (other.as_ref(), None),
    };
    if let Some(filter) = early {
        step("install the seccomp filter", filter.install())?;
    }
    let available = sys::bounding_set();
    let caps = process.capabilities.within(available);
    step("drop capabilities from the bounding set", caps.apply_bounding(available))?;
    step("switch user", switch_user(&user))?;
    step("set capabilities", caps.apply())?;
    if process.no_new_privileges {
        step("set no_new_privs", rustix::thread::set_no_new_privs(true).map_err(io::Error::from))?;
    }
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(process.umask));

    let mut env = process.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    Err(exec::exec(&process.args, &env, process.path_env(), late))
}

/// stdin, stdout and stderr onto 0, 1 and 2 (dup2 clears close-on-exec on the copies).
fn redirect_stdio(stdio: Stdio) -> io::Result<()> {
    rustix::stdio::dup2_stdin(&stdio.stdin)?;
    rustix::stdio::dup2_stdout(&stdio.stdout)?;
    rustix::stdio::dup2_stderr(&stdio.stderr)?;
    Ok(())
}

/// setns(2) into joined namespaces, then one unshare(2) for the new ones.
fn enter_namespaces(config: &Config) -> Result<(), StartFailure> {
    let mut new = 0;
    for ns in &config.namespaces {
        match &ns.path {
            Some(path) => {
                let what = format!("join the {} namespace {}", ns.kind.name(), path.display());
                let fd = step(&what, std::fs::File::open(path))?;
                step(&what, sys::setns(std::os::fd::AsFd::as_fd(&fd), ns.kind.clone_flag()))?;
            }
            None => new |= ns.kind.clone_flag(),
        }
    }
    let names: Vec<&str> = config.namespaces.iter().filter(|n| n.path.is_none()).map(|n| n.kind.name()).collect();
    step(format_args!("unshare {} namespaces", names.join(", ")), sys::unshare(new))
}

/// Clamp to the current hard limit: raising it needs CAP_SYS_RESOURCE, which the host
/// may not have (see DESIGN.md).
fn set_rlimit(limit: &super::config::Rlimit) -> io::Result<()> {
    let current = rustix::process::getrlimit(limit.resource);
    let hard = match current.maximum {
        Some(max) => limit.hard.min(max),
        None => limit.hard,
    };
    let wanted = rustix::process::Rlimit {
        current: (limit.soft != u64::MAX).then_some(limit.soft.min(hard)),
        maximum: (hard != u64::MAX).then_some(hard),
    };
    Ok(rustix::process::setrlimit(limit.resource, wanted)?)
}

/// Read the container's own passwd and group files (after pivot_root) for the user.
fn resolve_user(config: &Config) -> Result<ExecUser, StartFailure> {
    let read = |path: &str| match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StartFailure::new(125, format!("container init: read {path}: {}", errno_text(&e)))),
    };
    let (passwd, group) = (read("/etc/passwd")?, read("/etc/group")?);
    config.process.user.resolve(passwd.as_deref(), group.as_deref()).map_err(|message| StartFailure::new(125, message))
}

/// setgroups, setgid, setuid, keeping the permitted capabilities across the change
/// (PR_SET_KEEPCAPS), as runc does; the effective set is restored by capset after.
fn switch_user(user: &ExecUser) -> io::Result<()> {
    rustix::thread::set_keep_capabilities(true)?;
    let groups: Vec<rustix::fs::Gid> = user.groups.iter().map(|g| rustix::fs::Gid::from_raw(*g)).collect();
    rustix::thread::set_thread_groups(&groups)?;
    rustix::thread::set_thread_gid(rustix::fs::Gid::from_raw(user.gid))?;
    rustix::thread::set_thread_uid(rustix::fs::Uid::from_raw(user.uid))?;
    rustix::thread::set_keep_capabilities(false)?;
    Ok(())
}
