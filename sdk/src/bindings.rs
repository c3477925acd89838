//! The only place that runs `wit_bindgen::generate!`: one module per world. Everything
//! else in the SDK (and every plugin) uses the re-exports in `storage`, `files` and `log`.

/// The `hostctl:storage/storage-driver` world, with the host interfaces it imports.
pub mod storage {
    wit_bindgen::generate!({
        world: "hostctl:storage/storage-driver@0.1.0",
        path: ["../wit/types", "../wit/host", "../wit/storage"],
        pub_export_macro: true,
        export_macro_name: "export_storage_world",
        default_bindings_module: "hostctl_sdk::bindings::storage",
        runtime_path: "hostctl_sdk::__private::wit_bindgen::rt",
        generate_all,
    });
}
