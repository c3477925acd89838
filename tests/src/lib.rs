//! Shared support for hostctl's end-to-end tests (the tests themselves are the files in
//! `tests/tests/`), and the conformance suites plugin authors run against their drivers.
//!
//! - [`images`]: real image archives built from Debian's `busybox-static`: layer tars with
//!   whiteouts, `docker save` archives (legacy and Docker ≥ 25 layouts), OCI image layouts,
//!   multi-layer images, and hostile archives a correct loader must refuse.
//! - [`daemon`]: a real `hostctl daemon` per test (own data root, socket, plugins), driven
//!   through the real CLI, checked for leaked mounts when it stops.
//! - [`plugins`]: installing the bundled plugins (through `scripts/install-plugins`) and
//!   the sandbox probe.
//! - [`bundle`]: a container bundle in the daemon's shape (busybox rootfs, Docker's
//!   default spec) run by the real `hostctl shim start`, and its shim's socket.
//! - [`kernel`]: counting the mounts, cgroups and processes a test leaves behind.
//! - [`watch`]: a running `hostctl events` read line by line, and waiting for the
//!   daemon's log.
//! - [`nats`]: a real `nats-server` per test on a free loopback port, and blocking
//!   subscriptions to read what the daemon publishes there.
//! - [`conformance`]: the storage-driver conformance suite.
//! - [`syscall_probe`]: a static C probe, bound into containers, that prints the errno
//!   of the system calls a seccomp filter should allow or deny.

pub mod bundle;
pub mod conformance;
pub mod daemon;
pub mod images;
pub mod kernel;
pub mod nats;
pub mod plugins;
pub mod syscall_probe;
pub mod watch;
