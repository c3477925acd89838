//! The only place that runs `wit_bindgen::generate!`: the host interfaces once, from the
//! imports-only world `hostctl:host/imports`, then one module per driver world holding
//! that world's exports, with the shared interfaces mapped to [`host`]. Everything else
//! in the SDK (and every plugin) uses the re-exports in the public modules.
//!
//! A plugin links only the world modules it uses (through its export macro), so its
//! component exports exactly its world; unused host interfaces are never imported.

/// `hostctl:types` and every `hostctl:host` interface.
pub mod host {
    wit_bindgen::generate!({
        world: "hostctl:host/imports@0.1.0",
        path: ["../wit/types", "../wit/host"],
        runtime_path: "hostctl_sdk::__private::wit_bindgen::rt",
        generate_all,
    });
}

/// One driver world: its exports generated here, the shared interfaces it imports
/// mapped to [`host`].
macro_rules! world {
    ($module:ident, $world:literal, $dir:literal, $macro:literal, $bindings:literal, { $($with:tt)* }) => {
        pub mod $module {
            wit_bindgen::generate!({
                world: $world,
                path: ["../wit/types", "../wit/host", $dir],
                pub_export_macro: true,
                export_macro_name: $macro,
                default_bindings_module: $bindings,
                runtime_path: "hostctl_sdk::__private::wit_bindgen::rt",
                with: {
                    "hostctl:types/types@0.1.0": crate::bindings::host::hostctl::types::types,
                    "hostctl:host/log@0.1.0": crate::bindings::host::hostctl::host::log,
                    $($with)*
                },
            });
        }
    };
}

world!(storage, "hostctl:storage/storage-driver@0.1.0", "../wit/storage", "export_storage_world", "hostctl_sdk::bindings::storage", {
    "hostctl:host/files@0.1.0": crate::bindings::host::hostctl::host::files,
    "hostctl:host/content@0.1.0": crate::bindings::host::hostctl::host::content,
});
world!(network, "hostctl:network/network-driver@0.1.0", "../wit/network", "export_network_world", "hostctl_sdk::bindings::network", {
    "hostctl:host/kv@0.1.0": crate::bindings::host::hostctl::host::kv,
    "hostctl:host/net@0.1.0": crate::bindings::host::hostctl::host::net,
    "hostctl:network/plan@0.1.0": generate,
});
world!(volume, "hostctl:volume/volume-driver@0.1.0", "../wit/volume", "export_volume_world", "hostctl_sdk::bindings::volume", {
    "hostctl:host/kv@0.1.0": crate::bindings::host::hostctl::host::kv,
    "hostctl:host/files@0.1.0": crate::bindings::host::hostctl::host::files,
});
world!(restart, "hostctl:restart/restart-policy@0.1.0", "../wit/restart", "export_restart_world", "hostctl_sdk::bindings::restart", {});
