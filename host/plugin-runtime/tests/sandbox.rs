//! The sandbox against a real component: the probe (`tests/probe`), built for
//! wasm32-wasip2 by `scripts/build-plugins`. Each misbehaviour fails one call with an
//! error naming the plugin, and the next call on the same plugin succeeds.

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hostctl_kernel::mount::Recorder;
use hostctl_plugin_runtime::cache::Origin;
use hostctl_plugin_runtime::{BlobSource, Defaults, ErrorKind, LoadError, Loader, MemoryKv, PluginError, StoragePlugin};
use sha2::{Digest, Sha256};

fn wasm_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/wasm32-wasip2/release")
}

fn probe_wasm() -> Vec<u8> {
    let path = wasm_dir().join("hostctl_probe.wasm");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run scripts/build-plugins first", path.display()))
}

/// A plugin dir for the probe with `manifest_extra` appended to its manifest.
fn install_probe(root: &Path, wasm: &[u8], pin: Option<&str>, manifest_extra: &str) -> PathBuf {
    let dir = root.join("plugins/probe");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("probe.wasm"), wasm).unwrap();
    let sha = pin.map(str::to_owned).unwrap_or_else(|| hex::encode(Sha256::digest(wasm)));
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/probe/plugin.toml")).unwrap();
    std::fs::write(dir.join("plugin.toml"), format!("sha256 = \"{sha}\"\n{manifest}\n{manifest_extra}")).unwrap();
    dir
}

struct Fixture {
    _tmp: tempfile::TempDir,
    loader: Loader,
    dir: PathBuf,
}

fn fixture(manifest_extra: &str) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install_probe(tmp.path(), &probe_wasm(), None, manifest_extra);
    let defaults = Defaults { memory_limit: 64 << 20, call_timeout: Duration::from_millis(200) };
    let loader = Loader::new(&tmp.path().join("cache"), &tmp.path().join("storage"), Arc::new(Recorder::default()), defaults)
        .unwrap()
        .with_kv(Arc::new(MemoryKv::default()));
    Fixture { _tmp: tmp, loader, dir }
}

fn driver_message(err: PluginError) -> String {
    match err {
        PluginError::Driver { message, .. } => message,
        other => panic!("expected the guest's error value, got {other}"),
    }
}

#[test]
fn kv_is_denied_without_its_grant() {
    let f = fixture("");
    let err = storage(&f).apply_layer("k", None, TestBlob::new(b"probe:kv")).unwrap_err();
    assert!(matches!(err, PluginError::Driver { kind: ErrorKind::Denied, .. }), "{err}");
    assert!(err.to_string().contains("not granted the kv capability"), "{err}");
}

#[test]
fn kv_granted_keeps_values_across_calls() {
    let f = fixture("[capabilities]\nkv = true\n");
    let p = storage(&f);
    let first = driver_message(p.apply_layer("k1", None, TestBlob::new(b"probe:kv")).unwrap_err());
    assert_eq!(first, "kv round trip: value");
    // A fresh instance (every call has one) still finds it: the host keeps it.
    let second = driver_message(p.apply_layer("k2", None, TestBlob::new(b"probe:kvget")).unwrap_err());
    assert_eq!(second, "kv holds: value");
}

fn storage(f: &Fixture) -> Arc<StoragePlugin> {
    f.loader.load(&f.dir).unwrap().0.storage().expect("the probe is a storage plugin")
}

/// A blob that verifies itself against `digest` at its end, as the image store's does.
struct TestBlob {
    data: Cursor<Vec<u8>>,
    digest: String,
    hasher: Sha256,
}

impl TestBlob {
    fn new(data: &[u8]) -> Box<Self> {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        Self::claiming(data, &digest)
    }

    fn claiming(data: &[u8], digest: &str) -> Box<Self> {
        Box::new(TestBlob { data: Cursor::new(data.to_vec()), digest: digest.to_owned(), hasher: Sha256::new() })
    }
}

impl Read for TestBlob {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.data.read(buf)?;
        self.hasher.update(&buf[..n]);
        if n == 0 {
            let actual = format!("sha256:{}", hex::encode(self.hasher.clone().finalize()));
            if actual != self.digest {
                return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("digest mismatch: got {actual}")));
            }
        }
        Ok(n)
    }
}

impl BlobSource for TestBlob {
    fn digest(&self) -> String {
        self.digest.clone()
    }
    fn size(&self) -> u64 {
        self.data.get_ref().len() as u64
    }
}

fn ok_layer_works(p: &StoragePlugin) {
    let data = b"an ordinary layer".to_vec();
    let applied = p.apply_layer("ok", None, TestBlob::new(&data)).unwrap();
    assert_eq!(applied.diff_id, format!("sha256:{}", hex::encode(Sha256::digest(&data))));
}

#[test]
fn deadline_obeyed() {
    let f = fixture("");
    ok_layer_works(&storage(&f));
}

#[test]
fn deadline_violated_stops_the_call_and_the_plugin_still_serves() {
    let f = fixture("");
    let p = storage(&f);
    let started = Instant::now();
    let err = p.apply_layer("spin", None, TestBlob::new(b"probe:loop")).unwrap_err();
    assert!(matches!(err, PluginError::Deadline { .. }), "{err}");
    assert!(err.to_string().contains("plugin \"probe\""), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "stopped only after {:?}", started.elapsed());
    ok_layer_works(&p);
}

#[test]
fn memory_limit_obeyed() {
    let f = fixture("[limits]\nmemory = \"64m\"\n");
    ok_layer_works(&storage(&f));
}

#[test]
fn memory_limit_violated_fails_cleanly() {
    let f = fixture("[limits]\nmemory = \"64m\"\n");
    let p = storage(&f);
    let err = p.apply_layer("big", None, TestBlob::new(b"probe:balloon")).unwrap_err();
    assert!(matches!(err, PluginError::MemoryLimit { limit, .. } if limit == 64 << 20), "{err}");
    assert_eq!(err.kind(), ErrorKind::PluginFailed);
    ok_layer_works(&p);
}

#[test]
fn trap_names_the_plugin_and_its_panic() {
    let f = fixture("");
    let p = storage(&f);
    let err = p.apply_layer("t", None, TestBlob::new(b"probe:trap")).unwrap_err();
    assert!(matches!(err, PluginError::Trap { .. }), "{err}");
    assert!(err.to_string().contains("probe asked to trap"), "{err}");
    ok_layer_works(&p);
}

#[test]
fn ungranted_capability_is_an_error_value_for_the_guest() {
    let f = fixture("");
    let p = storage(&f);
    let err = p.apply_layer("c", None, TestBlob::new(b"probe:chown")).unwrap_err();
    // The probe returns the host's answer as its own error: a value, not a trap.
    match &err {
        PluginError::Driver { kind, message, .. } => {
            assert_eq!(*kind, ErrorKind::Denied, "{err}");
            assert!(message.contains("not granted") && message.contains("chown"), "{err}");
        }
        other => panic!("expected the guest's error value, got {other}"),
    }
    ok_layer_works(&p);
}

#[test]
fn digest_mismatch_reaches_the_guest_as_an_error() {
    let f = fixture("");
    let p = storage(&f);
    let wrong = format!("sha256:{}", "0".repeat(64));
    let err = p.apply_layer("bad", None, TestBlob::claiming(b"tampered bytes", &wrong)).unwrap_err();
    assert!(err.to_string().contains("digest mismatch"), "{err}");
}

#[test]
fn tampered_wasm_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let wasm = probe_wasm();
    let pin = hex::encode(Sha256::digest(&wasm));
    let mut tampered = wasm.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 0xff;
    let dir = install_probe(tmp.path(), &tampered, Some(&pin), "");
    let loader = Loader::new(&tmp.path().join("cache"), &tmp.path().join("storage"), Arc::new(Recorder::default()), Defaults::default()).unwrap();
    let err = loader.load(&dir).unwrap_err();
    assert!(matches!(err, LoadError::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains("refusing a modified component"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path().join("cache")).unwrap().count(), 0, "nothing compiled for a refused wasm");
}

#[test]
fn unpinned_wasm_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install_probe(tmp.path(), &probe_wasm(), None, "");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap();
    let unpinned: String = manifest.lines().filter(|l| !l.starts_with("sha256")).map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("plugin.toml"), unpinned).unwrap();
    let loader = Loader::new(&tmp.path().join("cache"), &tmp.path().join("storage"), Arc::new(Recorder::default()), Defaults::default()).unwrap();
    assert!(matches!(loader.load(&dir).unwrap_err(), LoadError::Unpinned { .. }));
}

#[test]
fn a_component_that_does_not_export_its_kinds_world_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install_probe(tmp.path(), &probe_wasm(), None, "");
    let manifest = std::fs::read_to_string(dir.join("plugin.toml")).unwrap().replace("kind = \"storage\"", "kind = \"network\"");
    std::fs::write(dir.join("plugin.toml"), manifest).unwrap();
    let loader = Loader::new(&tmp.path().join("cache"), &tmp.path().join("storage"), Arc::new(Recorder::default()), Defaults::default()).unwrap();
    let err = loader.load(&dir).unwrap_err().to_string();
    assert!(err.contains("does not export hostctl:network/driver@0.1.0; is it a network plugin?"), "{err}");
}

#[test]
fn second_load_comes_from_the_precompiled_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = install_probe(tmp.path(), &probe_wasm(), None, "");
    let new_loader = || Loader::new(&tmp.path().join("cache"), &tmp.path().join("storage"), Arc::new(Recorder::default()), Defaults::default()).unwrap();
    let (_, first) = new_loader().load(&dir).unwrap();
    let (plugin, second) = new_loader().load(&dir).unwrap();
    assert_eq!(first.origin, Origin::Compiled);
    assert_eq!(second.origin, Origin::Cache);
    eprintln!("probe: compiled in {:?}, loaded from cache in {:?}", first.load_time, second.load_time);
    let p = plugin.storage().expect("the probe is a storage plugin");
    ok_layer_works(&p);
}
