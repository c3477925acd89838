//! The one place that runs wasmtime's `bindgen!`: one module per world. The rest of the
//! runtime converts between these generated types and its own (see `storage` and
//! `imports`); nothing outside this crate names them.

/// `hostctl:storage/storage-driver@0.1.0`.
pub(crate) mod storage {
    wasmtime::component::bindgen!({
        world: "hostctl:storage/storage-driver@0.1.0",
        path: ["../../wit/types", "../../wit/host", "../../wit/storage"],
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

/// The WIT packages and versions this host speaks; a component importing or exporting
/// another version of a `hostctl:` interface is refused at load with a clear message.
pub(crate) const SPOKEN: &[&str] = &[
    "hostctl:types/types@0.1.0",
    "hostctl:host/log@0.1.0",
    "hostctl:host/files@0.1.0",
    "hostctl:host/content@0.1.0",
    "hostctl:storage/driver@0.1.0",
];
