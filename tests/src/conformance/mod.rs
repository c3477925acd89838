//! Conformance suites, one per plugin kind: the same cases run against any plugin of the
//! kind, as containerd's snapshotter suite does. Bundled plugins pass them; third parties
//! run them against their own.

pub mod network;
pub mod storage;
