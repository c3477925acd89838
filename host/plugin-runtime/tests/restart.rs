//! The bundled restart component through the real runtime: loaded as a `restart` kind,
//! validating Docker's policy strings and deciding with Docker's back-off.

use std::path::Path;
use std::sync::Arc;

use hostctl_kernel::mount::Recorder;
use hostctl_plugin_runtime::restart::{Exit, Occasion};
use hostctl_plugin_runtime::{Defaults, Loader, Plugin, RestartPlugin};
use sha2::{Digest, Sha256};

fn restart_plugin(tmp: &Path) -> Arc<RestartPlugin> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let wasm = std::fs::read(repo.join("target/wasm32-wasip2/release/restart.wasm")).expect("run scripts/build-plugins first");
    let dir = tmp.join("restart");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("restart.wasm"), &wasm).unwrap();
    let manifest = std::fs::read_to_string(repo.join("plugins/restart/plugin.toml")).unwrap();
    std::fs::write(dir.join("plugin.toml"), format!("sha256 = \"{}\"\n{manifest}", hex::encode(Sha256::digest(&wasm)))).unwrap();
    let loader = Loader::new(&tmp.join("cache"), &tmp.join("storage"), Arc::new(Recorder::default()), Defaults::default()).unwrap();
    match loader.load(&dir).unwrap().0 {
        Plugin::Restart(p) => p,
        other => panic!("restart loaded as {other:?}"),
    }
}

fn exited(code: i32, count: u32, previous_delay_ms: u64) -> Exit {
    Exit { occasion: Occasion::Exited, exit_code: code, restart_count: count, ran_for_ms: 5, previous_delay_ms, stopped_by_user_before: false }
}

#[test]
fn the_bundled_policies_validate_and_decide_like_dockers() {
    let tmp = tempfile::tempdir().unwrap();
    let p = restart_plugin(tmp.path());
    p.validate("on-failure:3").unwrap();
    let err = p.validate("always:3").unwrap_err().to_string();
    assert!(err.contains("plugin \"restart\"") && err.contains("only with on-failure"), "{err}");
    let first = p.decide("on-failure:3", &exited(1, 0, 0)).unwrap();
    assert!(first.restart);
    assert_eq!(first.delay_ms, 100);
    assert_eq!(p.decide("on-failure:3", &exited(1, 1, 100)).unwrap().delay_ms, 200);
    assert!(!p.decide("on-failure:3", &exited(1, 3, 400)).unwrap().restart);
    assert!(!p.decide("always", &Exit { occasion: Occasion::StoppedByUser, ..exited(143, 0, 0) }).unwrap().restart);
}
