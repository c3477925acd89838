//! Names: the daemon's network and endpoint ids as the drivers accept them, and link
//! names as the kernel accepts them (at most [`IFNAMSIZ_MAX`] bytes, no `/`, `:` or
//! whitespace). A driver names its links `<prefix><8 hex of the id>` (`hcv1a2b3c4d`),
//! so a link on the host says which endpoint it belongs to, as Docker's `veth1a2b3c4`.

use hostctl_sdk::{Error, Result};

/// The longest link name Linux takes (IFNAMSIZ is 16, with the terminating NUL).
pub const IFNAMSIZ_MAX: usize = 15;

/// The name an endpoint's link has inside the container.
pub const SANDBOX_IFNAME: &str = "eth0";

/// The longest network or endpoint id the drivers accept (the daemon's are 64 hex digits);
/// it bounds the kv keys built from ids well under the host's 256 bytes.
pub const MAX_ID: usize = 64;

/// Check a daemon id (`what` is "network" or "endpoint"): 1 to [`MAX_ID`] letters,
/// digits, `-`, `_` or `.`. Ids are parts of kv keys, so `/` in one would be ambiguous.
pub fn check_id(what: &str, id: &str) -> Result<()> {
    let fine = !id.is_empty() && id.len() <= MAX_ID && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if fine { Ok(()) } else { Err(Error::invalid(format!("{what} id {id:?}: expected 1 to {MAX_ID} letters, digits, '-', '_' or '.'"))) }
}

/// Eight lowercase hex digits for `id`: its first eight when they are hex (the daemon's
/// ids are), otherwise a 32-bit FNV-1a hash of it, so any id gives a stable short name.
pub fn short_id(id: &str) -> String {
    match id.get(..8) {
        Some(head) if head.bytes().all(|b| b.is_ascii_hexdigit()) => head.to_ascii_lowercase(),
        _ => {
            let hash = id.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
            format!("{hash:08x}")
        }
    }
}

/// `id` as messages show it: its first 12 characters, as Docker shows ids.
pub fn display_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// `prefix` followed by the short id of `id` (`hcv` + `1a2b3c4d`).
pub fn link_name(prefix: &str, id: &str) -> String {
    let name = format!("{prefix}{}", short_id(id));
    debug_assert!(name.len() <= IFNAMSIZ_MAX, "{name} is longer than IFNAMSIZ");
    name
}

/// Check a link name a user chose (a bridge name, a macvlan parent) the way the kernel's
/// `dev_valid_name` does; `what` names the option in the message.
pub fn check_ifname(what: &str, name: &str) -> Result<()> {
    if name.is_empty() || name.len() > IFNAMSIZ_MAX {
        return Err(Error::invalid(format!("{what} {name:?}: a link name is 1 to {IFNAMSIZ_MAX} characters")));
    }
    if name == "." || name == ".." || name.chars().any(|c| c == '/' || c == ':' || c.is_whitespace() || c.is_control()) {
        return Err(Error::invalid(format!("{what} {name:?}: a link name cannot be '.', '..' or hold '/', ':' or whitespace")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "1A2b3c4d5e6f00112233445566778899aabbccddeeff00112233445566778899";

    #[test]
    fn short_ids_are_eight_hex_digits() {
        assert_eq!(short_id(ID), "1a2b3c4d");
        let hashed = short_id("web");
        assert_eq!(hashed.len(), 8);
        assert!(hashed.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(hashed, short_id("web"), "stable");
        assert_ne!(hashed, short_id("db"));
        assert_eq!(short_id("not-hex-at-all").len(), 8);
        assert_eq!(display_id(ID), "1A2b3c4d5e6f");
        assert_eq!(display_id("web"), "web");
    }

    #[test]
    fn link_names_fit_ifnamsiz() {
        for prefix in ["hcv", "hcp", "hcm", "hc-br-"] {
            let name = link_name(prefix, ID);
            assert!(name.len() <= IFNAMSIZ_MAX, "{name}");
            check_ifname("link", &name).unwrap();
        }
        assert_eq!(link_name("hcv", ID), "hcv1a2b3c4d");
    }

    #[test]
    fn ids_and_ifnames_are_checked() {
        check_id("endpoint", ID).unwrap();
        for bad in ["", "a/b", "a b", &"f".repeat(65)] {
            assert!(check_id("endpoint", bad).is_err(), "{bad:?}");
        }
        check_ifname("parent", "eth0.10").unwrap();
        for bad in ["", "sixteen-chars-xx", "a/b", "a:b", "a b", ".", ".."] {
            assert!(check_ifname("parent", bad).is_err(), "{bad:?}");
        }
    }
}
