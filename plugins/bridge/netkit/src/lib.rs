//! # hostctl-netkit
//!
//! What hostctl's bundled network drivers (`bridge`, `macvlan`) share, so each driver
//! crate holds only what makes it that driver. Everything here is plain Rust over two
//! traits, so it runs natively under `cargo test`; inside a component the traits are the
//! SDK's host imports.
//!
//! - [`ipv4`]: IPv4 subnets in CIDR form: parsing (canonical form only, as Docker),
//!   containment, overlap, first/broadcast addresses.
//! - [`ipam`]: Docker's default local IPAM: a network's subnet, gateway and ip-range from
//!   the request, a free /16 chosen when none is given (avoiding host routes, host link
//!   addresses and the driver's other networks), endpoint addresses lowest first.
//! - [`store`]: the drivers' state in their kv store: one key per network, per endpoint
//!   (the address is in the key) and per endpoint's published ports.
//! - [`endpoint`]: `create-endpoint` and `delete-endpoint`, identical for both drivers.
//! - [`names`]: id checks, `<prefix><8 hex>` link names, IFNAMSIZ, `eth0`.
//! - [`options`]: `-o key=value` options taken under their Docker aliases; unknown ones
//!   refused.
//! - [`plan`]: the steps that configure an endpoint inside the sandbox, and [`plan::describe`]
//!   (a step as one line of text).
//! - [`host`]: the [`host::Kv`] and [`host::HostNet`] traits, the real host ([`host::Sdk`])
//!   and a fake for tests ([`host::FakeHost`]).
//!
//! Calls must not race: each is a fresh instance reading and writing kv without
//! transactions, so two concurrent `create-endpoint`s on one network could hand out one
//! address twice. The caller (the daemon) serializes the calls it makes to one network
//! driver, as libnetwork's controller does per network.

pub mod endpoint;
pub mod host;
pub mod ipam;
pub mod ipv4;
pub mod names;
pub mod options;
pub mod plan;
pub mod store;
