//! The `bpf(2)` commands a device program needs: `BPF_PROG_LOAD`, `BPF_PROG_ATTACH` /
//! `BPF_PROG_DETACH` on a cgroup directory (`BPF_CGROUP_DEVICE`), `BPF_PROG_QUERY` (the
//! programs attached to a cgroup) and `BPF_PROG_GET_FD_BY_ID`. Each command takes its
//! own part of `union bpf_attr` (linux/bpf.h); the structs below are those parts, laid
//! out as the kernel reads them, and the kernel zero-fills what is past their size.

use std::ffi::c_void;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::Insn;

/// Why a `bpf(2)` command failed.
#[derive(Debug, thiserror::Error)]
pub enum BpfError {
    #[error("bpf({command}): this kernel has no bpf(2) (CONFIG_BPF_SYSCALL is off)")]
    NoBpf { command: &'static str },
    #[error("bpf({command}): {source}{}", verifier.as_deref().map(|v| format!("; the verifier said: {v}")).unwrap_or_default())]
    Failed {
        command: &'static str,
        #[source]
        source: std::io::Error,
        verifier: Option<String>,
    },
}

const BPF_PROG_LOAD: i32 = 5;
const BPF_PROG_ATTACH: i32 = 8;
const BPF_PROG_DETACH: i32 = 9;
const BPF_PROG_GET_FD_BY_ID: i32 = 13;
const BPF_PROG_QUERY: i32 = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 1 << 1;

/// `union bpf_attr` for `BPF_PROG_LOAD` (up to `expected_attach_type`).
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// `union bpf_attr` for `BPF_PROG_ATTACH` / `BPF_PROG_DETACH`.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// `union bpf_attr` for `BPF_PROG_QUERY`.
#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
    prog_attach_flags: u64,
}

/// `union bpf_attr` for `BPF_PROG_GET_FD_BY_ID`.
#[repr(C)]
#[derive(Default)]
struct GetFdById {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// `bpf(command, attr, sizeof attr)`: the (non-negative) result or the errno.
fn bpf<T>(command: i32, name: &'static str, attr: &mut T) -> Result<i64, BpfError> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct laid out as the
    // kernel's `union bpf_attr` part for `command`, and its size is passed with it. Any
    // pointers it holds (instructions, license, log, id buffer) point to memory the
    // caller keeps alive across this call.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, command, attr as *mut T as *mut c_void, size_of::<T>()) };
    if ret >= 0 {
        return Ok(ret);
    }
    let source = std::io::Error::last_os_error();
    if source.raw_os_error() == Some(libc::ENOSYS) {
        return Err(BpfError::NoBpf { command: name });
    }
    Err(BpfError::Failed { command: name, source, verifier: None })
}

fn owned_fd(fd: i64) -> OwnedFd {
    // SAFETY: the kernel just returned `fd` as a new descriptor this process owns and
    // nothing else holds.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Load a `BPF_PROG_TYPE_CGROUP_DEVICE` program named `name` (at most 15 bytes of
/// `[A-Za-z0-9_.]`). A program the verifier refuses is loaded again with its log on, so
/// the error carries the verifier's words.
pub fn load_device_program(program: &[Insn], name: &str) -> Result<OwnedFd, BpfError> {
    let bytes: Vec<[u8; 8]> = program.iter().map(|i| i.encode()).collect();
    let license = c"Apache-2.0";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: bytes.len() as u32,
        insns: bytes.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..ProgLoad::default()
    };
    for (to, from) in attr.prog_name.iter_mut().zip(name.bytes().take(15)) {
        *to = from;
    }
    match bpf(BPF_PROG_LOAD, "BPF_PROG_LOAD", &mut attr) {
        Ok(fd) => Ok(owned_fd(fd)),
        Err(BpfError::Failed { command, source, .. }) if matches!(source.raw_os_error(), Some(libc::EINVAL | libc::EACCES)) => {
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, "BPF_PROG_LOAD", &mut attr).map(owned_fd);
            let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)]).trim().to_owned();
            Err(BpfError::Failed { command, source, verifier: Some(text).filter(|t| !t.is_empty()) })
        }
        Err(other) => Err(other),
    }
}

/// Attach `program` to the cgroup open as `cgroup` (`BPF_F_ALLOW_MULTI`).
pub fn attach_device_program(cgroup: impl AsFd, program: impl AsFd) -> Result<(), BpfError> {
    let mut attr = ProgAttach {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: program.as_fd().as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..ProgAttach::default()
    };
    bpf(BPF_PROG_ATTACH, "BPF_PROG_ATTACH", &mut attr).map(drop)
}

/// Detach `program` from the cgroup open as `cgroup`.
pub fn detach_device_program(cgroup: impl AsFd, program: impl AsFd) -> Result<(), BpfError> {
    let mut attr = ProgAttach {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_bpf_fd: program.as_fd().as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..ProgAttach::default()
    };
    bpf(BPF_PROG_DETACH, "BPF_PROG_DETACH", &mut attr).map(drop)
}

/// The ids of the device programs attached to the cgroup open as `cgroup` itself (not
/// those its ancestors run).
pub fn attached_device_programs(cgroup: impl AsFd) -> Result<Vec<u32>, BpfError> {
    // A cgroup holds at most 64 programs per attach type.
    let mut ids = vec![0u32; 64];
    let mut attr = ProgQuery {
        target_fd: cgroup.as_fd().as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..ProgQuery::default()
    };
    bpf(BPF_PROG_QUERY, "BPF_PROG_QUERY", &mut attr)?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// A descriptor of the loaded program with id `id`, or `None` once it is freed.
pub fn device_program_by_id(id: u32) -> Result<Option<OwnedFd>, BpfError> {
    let mut attr = GetFdById { prog_id: id, ..GetFdById::default() };
    match bpf(BPF_PROG_GET_FD_BY_ID, "BPF_PROG_GET_FD_BY_ID", &mut attr) {
        Ok(fd) => Ok(Some(owned_fd(fd))),
        Err(BpfError::Failed { source, .. }) if source.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attr_parts_have_the_kernels_sizes() {
        // offsetof(union bpf_attr, expected_attach_type) is 68; query's prog_cnt is at 24.
        assert_eq!(size_of::<ProgLoad>(), 72);
        assert_eq!(std::mem::offset_of!(ProgLoad, prog_name), 48);
        assert_eq!(size_of::<ProgAttach>(), 20);
        assert_eq!(std::mem::offset_of!(ProgQuery, prog_ids), 16);
        assert_eq!(std::mem::offset_of!(ProgQuery, prog_cnt), 24);
        assert_eq!(size_of::<GetFdById>(), 12);
    }
}
