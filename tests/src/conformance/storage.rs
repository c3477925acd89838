//! The storage-driver conformance suite: the cases every `hostctl:storage/driver`
//! component must pass, run against the real plugin runtime and the real kernel, as
//! containerd's snapshotter suite runs against any snapshotter.
//!
//! A third party checks a driver with one line in a test file (run as root):
//!
//! ```ignore
//! hostctl_tests::storage_conformance!("/path/to/my-driver");       // plugin.toml + .wasm
//! hostctl_tests::storage_conformance!(hostctl_tests::conformance::storage::Bundled("overlay2-store"));
//! ```
//!
//! Each case gets a [`Fixture`]: a fresh temp dir holding the precompiled-code cache, the
//! storage roots and a sentinel directory outside the driver's root, with the plugin
//! loaded through [`hostctl_plugin_runtime::Loader`] and mounting through the real kernel.
//! The cases look only at what the contract promises (the WIT, `wit/storage/storage.wit`):
//! answers, error kinds, the merged view at [`hostctl_plugin_runtime::MountedLayer`]'s
//! `rootfs`, mounts in `/proc/self/mountinfo`, and what is left under the driver's root.
//! They never name a driver's own layout.
//!
//! - [`layers`]: applying plain, gzip, `./`-named and empty layers; DiffIDs and sizes.
//! - [`views`]: merged views of a three-layer stack with whiteouts and an opaque
//!   directory; writable layers; unmount and remove leaving no mounts.
//! - [`metadata`]: modes, owners, symlinks, hardlinks, devices and mtimes in the view.
//! - [`hostile`]: layers that try to leave their directory are refused and leave nothing.
//! - [`contract`]: ids, parents, error kinds, idempotent remove, an empty root at the end.

pub mod contract;
pub mod fixture;
pub mod hostile;
pub mod layers;
pub mod metadata;
pub mod views;

pub use contract::*;
pub use fixture::{Blob, Bundled, Fixture, PluginDir, Snapshot};
pub use hostile::*;
pub use layers::*;
pub use metadata::*;
pub use views::*;

/// One `#[test]` per conformance case for the storage plugin `$plugin` (anything that is
/// a [`PluginDir`]: a path to an installed plugin directory, or [`Bundled`]). Invoke it
/// once per test file, or inside a `mod` per driver.
#[macro_export]
macro_rules! storage_conformance {
    ($plugin:expr $(,)?) => {
        $crate::storage_conformance!(@cases $plugin;
            plain_and_gzip_layers_have_the_same_diff_id,
            dot_slash_names_apply_like_bare_names,
            empty_layer_applies,
            applied_layer_is_visible_when_mounted,
            whiteout_hides_the_lower_file,
            opaque_directory_hides_the_lower_contents,
            upper_layers_add_and_replace_files,
            container_writes_stay_in_the_writable_layer,
            container_writes_survive_a_remount,
            unmount_and_remove_leave_no_mounts,
            special_modes_survive,
            owners_survive,
            symlinks_keep_their_targets,
            hardlinks_share_an_inode,
            char_devices_survive,
            mtimes_survive,
            hostile_dotdot_entry_leaves_nothing,
            hostile_absolute_entry_leaves_nothing,
            hostile_absolute_symlink_leaves_nothing,
            hostile_relative_symlink_leaves_nothing,
            hostile_symlink_to_the_driver_root_leaves_nothing,
            hostile_hardlink_leaves_nothing,
            hostile_hardlink_to_a_host_file_leaves_it_alone,
            mismatched_blob_fails_and_leaves_nothing,
            driver_names_itself,
            exists_follows_apply_and_remove,
            remove_is_idempotent,
            removing_an_unknown_layer_succeeds,
            missing_parent_is_not_found,
            existing_id_is_already_exists,
            refused_duplicate_leaves_the_original_intact,
            malformed_ids_are_refused,
            unknown_layers_are_not_found,
            metadata_paths_stay_in_the_root,
            removing_every_layer_empties_the_root,
        );
    };
    (@cases $plugin:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let fixture = $crate::conformance::storage::Fixture::new(&$plugin);
                $crate::conformance::storage::$case(&fixture);
            }
        )*
    };
}
