//! Capabilities of the container's process: the spec's five sets as bit masks, applied
//! the way runc applies them: drop from the bounding set everything not asked for (while
//! still root with `CAP_SETPCAP`), switch user keeping the permitted set, then capset(2)
//! the effective, permitted and inheritable sets and raise the ambient ones.
//!
//! "All capabilities" is what the current bounding set holds, not what the kernel
//! knows: a capability the host itself lacks (`CAP_SYS_RESOURCE` on this project's
//! machines) cannot be granted and is left out rather than failing the start.

use std::io;
use std::str::FromStr;

use oci_spec::runtime::{Capabilities, LinuxCapabilities};

use super::sys;

/// The spec's capability sets, one bit per capability number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CapSets {
    pub bounding: u64,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// Docker's default capability set (what `docker run` grants without `--cap-add`).
pub const DOCKER_DEFAULT: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The mask of capability names (`CAP_CHOWN`); unknown names are returned apart.
pub fn mask_of<'a>(names: impl IntoIterator<Item = &'a str>) -> (u64, Vec<String>) {
    let mut mask = 0;
    let mut unknown = Vec::new();
    for name in names {
        match caps::Capability::from_str(name) {
            Ok(cap) => mask |= cap.bitmask(),
            Err(_) => unknown.push(name.to_owned()),
        }
    }
    (mask, unknown)
}

/// The name of every capability this build knows (`CAP_CHOWN`, …), by number.
pub fn known() -> Vec<String> {
    names_in(u64::MAX)
}

/// The names of the capabilities in `mask` that this build knows, by number.
pub fn names_in(mask: u64) -> Vec<String> {
    let mut caps: Vec<caps::Capability> = caps::all().into_iter().filter(|c| mask & c.bitmask() != 0).collect();
    caps.sort_by_key(caps::Capability::index);
    caps.iter().map(ToString::to_string).collect()
}

/// The calling thread's bounding set: the capabilities a container can be given here.
pub fn bounding_set() -> u64 {
    sys::bounding_set()
}

impl CapSets {
    /// From the spec (no capabilities object: every set empty).
    pub fn from_oci(caps: Option<&LinuxCapabilities>) -> (CapSets, Vec<String>) {
        let mut unknown = Vec::new();
        let mut mask = |set: &Option<Capabilities>| {
            let names: Vec<String> = set.iter().flatten().map(|c| format!("CAP_{c}")).collect();
            let (mask, mut bad) = mask_of(names.iter().map(String::as_str));
            unknown.append(&mut bad);
            mask
        };
        let Some(caps) = caps else { return (CapSets::default(), unknown) };
        let sets = CapSets {
            bounding: mask(caps.bounding()),
            effective: mask(caps.effective()),
            permitted: mask(caps.permitted()),
            inheritable: mask(caps.inheritable()),
            ambient: mask(caps.ambient()),
        };
        unknown.sort();
        unknown.dedup();
        (sets, unknown)
    }

    /// Limit every set to what `available` (the current bounding set) holds.
    pub fn within(self, available: u64) -> CapSets {
        CapSets {
            bounding: self.bounding & available,
            effective: self.effective & available,
            permitted: self.permitted & available,
            inheritable: self.inheritable & available,
            ambient: self.ambient & available,
        }
    }

    /// Drop from the bounding set every capability of `available` not in `self.bounding`.
    pub fn apply_bounding(&self, available: u64) -> io::Result<()> {
        for cap in 0..64 {
            if available & (1 << cap) != 0 && self.bounding & (1 << cap) == 0 {
                sys::drop_bounding_capability(cap)?;
            }
        }
        Ok(())
    }

    /// capset(2) the effective, permitted and inheritable sets, then raise the ambient set.
    pub fn apply(&self) -> io::Result<()> {
        use rustix::thread::{CapabilitySet, CapabilitySets};
        let set = CapabilitySet::from_bits_retain;
        rustix::thread::set_capabilities(
            None,
            CapabilitySets {
                effective: set(self.effective),
                permitted: set(self.permitted),
                inheritable: set(self.inheritable),
            },
        )?;
        for cap in 0..64 {
            if self.ambient & (1 << cap) != 0 {
                sys::raise_ambient_capability(cap)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{Capability, LinuxCapabilitiesBuilder};

    #[test]
    fn dockers_default_set_is_the_well_known_mask() {
        let (mask, unknown) = mask_of(DOCKER_DEFAULT.iter().copied());
        assert!(unknown.is_empty());
        // `CapBnd` of a default `docker run` container.
        assert_eq!(mask, 0x00000000a80425fb);
    }

    #[test]
    fn spec_sets_map_to_masks_and_are_limited_to_what_is_available() {
        let set: Capabilities = [Capability::Chown, Capability::SysResource].into_iter().collect();
        let caps = LinuxCapabilitiesBuilder::default()
            .bounding(set.clone())
            .effective(set.clone())
            .permitted(set)
            .inheritable(Capabilities::new())
            .ambient(Capabilities::new())
            .build()
            .unwrap();
        let (sets, unknown) = CapSets::from_oci(Some(&caps));
        assert!(unknown.is_empty());
        assert_eq!(sets.bounding, 1 << 0 | 1 << 24);
        assert_eq!((sets.inheritable, sets.ambient), (0, 0));
        let without_sys_resource = !(1u64 << 24);
        assert_eq!(sets.within(without_sys_resource).permitted, 1);
    }

    #[test]
    fn names_come_back_by_number() {
        assert_eq!(names_in(1 << 0 | 1 << 12 | 1 << 40), ["CAP_CHOWN", "CAP_NET_ADMIN", "CAP_CHECKPOINT_RESTORE"]);
        assert_eq!(mask_of(names_in(0x00000000a80425fb).iter().map(String::as_str)).0, 0x00000000a80425fb);
        let known = known();
        assert!(known.len() >= 41 && known.contains(&"CAP_SYS_RESOURCE".to_owned()), "{known:?}");
        assert!(bounding_set() & 1 != 0, "this process holds CAP_CHOWN in its bounding set");
    }

    #[test]
    fn no_capabilities_object_means_none() {
        assert_eq!(CapSets::from_oci(None).0, CapSets::default());
    }
}
