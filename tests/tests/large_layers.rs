//! Layers of many files through the real overlay2-store driver under a short call
//! deadline. Removing a failed layer's tree is work the host does for the driver
//! (`files.remove-tree`), not the driver's time: a hostile layer of tens of thousands of
//! files is refused with its real cause, and leaves nothing behind.

use std::path::{Path, PathBuf};

use hostctl_tests::daemon::{Options, TestDaemon};
use hostctl_tests::images::Layer;

/// Every path under `dir` (the daemon's state, log and event log aside).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if name == "state.db" || name == "daemon.log" || name == "events" {
                continue;
            }
            if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(entry.path());
            }
            out.push(entry.path());
        }
    }
    out.sort();
    out
}

#[test]
fn a_hostile_layer_of_many_files_is_refused_with_its_cause_and_leaves_nothing() {
    let daemon = TestDaemon::start_with(Options { config: "[plugins]\ncall-timeout-ms = 2000\n".into(), ..Options::default() });
    let mut layer = Layer::new();
    for d in 0..40 {
        layer = layer.dir(&format!("d{d}"));
        for f in 0..1000 {
            layer = layer.file(&format!("d{d}/f{f}"), "");
        }
    }
    // Last, after 40 000 files were written: an entry that would land outside the layer.
    let path = daemon.dir().join("many.tar.gz");
    std::fs::write(&path, layer.verbatim_file("../escape", "x").tar_gz()).unwrap();
    // A driver in use: its own bookkeeping (overlay2's `l/`) exists already.
    let ok = daemon.dir().join("ok.tar");
    std::fs::write(&ok, Layer::new().file("hello", "x").tar()).unwrap();
    daemon.ok(&["import", ok.to_str().unwrap(), "ok:1"]);
    let before = files_under(&daemon.data_root());

    let out = daemon.hostctl(&["import", path.to_str().unwrap(), "many:1"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("plugin \"overlay2-store\"") && err.contains("../escape"), "the cause is named: {err}");
    assert!(!err.contains("deadline") && !err.contains("budget"), "{err}");
    assert_eq!(files_under(&daemon.data_root()), before, "the 40 000 files are gone");
    assert!(!daemon.log().contains("removing a failed layer"), "the clean-up succeeded:\n{}", daemon.log());

    // The daemon serves on: a good layer imports.
    daemon.ok(&["import", ok.to_str().unwrap(), "ok:2"]);
}
