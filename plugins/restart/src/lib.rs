//! The bundled **restart** plugin (restart policies: no, always, unless-stopped, on-failure[:N]).
//!
//! Only the crate exists so far: its WIT world and its implementation come with the
//! issue that makes network, volume and restart plugins real. It exports no component,
//! has no `plugin.toml`, and is neither built by `scripts/build-plugins` nor installed
//! by `scripts/install-plugins`, so nothing can load it or mistake it for working.
