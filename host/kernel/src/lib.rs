//! # hostctl-kernel
//!
//! Everything in hostctl that asks the Linux kernel for something goes through this crate,
//! one thin module per kernel concept, so the rest of the host can be read (and unit
//! tested with recording fakes) without syscalls in the way. No wasmtime here, and no tokio
//! runtime policy: netlink runs on the caller's runtime.
//!
//! - [`cgroups`]: control groups: finds the v1 hierarchies and the unified (v2) mount
//!   in `/proc/self/mountinfo`, creates a container's cgroup in the version asked for,
//!   applies memory, CPU, cpuset and pids limits and device rules (v1 files, or a BPF
//!   device program on v2), joins processes, reads OOM kills and removes it again.
//! - [`confined`]: a directory handle that privileged file operations (lchown, chmod,
//!   mknod, overlay whiteouts, xattrs, symlinks) cannot escape: every path is resolved with
//!   `openat2(RESOLVE_BENEATH)`, so `..`, absolute paths and symlinks leading out fail.
//!   The plugin runtime's `files` capability imports are built on it.
//! - [`container`]: running a container's process from an OCI runtime spec: the spec
//!   checked and translated ([`container::Config`]), then a fork into new namespaces and
//!   the init sequence (mounts resolved inside the rootfs, devices, pivot_root, masked
//!   and read-only paths, user, capabilities, no_new_privs, rlimits, exec), reporting
//!   failures with Docker's exit codes over a close-on-exec pipe.
//! - [`mount`]: overlay and bind mounts of directories inside a [`confined::ConfinedDir`],
//!   behind the [`mount::Mounter`] trait (the real kernel, or a [`mount::Recorder`] in
//!   unit tests). Paths are resolved beneath the root first and handed to mount(2) as
//!   `/proc/self/fd/N`, so what was checked is exactly what gets mounted.
//!
//! - [`netlink`]: links (bridges, veth pairs, macvlans), IPv4 addresses and routes over
//!   rtnetlink, in the caller's network namespace or one given by path; async on the
//!   caller's tokio runtime, with a blocking wrapper for `spawn_blocking` threads.
//! - [`netns`]: persistent network namespaces (a container's sandbox), bind-mounted at a
//!   path as `ip netns add` does, with `lo` up.

pub mod cgroups;
pub mod confined;
pub mod container;
pub mod mount;
pub mod netlink;
pub mod netns;
