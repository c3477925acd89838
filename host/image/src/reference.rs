//! Image references: `NAME[:TAG]` under Docker's grammar (distribution/reference).
//! A name is `/`-separated lowercase path components, optionally led by a registry host
//! (`host[:port]`, recognised as Docker does: the first of several components holding a
//! `.` or `:`, an uppercase letter, or `localhost`). The tag defaults to `latest`.
//!
//! A reference is kept, shown and compared in Docker's *familiar* form (what
//! `reference.FamiliarString` gives and `docker images` shows): Docker Hub's host
//! (`docker.io`, or the legacy `index.docker.io`) is dropped, and so is `library/` in
//! front of a single component, so `docker.io/library/busybox:1`, `library/busybox:1`
//! and `busybox:1` are one reference, `busybox:1`, and `docker.io/foo/bar` is `foo/bar`.
//! Any other registry keeps its host (`localhost:5000/app`, `quay.io/library/x`).
//! An OCI layout names its images fully qualified; this is what makes `hostctl load`
//! print, `hostctl images` list and `hostctl run` accept the name a Docker user types.
//! References by digest (`name@sha256:...`) are refused for now.

use std::{fmt, str::FromStr};

/// The tag a reference gets when none is given.
pub const DEFAULT_TAG: &str = "latest";

/// Docker's limit on the length of a whole name.
pub const NAME_MAX: usize = 255;

/// Docker Hub's host in references, and its legacy name.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";

/// The Docker Hub namespace of official images, dropped from familiar names.
const OFFICIAL_NAMESPACE: &str = "library/";

/// A validated `name:tag`, its name in Docker's familiar form.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    name: String,
    tag: String,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("image reference is empty")]
    Empty,
    #[error(
        "image reference {reference:?}: references by digest are not supported yet; use name:tag"
    )]
    ByDigest { reference: String },
    #[error("image reference {reference:?}: repository name must be lowercase")]
    Uppercase { reference: String },
    #[error("image reference {reference:?}: invalid repository name: {reason}")]
    InvalidName { reference: String, reason: String },
    #[error(
        "image reference {reference:?}: invalid tag {tag:?}: a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'"
    )]
    InvalidTag { reference: String, tag: String },
    #[error("image reference {reference:?}: repository name is longer than {NAME_MAX} characters")]
    TooLong { reference: String },
    #[error(
        "image reference {reference:?}: cannot use a 64-character hexadecimal string as a name (it looks like an image ID)"
    )]
    HexName { reference: String },
    #[error("image reference {reference:?}: has no tag")]
    MissingTag { reference: String },
}

impl Reference {
    /// A reference from a name and a tag, each validated; the name is made familiar.
    pub fn new(name: &str, tag: &str) -> Result<Reference, ReferenceError> {
        let whole = format!("{name}:{tag}");
        check_name(name, &whole)?;
        check_tag(tag, &whole)?;
        Ok(Reference {
            name: familiar(name).to_string(),
            tag: tag.to_string(),
        })
    }

    /// Parses `NAME[:TAG]`; the tag defaults to [`DEFAULT_TAG`].
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        Self::parse_inner(s).map(|(r, _)| r)
    }

    /// Parses `NAME:TAG`, refusing a reference without an explicit tag.
    pub fn parse_tagged(s: &str) -> Result<Reference, ReferenceError> {
        match Self::parse_inner(s)? {
            (r, true) => Ok(r),
            (_, false) => Err(ReferenceError::MissingTag {
                reference: s.to_string(),
            }),
        }
    }

    fn parse_inner(s: &str) -> Result<(Reference, bool), ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if s.contains('@') {
            return Err(ReferenceError::ByDigest {
                reference: s.to_string(),
            });
        }
        let last_slash = s.rfind('/');
        let (name, tag) = match s.rfind(':') {
            Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
                (&s[..colon], Some(&s[colon + 1..]))
            }
            _ => (s, None),
        };
        check_name(name, s)?;
        if let Some(tag) = tag {
            check_tag(tag, s)?;
        }
        Ok((
            Reference {
                name: familiar(name).to_string(),
                tag: tag.unwrap_or(DEFAULT_TAG).to_string(),
            },
            tag.is_some(),
        ))
    }

    /// The repository name, familiar (`busybox`, `foo/bar`, `localhost:5000/team/app`).
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// The same name with another tag.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        Reference::new(&self.name, tag)
    }
}

/// Docker's familiar form of a valid name (distribution/reference's `familiarizeName`
/// after `splitDockerDomain`): on Docker Hub, the host goes, and `library/` goes when a
/// single component follows it; another registry's name is kept whole.
fn familiar(name: &str) -> &str {
    let path = match name.split_once('/') {
        Some((first, rest)) if first == DOCKER_HUB || first == DOCKER_HUB_LEGACY => rest,
        Some((first, _)) if looks_like_domain(first) => return name,
        _ => name,
    };
    match path.strip_prefix(OFFICIAL_NAMESPACE) {
        Some(official) if !official.contains('/') => official,
        _ => path,
    }
}

fn check_tag(tag: &str, whole: &str) -> Result<(), ReferenceError> {
    let b = tag.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let ok = (1..=128).contains(&b.len())
        && word(b[0])
        && b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-');
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag {
            reference: whole.to_string(),
            tag: tag.to_string(),
        })
    }
}

fn check_name(name: &str, whole: &str) -> Result<(), ReferenceError> {
    let invalid = |reason: &str| ReferenceError::InvalidName {
        reference: whole.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("the name is empty"));
    }
    if name.len() > NAME_MAX {
        return Err(ReferenceError::TooLong {
            reference: whole.to_string(),
        });
    }
    let components: Vec<&str> = name.split('/').collect();
    if components.iter().any(|c| c.is_empty()) {
        return Err(invalid(
            "empty path component (leading, trailing or doubled '/')",
        ));
    }
    let path = match components.as_slice() {
        [first, rest @ ..] if !rest.is_empty() && looks_like_domain(first) => {
            if !is_domain(first) {
                return Err(invalid(&format!(
                    "{first:?} is not a valid registry host[:port]"
                )));
            }
            rest
        }
        all => all,
    };
    for component in path {
        if !is_path_component(component) {
            if component.bytes().any(|c| c.is_ascii_uppercase()) {
                return Err(ReferenceError::Uppercase {
                    reference: whole.to_string(),
                });
            }
            return Err(invalid(&format!(
                "path component {component:?} must be lowercase letters and digits, separated by '.', '_', '__' or dashes"
            )));
        }
    }
    if name.len() == 64 && name.bytes().all(|c| c.is_ascii_hexdigit()) {
        return Err(ReferenceError::HexName {
            reference: whole.to_string(),
        });
    }
    Ok(())
}

/// Docker's rule for telling a registry host from a first path component.
fn looks_like_domain(s: &str) -> bool {
    s.contains('.')
        || s.contains(':')
        || s == "localhost"
        || s.starts_with('[')
        || s.bytes().any(|c| c.is_ascii_uppercase())
}

/// `host[:port]`, host a DNS name or a bracketed IPv6 address.
fn is_domain(s: &str) -> bool {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.is_empty() || !v6.bytes().all(|c| c.is_ascii_hexdigit() || c == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, port),
            None => (s, ""),
        }
    };
    let port_ok = port.is_empty() && !s.ends_with(':')
        || (!port.is_empty() && port.len() <= 5 && port.bytes().all(|c| c.is_ascii_digit()));
    let host_ok = host.is_empty() && s.starts_with('[')
        || host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
        });
    port_ok && host_ok
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`
fn is_path_component(s: &str) -> bool {
    let b = s.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.name, self.tag)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Reference, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, String) {
        let r = Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (r.name().to_string(), r.tag().to_string())
    }

    fn pair(name: &str, tag: &str) -> (String, String) {
        (name.to_string(), tag.to_string())
    }

    #[test]
    fn accepts_docker_names() {
        assert_eq!(ok("busybox"), pair("busybox", "latest"));
        assert_eq!(ok("busybox:1.36"), pair("busybox", "1.36"));
        assert_eq!(
            ok("localhost:5000/team/app"),
            pair("localhost:5000/team/app", "latest")
        );
        assert_eq!(
            ok("localhost:5000/app:v2"),
            pair("localhost:5000/app", "v2")
        );
        assert_eq!(ok("localhost/app"), pair("localhost/app", "latest"));
        assert_eq!(ok("[::1]:5000/app:x"), pair("[::1]:5000/app", "x"));
        assert_eq!(
            ok("Registry.Example.com/a"),
            pair("Registry.Example.com/a", "latest")
        );
        assert_eq!(
            ok("a__b/c-d---e.f_g:_T.a-g"),
            pair("a__b/c-d---e.f_g", "_T.a-g")
        );
        assert_eq!(
            Reference::parse("busybox").unwrap().to_string(),
            "busybox:latest"
        );
    }

    /// Docker's familiar forms (distribution/reference's `FamiliarString` of
    /// `ParseNormalizedNamed`), as `docker images` shows them.
    #[test]
    fn names_take_docker_s_familiar_form() {
        let cases = [
            ("docker.io/library/busybox:latest", "busybox:latest"),
            ("docker.io/library/ocibare:1", "ocibare:1"),
            ("library/busybox:musl", "busybox:musl"),
            ("docker.io/busybox", "busybox:latest"),
            ("index.docker.io/library/busybox:1", "busybox:1"),
            ("docker.io/foo/bar:1", "foo/bar:1"),
            ("index.docker.io/foo/bar", "foo/bar:latest"),
            ("foo/bar:1", "foo/bar:1"),
            // `library/` goes only in front of a single component.
            ("docker.io/library/a/b:1", "library/a/b:1"),
            ("library/a/b", "library/a/b:latest"),
            ("docker.io/library", "library:latest"),
            ("docker.io", "docker.io:latest"),
            // Other registries keep their host and their path.
            (
                "localhost:5000/library/app:1",
                "localhost:5000/library/app:1",
            ),
            ("quay.io/library/x:2", "quay.io/library/x:2"),
            ("localhost/app", "localhost/app:latest"),
            (
                "registry-1.docker.io/library/x",
                "registry-1.docker.io/library/x:latest",
            ),
            ("Docker.io/library/x", "Docker.io/library/x:latest"),
        ];
        for (given, want) in cases {
            let reference = Reference::parse(given).unwrap_or_else(|e| panic!("{given}: {e}"));
            assert_eq!(reference.to_string(), want, "{given}");
            assert_eq!(reference, Reference::parse(want).unwrap(), "{given}");
        }
        assert_eq!(
            Reference::new("docker.io/library/busybox", "1").unwrap(),
            Reference::parse("busybox:1").unwrap()
        );
        assert_eq!(
            serde_json::from_str::<Reference>("\"docker.io/foo/bar:1\"")
                .unwrap()
                .to_string(),
            "foo/bar:1"
        );
    }

    #[test]
    fn refuses_what_docker_refuses() {
        type Check = fn(&ReferenceError) -> bool;
        let cases: &[(&str, Check)] = &[
            ("", |e| matches!(e, ReferenceError::Empty)),
            ("Busybox", |e| matches!(e, ReferenceError::Uppercase { .. })),
            ("library/BusyBox", |e| {
                matches!(e, ReferenceError::Uppercase { .. })
            }),
            ("busybox:", |e| {
                matches!(e, ReferenceError::InvalidTag { .. })
            }),
            ("busybox:.x", |e| {
                matches!(e, ReferenceError::InvalidTag { .. })
            }),
            ("busybox:-x", |e| {
                matches!(e, ReferenceError::InvalidTag { .. })
            }),
            ("busybox:a/b", |e| {
                matches!(e, ReferenceError::InvalidName { .. })
            }),
            ("a//b", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("/a", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("a/", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("a..b", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("a___b", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("-a", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("a-", |e| matches!(e, ReferenceError::InvalidName { .. })),
            ("host:port/a", |e| {
                matches!(e, ReferenceError::InvalidName { .. })
            }),
            ("-bad.host/a", |e| {
                matches!(e, ReferenceError::InvalidName { .. })
            }),
            ("busybox@sha256:abc", |e| {
                matches!(e, ReferenceError::ByDigest { .. })
            }),
        ];
        for (s, want) in cases {
            let e = Reference::parse(s).expect_err(s);
            assert!(want(&e), "{s:?}: unexpected {e:?}");
            assert!(e.to_string().starts_with("image reference"), "{e}");
        }
        let hex = "a".repeat(64);
        assert!(matches!(
            Reference::parse(&hex),
            Err(ReferenceError::HexName { .. })
        ));
        let long = format!("{}:t", "a".repeat(256));
        assert!(matches!(
            Reference::parse(&long),
            Err(ReferenceError::TooLong { .. })
        ));
        let long_tag = format!("a:{}", "t".repeat(129));
        assert!(matches!(
            Reference::parse(&long_tag),
            Err(ReferenceError::InvalidTag { .. })
        ));
        assert!(Reference::parse(&format!("a:{}", "t".repeat(128))).is_ok());
    }

    #[test]
    fn by_digest_message_says_what_to_do() {
        let e = Reference::parse("busybox@sha256:abc").unwrap_err();
        assert!(e.to_string().contains("use name:tag"), "{e}");
    }

    #[test]
    fn parse_tagged_requires_an_explicit_tag() {
        assert!(Reference::parse_tagged("busybox:latest").is_ok());
        assert!(matches!(
            Reference::parse_tagged("latest"),
            Err(ReferenceError::MissingTag { .. })
        ));
        assert!(matches!(
            Reference::parse_tagged("localhost:5000/app"),
            Err(ReferenceError::MissingTag { .. })
        ));
    }

    #[test]
    fn serde_uses_the_display_form() {
        let r = Reference::new("busybox", "1").unwrap();
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"busybox:1\"");
        assert_eq!(
            serde_json::from_str::<Reference>("\"busybox\"")
                .unwrap()
                .tag(),
            "latest"
        );
    }
}
