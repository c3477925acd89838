//! Plugins for tests: the bundled ones as `scripts/install-plugins` installs them (the
//! tests use the real install path), and the sandbox probe.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_owned()
}

/// Where `scripts/build-plugins` puts the components.
pub fn wasm_dir() -> PathBuf {
    repo_root().join("target/wasm32-wasip2/release")
}

/// Install every bundled plugin into `dest` with `scripts/install-plugins`.
pub fn install_bundled(dest: &Path) {
    let out = Command::new(repo_root().join("scripts/install-plugins"))
        .arg(dest)
        .output()
        .expect("running scripts/install-plugins");
    assert!(
        out.status.success(),
        "scripts/install-plugins failed (run scripts/build-plugins first): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The installed directory of bundled plugin `name` under `dest`.
pub fn bundled_dir(dest: &Path, name: &str) -> PathBuf {
    dest.join(name)
}

/// Install the sandbox probe (a storage-world component that misbehaves on request, see
/// `tests/probe`) into `dest/probe`: its `tests/probe/plugin.toml` pinned to the built
/// wasm, extended by `manifest_extra` (e.g. a `[limits]` table).
pub fn install_probe(dest: &Path, manifest_extra: &str) -> PathBuf {
    let wasm_path = wasm_dir().join("hostctl_probe.wasm");
    let wasm = std::fs::read(&wasm_path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins first", wasm_path.display()));
    let manifest = std::fs::read_to_string(repo_root().join("tests/probe/plugin.toml")).expect("reading tests/probe/plugin.toml");
    let dir = dest.join("probe");
    std::fs::create_dir_all(&dir).expect("creating the probe's plugin dir");
    std::fs::write(dir.join("probe.wasm"), &wasm).expect("writing probe.wasm");
    let pin = format!("sha256 = \"{}\"\n", hex::encode(Sha256::digest(&wasm)));
    std::fs::write(dir.join("plugin.toml"), format!("{pin}{manifest}\n{manifest_extra}")).expect("writing the probe's manifest");
    dir
}
