//! The thin syscall layer of container start: one small function per kernel call the
//! init makes that `rustix` does not already wrap safely, each `unsafe` block with its
//! reason. Everything here is async-signal-safe unless it says otherwise (it may run in
//! the child between fork and exec).

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// mount(2).
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let ptr = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either null (allowed for source, fstype and data) or a
    // NUL-terminated string that outlives the call.
    check(unsafe { libc::mount(ptr(source), target.as_ptr(), ptr(fstype), flags, ptr(data).cast()) })
}

/// umount2(2) with `MNT_DETACH`.
pub fn unmount_detach(target: &CStr) -> io::Result<()> {
    // SAFETY: `target` is a NUL-terminated string that outlives the call.
    check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })
}

/// unshare(2) of the `CLONE_NEW*` namespaces in `flags`.
pub fn unshare(flags: libc::c_int) -> io::Result<()> {
    // SAFETY: unshare(2) takes no pointers. The process is single-threaded (a forked
    // child, or a shim checked by `ensure_single_threaded`), so no other thread observes
    // the change of namespaces.
    check(unsafe { libc::unshare(flags) })
}

/// setns(2) into the namespace of kind `flag` open at `fd`.
pub fn setns(fd: BorrowedFd<'_>, flag: libc::c_int) -> io::Result<()> {
    // SAFETY: `fd` is an open descriptor for the duration of the call.
    check(unsafe { libc::setns(fd.as_raw_fd(), flag) })
}

/// prctl(PR_CAPBSET_DROP).
pub fn drop_bounding_capability(cap: u32) -> io::Result<()> {
    // SAFETY: PR_CAPBSET_DROP takes an integer argument only.
    check(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) })
}

/// The current bounding set, as a mask (prctl(PR_CAPBSET_READ) for every capability the
/// kernel knows, up to the first it refuses with `EINVAL`).
pub fn bounding_set() -> u64 {
    let mut mask = 0u64;
    for cap in 0..64u32 {
        // SAFETY: PR_CAPBSET_READ takes an integer argument only.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) } {
            1 => mask |= 1 << cap,
            0 => {}
            _ => break,
        }
    }
    mask
}

/// prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE).
pub fn raise_ambient_capability(cap: u32) -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT takes integer arguments only.
    check(unsafe {
        libc::prctl(libc::PR_CAP_AMBIENT, libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong, cap as libc::c_ulong, 0, 0)
    })
}

/// Bring the loopback interface of the current network namespace up (what a new
/// namespace needs before anything listens on 127.0.0.1): SIOCGIFFLAGS, set IFF_UP,
/// SIOCSIFFLAGS on a throwaway datagram socket.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `ifreq` is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid, writable ifreq for both ioctls; the flags union member
    // is the one SIOCGIFFLAGS fills and SIOCSIFFLAGS reads.
    let result = unsafe {
        if libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            if libc::ioctl(sock, libc::SIOCSIFFLAGS, &req) < 0 { Err(io::Error::last_os_error()) } else { Ok(()) }
        }
    };
    // SAFETY: `sock` is the descriptor opened above and not used again.
    unsafe { libc::close(sock) };
    result
}

/// Restore every signal's default disposition and unblock all signals: the shim runs
/// with SIGPIPE ignored (Rust's runtime does that), and an ignored signal stays ignored
/// across execve(2).
pub fn reset_signals() {
    for sig in 1..libc::SIGRTMAX() {
        if sig != libc::SIGKILL && sig != libc::SIGSTOP {
            // SAFETY: SIG_DFL is a valid disposition for every catchable signal;
            // failures (for signals the C library reserves) are harmless and ignored.
            unsafe { libc::signal(sig, libc::SIG_DFL) };
        }
    }
    // SAFETY: `empty` is a valid, initialised sigset for the duration of the call.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
    }
}

/// Mark every descriptor from `first` up close-on-exec (close_range(2)), so nothing the
/// shim had open reaches the container's process.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range(2) takes integers only and, with CLOSE_RANGE_CLOEXEC, closes
    // nothing: no descriptor owned by Rust code is invalidated.
    let ret = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// execve(2); returns only on failure.
pub fn execve(path: &CStr, argv: &[CString], envp: &[CString]) -> io::Error {
    let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    args.push(std::ptr::null());
    let mut env: Vec<*const libc::c_char> = envp.iter().map(|e| e.as_ptr()).collect();
    env.push(std::ptr::null());
    // SAFETY: `path` and every element are NUL-terminated strings that outlive the call;
    // both arrays end with a null pointer as execve(2) requires.
    unsafe { libc::execve(path.as_ptr(), args.as_ptr(), env.as_ptr()) };
    io::Error::last_os_error()
}

/// seccomp(2) `SECCOMP_SET_MODE_FILTER`: install `program` (classic BPF) on the calling
/// thread with `flags` (`SECCOMP_FILTER_FLAG_*`). One system call, no allocation.
pub fn seccomp_set_mode_filter(program: &[super::seccomp::Instruction], flags: u32) -> io::Result<()> {
    let len = u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?;
    let fprog = libc::sock_fprog { len, filter: program.as_ptr().cast::<libc::sock_filter>().cast_mut() };
    // SAFETY: `Instruction` is `#[repr(C)]` with the fields of `struct sock_filter` in
    // its order, so `program` is an array of `len` sock_filters; the kernel copies it
    // during the call and never writes through the pointer. `fprog` outlives the call.
    let ret = unsafe {
        libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, libc::c_ulong::from(flags), &fprog as *const libc::sock_fprog)
    };
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}

/// fork(2). `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// # Safety
/// The calling process must be single-threaded (see [`ensure_single_threaded`]): then
/// the child may allocate and take locks freely, as every lock was free at the fork.
pub unsafe fn fork() -> io::Result<Option<libc::pid_t>> {
    // SAFETY: the caller guarantees the process has one thread.
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        pid => Ok(Some(pid)),
    }
}

/// Fail unless this process has exactly one thread (`/proc/self/task`).
pub fn ensure_single_threaded() -> io::Result<()> {
    let threads = std::fs::read_dir("/proc/self/task")?.count();
    if threads == 1 {
        Ok(())
    } else {
        Err(io::Error::other(format!("the process has {threads} threads; starting a container needs exactly one")))
    }
}

/// _exit(2): end the child without running the parent's exit handlers or flushing
/// buffers it inherited.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit(2) never returns and touches no Rust state.
    unsafe { libc::_exit(code) }
}

/// prctl(PR_SET_PDEATHSIG): `signal` when the parent dies (0 to clear).
pub fn set_parent_death_signal(signal: i32) -> io::Result<()> {
    // SAFETY: PR_SET_PDEATHSIG takes an integer argument only.
    check(unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, signal as libc::c_ulong, 0, 0, 0) })
}

/// `/proc/self/fd/N` of an open descriptor.
pub fn proc_fd(fd: &impl AsFd) -> CString {
    crate::confined::proc_fd_path(fd)
}

/// Close every descriptor from 3 up except `keep` (close_range(2)). For a freshly
/// forked daemon-like process whose only descriptor of its own is `keep`.
pub fn close_all_but(keep: std::os::fd::RawFd) -> io::Result<()> {
    let keep = keep as u32;
    let close = |first: u32, last: u32| {
        if first > last {
            return Ok(());
        }
        // SAFETY: close_range(2) takes integers only. The caller owns no descriptor in
        // these ranges (it has just forked and keeps only `keep`), so no Rust value is
        // left holding a closed descriptor.
        let ret = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0) };
        if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
    };
    close(3, keep.saturating_sub(1))?;
    close(keep + 1, u32::MAX)
}

/// pidfd_send_signal(2): `signal` to the process of `pidfd`, with no pid-reuse race.
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, signal: i32) -> io::Result<()> {
    // SAFETY: the info pointer may be null; `pidfd` is open for the duration of the call.
    let ret = unsafe {
        libc::syscall(libc::SYS_pidfd_send_signal, pidfd.as_raw_fd(), signal, std::ptr::null::<libc::siginfo_t>(), 0)
    };
    if ret == -1 { Err(io::Error::last_os_error()) } else { Ok(()) }
}
