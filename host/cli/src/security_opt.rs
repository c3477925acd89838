//! `--security-opt` as Docker's CLI sends it. `seccomp=FILE` names a profile on the
//! client's machine: the CLI reads it, checks that it is JSON, and sends
//! `seccomp=<the file's JSON, compacted>` (the daemon cannot read the client's files);
//! `seccomp=unconfined` and `seccomp=builtin` go as they are, and so does everything
//! else (the daemon parses and checks every option, and refuses what it does not know).
//! A `run -f` file's relative profile path is taken from the file's directory.

use std::path::Path;

/// The option's key: `seccomp` of `seccomp=…` (or the older `seccomp:…`).
pub fn key(opt: &str) -> &str {
    let split = if opt.contains('=') { opt.split_once('=') } else { opt.split_once(':') };
    split.map_or(opt, |(k, _)| k)
}

/// `opt` as it goes to the daemon: a `seccomp=FILE` replaced by the profile's JSON,
/// `FILE` relative to `base` (the current directory if none).
pub fn resolve(opt: &str, base: Option<&Path>) -> Result<String, String> {
    let (k, value) = if opt.contains('=') { opt.split_once('=') } else { opt.split_once(':') }.unwrap_or((opt, ""));
    if k != "seccomp" {
        return Ok(opt.to_owned());
    }
    if value.is_empty() {
        return Err(format!("invalid --security-opt {opt:?}: seccomp needs unconfined, builtin or a profile's path"));
    }
    if value == "unconfined" || value == "builtin" {
        return Ok(opt.to_owned());
    }
    let path = match base {
        Some(dir) if Path::new(value).is_relative() => dir.join(value),
        _ => Path::new(value).to_owned(),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--security-opt seccomp={value}: reading the profile {}: {e}", path.display()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(&text)
        .map_err(|e| format!("--security-opt seccomp={value}: {}:{}:{}: not JSON: {e}", path.display(), e.line(), e.column()))?;
    Ok(format!("seccomp={}", compact(&text)))
}

/// `file`'s options with `flags` after them, a flag replacing the file's options of its
/// key (the flags override the file, as everywhere in `run -f`).
pub fn merge(file: Vec<String>, flags: &[String]) -> Vec<String> {
    let mut merged: Vec<String> = file.into_iter().filter(|o| !flags.iter().any(|f| key(f) == key(o))).collect();
    merged.extend(flags.iter().cloned());
    merged
}

/// JSON without the whitespace between tokens (Go's `json.Compact`), strings untouched.
fn compact(json: &str) -> String {
    let (mut out, mut in_string, mut escaped) = (String::with_capacity(json.len()), false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            (in_string, escaped) = match (escaped, c) {
                (true, _) => (true, false),
                (false, '\\') => (true, true),
                (false, '"') => (false, false),
                _ => (true, false),
            };
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seccomp_file_is_sent_as_its_compacted_json() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.json"), "{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"comment\": \"a \\\" b  c\"\n}\n").unwrap();
        let sent = resolve("seccomp=p.json", Some(dir.path())).unwrap();
        assert_eq!(sent, r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW","comment":"a \" b  c"}"#);
        let absolute = format!("seccomp={}", dir.path().join("p.json").display());
        assert_eq!(resolve(&absolute, None).unwrap(), sent);
        for kept in ["seccomp=unconfined", "seccomp=builtin", "no-new-privileges", "apparmor=x"] {
            assert_eq!(resolve(kept, None).unwrap(), kept);
        }
    }

    #[test]
    fn a_missing_or_broken_profile_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = resolve("seccomp=nope.json", Some(dir.path())).unwrap_err();
        assert!(missing.starts_with("--security-opt seccomp=nope.json: reading the profile "), "{missing}");
        assert!(missing.contains("nope.json: No such file or directory"), "{missing}");
        std::fs::write(dir.path().join("bad.json"), "{\n  \"defaultAction\": SCMP_ACT_ALLOW\n}").unwrap();
        let bad = resolve("seccomp=bad.json", Some(dir.path())).unwrap_err();
        assert!(bad.contains("bad.json:2:20: not JSON"), "{bad}");
        assert!(resolve("seccomp=", None).is_err());
    }

    #[test]
    fn flags_replace_the_files_options_of_the_same_key() {
        let file = vec!["seccomp=unconfined".to_owned(), "no-new-privileges=false".to_owned()];
        assert_eq!(merge(file, &["no-new-privileges".to_owned()]), ["seccomp=unconfined", "no-new-privileges"]);
        assert_eq!(key("seccomp:unconfined"), "seccomp");
    }
}
