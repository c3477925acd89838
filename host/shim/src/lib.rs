//! # hostctl-shim
//!
//! The process that parents one container, as containerd-shim or conmon do: it starts
//! the container from an OCI bundle, holds its stdio and writes its log, reaps it,
//! records how it ended, and answers the daemon on a Unix socket. The daemon can be
//! killed and restarted without the container noticing.
//!
//! - [`bundle`]: the files of a container's bundle directory.
//! - [`protocol`]: the start handshake and the control protocol.
pub mod bundle;
pub mod protocol;
