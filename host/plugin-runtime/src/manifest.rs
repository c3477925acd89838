//! `plugin.toml`: what a plugin is and what it may do.
//!
//! A manifest sits beside each component. It names the plugin and its kind, pins the
//! component by sha256 (a wasm that does not match is refused), and lists the
//! capabilities the plugin asked for and was granted at install. Everything is denied by
//! default: a capability not listed here is an error value for the guest at call time.
//!
//! ```toml
//! name = "overlay2-store"
//! kind = "storage"
//! version = "0.1.0"
//! description = "overlay2-compatible layer layout"
//! sha256 = "…"                  # of overlay2-store.wasm, written at install
//! [capabilities]
//! files = ["chown", "chmod", "whiteout", "opaque", "mknod", "xattr", "symlink", "remove-tree"]
//! mounts = ["overlay", "bind"]           # storage; volumes may ask for "tmpfs" too
//! kv = true                              # a private key-value store
//! net-query = true                       # read the host's links and routes
//! links = ["hc-br-*", "hcv*"]            # names of links it may create, change, delete
//! parents = ["*"]                        # links it may put macvlans on
//! ports = true                           # publish container ports on the host
//! bind-sources = ["/srv/*"]              # host directories its mounts may bind
//! [limits]                       # optional; the daemon's defaults otherwise
//! memory = "256m"
//! call-timeout-ms = 5000
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use hostctl_api::toml_file::{self, TomlError};
use serde::{Deserialize, Serialize};

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Toml(#[from] TomlError),
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// The kinds of plugin hostctl knows. Only storage drivers are loaded so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Storage,
    Network,
    Volume,
    Restart,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Storage => "storage",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Restart => "restart",
        })
    }
}

/// A privileged file operation of the `hostctl:host/files` interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileCapability {
    Chown,
    Chmod,
    Whiteout,
    Opaque,
    Mknod,
    Xattr,
    Symlink,
    RemoveTree,
}

impl fmt::Display for FileCapability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = serde_json_name(self);
        f.write_str(name)
    }
}

fn serde_json_name(c: &FileCapability) -> &'static str {
    match c {
        FileCapability::Chown => "chown",
        FileCapability::Chmod => "chmod",
        FileCapability::Whiteout => "whiteout",
        FileCapability::Opaque => "opaque",
        FileCapability::Mknod => "mknod",
        FileCapability::Xattr => "xattr",
        FileCapability::Symlink => "symlink",
        FileCapability::RemoveTree => "remove-tree",
    }
}

/// A filesystem type a driver's mount plans may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountCapability {
    Overlay,
    Bind,
    Tmpfs,
}

/// What the plugin may do. Deny by default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    #[serde(default)]
    pub files: BTreeSet<FileCapability>,
    #[serde(default)]
    pub mounts: BTreeSet<MountCapability>,
    /// A private key-value store (`hostctl:host/kv`).
    #[serde(default)]
    pub kv: bool,
    /// Read-only questions about the host's links and routes (`hostctl:host/net`).
    #[serde(default)]
    pub net_query: bool,
    /// Glob patterns (`*` any run, `?` one character) of link names the plugin may
    /// create, change and delete.
    #[serde(default)]
    pub links: Vec<String>,
    /// Glob patterns of existing links it may create macvlans on.
    #[serde(default)]
    pub parents: Vec<String>,
    /// Publish container ports on the host.
    #[serde(default)]
    pub ports: bool,
    /// Glob patterns of absolute host paths its mount plans may bind from.
    #[serde(default)]
    pub bind_sources: Vec<String>,
}

impl Capabilities {
    /// Whether link `name` matches one of the `links` patterns.
    pub fn may_manage_link(&self, name: &str) -> bool {
        self.links.iter().any(|p| glob(p, name))
    }

    /// Whether a macvlan may be put on `parent`.
    pub fn may_use_parent(&self, parent: &str) -> bool {
        self.parents.iter().any(|p| glob(p, parent))
    }

    /// Whether a mount may bind from host path `source` (absolute, normalized).
    pub fn may_bind_from(&self, source: &str) -> bool {
        self.bind_sources.iter().any(|p| glob(p, source))
    }
}

/// Match `text` against `pattern`, where `*` is any run of characters and `?` one.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// Per-plugin overrides of the daemon's sandbox limits.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Limits {
    /// Linear memory cap, e.g. "256m".
    pub memory: Option<String>,
    /// Per-call deadline in milliseconds (for streaming calls: without progress).
    pub call_timeout_ms: Option<u64>,
}

/// A parsed, checked `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub kind: Kind,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// The component's file name beside the manifest; `<name>.wasm` by default.
    pub wasm: Option<String>,
    /// Lowercase hex sha256 of the component. Required to load.
    pub sha256: Option<String>,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub limits: Limits,
}

impl Manifest {
    /// Read and check `dir/plugin.toml`.
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        let path = dir.join("plugin.toml");
        let manifest: Manifest = toml_file::read(&path)?;
        manifest.check(&path)?;
        Ok(manifest)
    }

    fn check(&self, path: &Path) -> Result<(), ManifestError> {
        let invalid = |reason: String| Err(ManifestError::Invalid { path: path.to_owned(), reason });
        if !valid_name(&self.name) {
            return invalid(format!("name {:?}: use lowercase letters, digits and dashes", self.name));
        }
        if let Some(wasm) = &self.wasm
            && (wasm.contains('/') || wasm.starts_with('.'))
        {
            return invalid(format!("wasm {wasm:?}: must be a file name beside plugin.toml"));
        }
        if let Some(sha) = &self.sha256
            && (sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return invalid(format!("sha256 {sha:?}: expected 64 lowercase hex digits"));
        }
        if let Some(memory) = &self.limits.memory {
            parse_size(memory).map_err(|reason| ManifestError::Invalid { path: path.to_owned(), reason })?;
        }
        Ok(())
    }

    /// The component file's name.
    pub fn wasm_file(&self) -> String {
        self.wasm.clone().unwrap_or_else(|| format!("{}.wasm", self.name))
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Parse a size like `64m` or `1g` (Docker's binary units).
pub fn parse_size(text: &str) -> Result<usize, String> {
    let bytes = hostctl_api::units::parse_bytes(text).map_err(|e| format!("size {e}"))?;
    usize::try_from(bytes).map_err(|_| format!("size {text:?}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, Result<Manifest, ManifestError>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plugin.toml"), text).unwrap();
        let m = Manifest::read(dir.path());
        (dir, m)
    }

    #[test]
    fn full_manifest_parses() {
        let (_d, m) = write(
            "name = \"overlay2-store\"\nkind = \"storage\"\nversion = \"0.1.0\"\nsha256 = \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"\n[capabilities]\nfiles = [\"chown\", \"whiteout\"]\nmounts = [\"overlay\"]\n[limits]\nmemory = \"64m\"\ncall-timeout-ms = 100\n",
        );
        let m = m.unwrap();
        assert_eq!(m.kind, Kind::Storage);
        assert!(m.capabilities.files.contains(&FileCapability::Whiteout));
        assert!(!m.capabilities.files.contains(&FileCapability::Mknod));
        assert_eq!(m.wasm_file(), "overlay2-store.wasm");
    }

    #[test]
    fn unknown_capability_names_line_and_column() {
        let (_d, m) = write("name = \"x\"\nkind = \"storage\"\nversion = \"1\"\n[capabilities]\nfiles = [\"rm-rf\"]\n");
        let err = m.unwrap_err().to_string();
        assert!(err.contains("plugin.toml:5:"), "{err}");
        assert!(err.contains("rm-rf"), "{err}");
    }

    #[test]
    fn bad_sha_and_names_are_refused() {
        let (_d, m) = write("name = \"Bad Name\"\nkind = \"storage\"\nversion = \"1\"\n");
        assert!(m.unwrap_err().to_string().contains("Bad Name"));
        let (_d, m) = write("name = \"x\"\nkind = \"storage\"\nversion = \"1\"\nsha256 = \"abc\"\n");
        assert!(m.unwrap_err().to_string().contains("64 lowercase hex"));
    }

    #[test]
    fn link_patterns_are_globs() {
        assert!(glob("hc-br-*", "hc-br-1234"));
        assert!(!glob("hc-br-*", "eth0"));
        assert!(glob("hcv????", "hcv12ab"));
        assert!(!glob("hcv????", "hcv12abc"));
        assert!(glob("*", "anything"));
        assert!(!glob("", "x"));
        let caps: Capabilities = toml::from_str("links = [\"hc-*\"]\nparents = [\"veth*\"]\nkv = true\nnet-query = true\nports = true\nbind-sources = [\"/srv/*\"]\nmounts = [\"tmpfs\"]\n").unwrap();
        assert!(caps.may_manage_link("hc-br0") && !caps.may_manage_link("eth0"));
        assert!(caps.may_use_parent("veth0") && !caps.may_use_parent("eth0"));
        assert!(caps.may_bind_from("/srv/data") && !caps.may_bind_from("/etc"));
        assert!(caps.kv && caps.net_query && caps.ports);
    }

    #[test]
    fn sizes_parse_like_docker() {
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert!(parse_size("64q").is_err());
    }
}
