//! Docker's seccomp profile format (`profiles/seccomp` of moby: the runtime spec's
//! `LinuxSeccomp` plus `archMap` and rules kept or dropped by `includes`/`excludes`), and
//! its rendering into a container's `linux.seccomp` by Docker's rules
//! (`setupSeccomp` in `seccomp_linux.go`, moby v28.2.2):
//! - `archMap`: the entry of the native architecture gives `architectures` (it and its
//!   sub-architectures); a profile has `architectures` or `archMap`, not both;
//! - a rule is dropped when an `excludes` matches (its architecture is the native one,
//!   *any* of its capabilities is in the container's bounding set, or the kernel is at
//!   least its `minKernel`), or an `includes` does not (the native architecture is not
//!   listed, *one* of its capabilities is missing, the kernel is older than `minKernel`);
//! - architectures are Go's names (`amd64`, `arm64`, `x32`), kernel versions
//!   `<kernel>.<major>` and compared on those two numbers only;
//! - a profile with neither `defaultAction` nor `syscalls` means no filter.
//!
//! Unknown fields are refused (Docker's decoder ignores them): a misspelt key would
//! otherwise silently weaken the filter.

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSeccompFilterFlag, LinuxSeccompOperator,
    LinuxSyscallBuilder,
};
use serde::{Deserialize, Serialize};

/// A profile, as Docker reads and writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_action: Option<LinuxSeccompAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub architectures: Vec<Arch>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arch_map: Vec<ArchMap>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<LinuxSeccompFilterFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    #[serde(default)]
    pub syscalls: Vec<Rule>,
}

/// An architecture and its sub-architectures (`archMap`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArchMap {
    pub architecture: Arch,
    /// Always written (`null` when none), as Docker writes it.
    #[serde(default)]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// A group of system calls with one action, kept or dropped by its filters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rule {
    /// The old single-name form (Docker still reads it).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub comment: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Condition>,
}

/// A comparison of one argument of the system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Arg {
    pub index: usize,
    pub value: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_two: Option<u64>,
    pub op: LinuxSeccompOperator,
}

/// When a rule applies (`includes`) or does not (`excludes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<KernelVersion>,
}

/// `<kernel>.<major>` (`"4.8"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KernelVersion(pub u8, pub u8);

impl TryFrom<String> for KernelVersion {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        let bad = || format!("{text:?}: expected \"<kernel>.<major>\", like \"4.8\"");
        let (kernel, major) = text.split_once('.').ok_or_else(bad)?;
        let version = KernelVersion(kernel.parse().map_err(|_| bad())?, major.parse().map_err(|_| bad())?);
        if version == KernelVersion(0, 0) { Err(bad()) } else { Ok(version) }
    }
}

impl From<KernelVersion> for String {
    fn from(v: KernelVersion) -> String {
        format!("{}.{}", v.0, v.1)
    }
}

/// What rendering depends on besides the profile: the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Host {
    /// Go's name of the native architecture (`amd64`).
    pub arch: &'static str,
    /// The running kernel's `<kernel>.<major>`.
    pub kernel: (u64, u64),
}

impl Host {
    /// This machine: the architecture hostctl was built for, the kernel from uname(2).
    pub fn this() -> Host {
        let release = rustix::system::uname().release().to_string_lossy().into_owned();
        Host { arch: go_arch(std::env::consts::ARCH), kernel: kernel_version(&release) }
    }

    /// The seccomp architecture of `arch`, if Docker maps it.
    fn seccomp_arch(&self) -> Option<Arch> {
        let arch = match self.arch {
            "amd64" => Arch::ScmpArchX86_64,
            "x86" => Arch::ScmpArchX86,
            "arm64" => Arch::ScmpArchAarch64,
            "arm" => Arch::ScmpArchArm,
            "riscv64" => Arch::ScmpArchRiscv64,
            "s390x" => Arch::ScmpArchS390x,
            "ppc64le" => Arch::ScmpArchPpc64le,
            "mips64" => Arch::ScmpArchMips64,
            "mipsel64" => Arch::ScmpArchMipsel64,
            _ => return None,
        };
        Some(arch)
    }
}

/// Rust's `std::env::consts::ARCH` as Go's (and so the profile's) name.
fn go_arch(rust: &str) -> &'static str {
    match rust {
        "x86_64" => "amd64",
        "x86" => "x86",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "mips64" => "mips64",
        _ => "unknown",
    }
}

/// `6.18.44-fc-v1147` → (6, 18); as Docker's `%d.%d`, anything after is ignored.
pub fn kernel_version(release: &str) -> (u64, u64) {
    let mut numbers = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse().unwrap_or(0));
    (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0))
}

impl Condition {
    fn kernel_at_least(&self, host: &Host) -> Option<bool> {
        self.min_kernel.map(|v| host.kernel >= (u64::from(v.0), u64::from(v.1)))
    }
}

impl Rule {
    /// Whether Docker keeps this rule for a container with `bounding` on `host`.
    pub fn applies(&self, bounding: &[String], host: &Host) -> bool {
        let has = |cap: &String| bounding.contains(cap);
        let excluded = self.excludes.as_ref().is_some_and(|ex| {
            ex.arches.iter().any(|a| a == host.arch) || ex.caps.iter().any(has) || ex.kernel_at_least(host) == Some(true)
        });
        let not_included = self.includes.as_ref().is_some_and(|inc| {
            let arch_missing = !inc.arches.is_empty() && !inc.arches.iter().any(|a| a == host.arch);
            arch_missing || !inc.caps.iter().all(has) || inc.kernel_at_least(host) == Some(false)
        });
        !excluded && !not_included
    }
}

impl Profile {
    /// Docker's default profile (`default.json`, see the README beside it).
    pub fn docker_default() -> &'static Profile {
        static DEFAULT: std::sync::OnceLock<Profile> = std::sync::OnceLock::new();
        DEFAULT.get_or_init(|| serde_json::from_str(DEFAULT_JSON).expect("default.json is a profile (tested)"))
    }

    /// The container's `linux.seccomp`: this profile for a container whose bounding set
    /// is `bounding` (`CAP_…` names) on `host`; `None` for a profile that asks for no
    /// filter. Errors are Docker's checks of the profile's shape.
    pub fn render(&self, bounding: &[String], host: &Host) -> Result<Option<LinuxSeccomp>, String> {
        self.render_keeping(|rule| rule.applies(bounding, host), host)
    }

    /// Every rule rendered, whatever its `includes` and `excludes`: what a check at
    /// create compiles, so a rule that is wrong is refused before any capability set
    /// leaves it out.
    pub fn render_every_rule(&self, host: &Host) -> Result<Option<LinuxSeccomp>, String> {
        self.render_keeping(|_| true, host)
    }

    fn render_keeping(&self, keep: impl Fn(&Rule) -> bool, host: &Host) -> Result<Option<LinuxSeccomp>, String> {
        let Some(default_action) = self.default_action else {
            return if self.syscalls.is_empty() { Ok(None) } else { Err("defaultAction: missing (a profile with syscalls needs one)".into()) };
        };
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err("both 'architectures' and 'archMap' are specified, use either 'architectures' or 'archMap'".into());
        }
        let mut architectures = self.architectures.clone();
        if let Some(entry) = self.arch_map.iter().find(|e| Some(e.architecture) == host.seccomp_arch()) {
            architectures.push(entry.architecture);
            architectures.extend(entry.sub_architectures.iter().flatten());
        }
        let mut syscalls = Vec::new();
        for (i, rule) in self.syscalls.iter().enumerate() {
            if !rule.name.is_empty() && !rule.names.is_empty() {
                return Err(format!("syscalls[{i}]: both 'name' and 'names' are specified, use either 'name' or 'names'"));
            }
            if !keep(rule) {
                continue;
            }
            let names = if rule.name.is_empty() { rule.names.clone() } else { vec![rule.name.clone()] };
            let mut args = Vec::new();
            for a in &rule.args {
                let mut arg = LinuxSeccompArgBuilder::default().index(a.index).value(a.value).op(a.op);
                if let Some(two) = a.value_two {
                    arg = arg.value_two(two);
                }
                args.push(arg.build().map_err(|e| e.to_string())?);
            }
            let mut syscall = LinuxSyscallBuilder::default().names(names).action(rule.action);
            if let Some(errno) = rule.errno_ret {
                syscall = syscall.errno_ret(errno);
            }
            if !args.is_empty() {
                syscall = syscall.args(args);
            }
            syscalls.push(syscall.build().map_err(|e| e.to_string())?);
        }
        let mut seccomp = LinuxSeccompBuilder::default().default_action(default_action).syscalls(syscalls);
        if let Some(errno) = self.default_errno_ret {
            seccomp = seccomp.default_errno_ret(errno);
        }
        if !architectures.is_empty() {
            seccomp = seccomp.architectures(architectures);
        }
        if !self.flags.is_empty() {
            seccomp = seccomp.flags(self.flags.clone());
        }
        if let Some(path) = &self.listener_path {
            seccomp = seccomp.listener_path(path);
        }
        if let Some(metadata) = &self.listener_metadata {
            seccomp = seccomp.listener_metadata(metadata.clone());
        }
        seccomp.build().map(Some).map_err(|e| e.to_string())
    }
}

/// `default.json`, verbatim from moby v28.2.2.
pub const DEFAULT_JSON: &str = include_str!("default.json");

/// Its sha256, as the README beside it documents.
pub const DEFAULT_SHA256: &str = "01536f1d1df938ae611eba20d6349e0de7a99b6ecdee1549427a0b01b8301e28";

#[cfg(test)]
mod tests;
