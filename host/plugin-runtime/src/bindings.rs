//! The one place that runs wasmtime's `bindgen!`: the host interfaces once, from the
//! imports-only world `hostctl:host/imports`, then one module per driver world (its
//! exports), with the shared interfaces mapped to [`host`] so every world links against
//! the same host implementations. The rest of the runtime converts between these types
//! and its own; nothing outside this crate names them.

/// `hostctl:types` and every `hostctl:host` interface (log, files, content, kv, net).
pub(crate) mod host {
    wasmtime::component::bindgen!({
        world: "hostctl:host/imports@0.1.0",
        path: ["../../wit/types", "../../wit/host"],
        with: {
            "hostctl:host/content.blob": crate::imports::content::BlobStream,
        },
        imports: {
            // Reading a blob through a broken handle is a host bug or a hostile guest:
            // trap. Everything else answers with an error value.
            "hostctl:host/content": trappable,
            default: tracing,
        },
    });
}

/// One driver world: its exports generated here, the shared interfaces mapped to [`host`].
macro_rules! world {
    ($module:ident, $world:literal, $dir:literal, { $($with:tt)* }) => {
        pub(crate) mod $module {
            wasmtime::component::bindgen!({
                world: $world,
                path: ["../../wit/types", "../../wit/host", $dir],
                with: {
                    "hostctl:types/types@0.1.0": crate::bindings::host::hostctl::types::types,
                    "hostctl:host/log@0.1.0": crate::bindings::host::hostctl::host::log,
                    $($with)*
                },
            });
        }
    };
}

world!(storage, "hostctl:storage/storage-driver@0.1.0", "../../wit/storage", {
    "hostctl:host/files@0.1.0": crate::bindings::host::hostctl::host::files,
    "hostctl:host/content@0.1.0": crate::bindings::host::hostctl::host::content,
});
world!(network, "hostctl:network/network-driver@0.1.0", "../../wit/network", {
    "hostctl:host/kv@0.1.0": crate::bindings::host::hostctl::host::kv,
    "hostctl:host/net@0.1.0": crate::bindings::host::hostctl::host::net,
});
world!(volume, "hostctl:volume/volume-driver@0.1.0", "../../wit/volume", {
    "hostctl:host/kv@0.1.0": crate::bindings::host::hostctl::host::kv,
    "hostctl:host/files@0.1.0": crate::bindings::host::hostctl::host::files,
});
world!(restart, "hostctl:restart/restart-policy@0.1.0", "../../wit/restart", {});

/// The WIT packages and versions this host speaks; a component importing or exporting
/// another version of a `hostctl:` interface is refused at load with a clear message.
pub(crate) const SPOKEN: &[&str] = &[
    "hostctl:types/types@0.1.0",
    "hostctl:host/log@0.1.0",
    "hostctl:host/files@0.1.0",
    "hostctl:host/content@0.1.0",
    "hostctl:host/kv@0.1.0",
    "hostctl:host/net@0.1.0",
    "hostctl:storage/driver@0.1.0",
    "hostctl:network/plan@0.1.0",
    "hostctl:network/driver@0.1.0",
    "hostctl:volume/driver@0.1.0",
    "hostctl:restart/policy@0.1.0",
];
