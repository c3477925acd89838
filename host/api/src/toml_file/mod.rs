//! TOML files (the daemon's config, plugin manifests, `run -f` specs) parsed so that
//! every error reads `FILE:LINE:COL: KEY: message`, as users expect from a compiler
//! rather than a serializer: `spec.toml:3:10: resources.memory: expected a string, found
//! an integer`.
//!
//! The key is the dotted path serde was at when it failed (from `serde_path_to_error`);
//! an error the parser raises before serde runs (a duplicate key, a syntax error) has no
//! path, so its key is read from the source text at the error ([`source`]). The message
//! is serde's and toml's, reworded without Rust's type names ([`wording`]).

mod source;
mod wording;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde_path_to_error::Segment;

/// A TOML document that did not parse, or did not fit the expected shape
/// (an unknown key, a wrong type, a missing key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    pub path: PathBuf,
    /// 1-based line and column of the offending text (0 when the error has no place).
    pub line: usize,
    pub column: usize,
    /// The dotted key the error is about (`resources.memory`, `volumes[1]`), when known.
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        if let Some(key) = &self.key {
            write!(f, ": {key}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for TomlError {}

/// Parse `text`, read from `path`, as a `T`. Use `#[serde(deny_unknown_fields)]` on `T`
/// so unknown keys are errors too.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, TomlError> {
    let error = |err: toml::de::Error, mut key: Option<String>| {
        let offset = err.span().map(|span| span.start);
        let (line, column) = offset.map_or((0, 0), |offset| source::line_col(text, offset));
        let message = err.message().trim();
        if let Some(field) = wording::missing_field(message) {
            key = Some(join(key.as_deref(), field));
        } else if key.is_none() {
            key = offset.and_then(|offset| source::key_at(text, offset));
        }
        TomlError { path: path.to_owned(), line, column, key, message: wording::plain(message) }
    };
    let deserializer = toml::Deserializer::parse(text).map_err(|err| error(err, None))?;
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let key = dotted(err.path());
        error(err.into_inner(), key)
    })
}

/// Read and parse the file at `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, TomlError> {
    let text = read_text(path)?;
    parse(path, &text)
}

/// The text of the file at `path`, or an error naming it.
pub fn read_text(path: &Path) -> Result<String, TomlError> {
    std::fs::read_to_string(path).map_err(|err| TomlError {
        path: path.to_owned(),
        line: 0,
        column: 0,
        key: None,
        message: format!("cannot read: {err}"),
    })
}

/// An error about `key`, whose value starts at byte `offset` of `text` (read from
/// `path`): a value that parsed but is wrong (`memory = "64q"`), with the same
/// `file:line:col: key:` as parse errors. Take offsets from `toml::Spanned` fields.
pub fn error_at(path: &Path, text: &str, offset: usize, key: &str, message: impl Into<String>) -> TomlError {
    let (line, column) = source::line_col(text, offset);
    TomlError { path: path.to_owned(), line, column, key: Some(key.to_owned()), message: message.into() }
}

/// serde's path as TOML spells a key: `resources.pids-limit`, `volumes[1]`,
/// `labels."a b"`. The fields `toml::Spanned` and datetimes deserialize through
/// (`$__serde_spanned_private_value`, …) are not keys the user wrote, and are left out.
fn dotted(path: &serde_path_to_error::Path) -> Option<String> {
    let mut key: Option<String> = None;
    for segment in path {
        match segment {
            Segment::Map { key: name } | Segment::Enum { variant: name } if !name.starts_with("$__") => {
                key = Some(join(key.as_deref(), &source::quote_key(name)));
            }
            Segment::Seq { index } => key = Some(format!("{}[{index}]", key.unwrap_or_default())),
            _ => {}
        }
    }
    key
}

fn join(parent: Option<&str>, name: &str) -> String {
    match parent {
        Some(parent) => format!("{parent}.{name}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// The shape of a `run -f` spec, in the types that matter here.
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Spec {
        image: Option<String>,
        rm: Option<bool>,
        volumes: Option<Vec<toml::Spanned<String>>>,
        labels: Option<BTreeMap<String, String>>,
        #[serde(default)]
        resources: Resources,
    }

    #[derive(Debug, Default, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[allow(dead_code)]
    struct Resources {
        memory: Option<toml::Spanned<String>>,
        pids_limit: Option<i64>,
        cpus: Option<f64>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Manifest {
        name: String,
        #[serde(default)]
        size: u32,
    }

    fn error(text: &str) -> String {
        parse::<Spec>(Path::new("s.toml"), text).unwrap_err().to_string()
    }

    #[test]
    fn a_wrong_type_names_the_key_in_words() {
        assert_eq!(error("image = \"busybox\"\nrm = \"yes\"\n"), "s.toml:2:6: rm: expected a boolean, found a string \"yes\"");
        assert_eq!(error("[resources]\nmemory = 64\n"), "s.toml:2:10: resources.memory: expected a string, found an integer");
        assert_eq!(error("[resources]\npids-limit = \"x\"\n"), "s.toml:2:14: resources.pids-limit: expected an integer, found a string \"x\"");
        assert_eq!(error("[resources]\ncpus = true\n"), "s.toml:2:8: resources.cpus: expected a number, found a boolean");
        assert_eq!(error("resources = 1\n"), "s.toml:1:13: resources: expected a table, found an integer");
    }

    #[test]
    fn a_wrong_type_in_a_list_or_table_names_the_element() {
        assert_eq!(error("volumes = [\"a:/a\", 5]\n"), "s.toml:1:20: volumes[1]: expected a string, found an integer");
        assert_eq!(error("labels = { \"a b\" = 1 }\n"), "s.toml:1:20: labels.\"a b\": expected a string, found an integer");
    }

    #[test]
    fn an_unknown_key_is_named_with_its_table() {
        assert_eq!(
            error("image = \"busybox\"\n\n[resources]\nmemroy = \"1g\"\n"),
            "s.toml:4:1: resources.memroy: unknown key, expected one of memory, pids-limit, cpus"
        );
        assert_eq!(
            error("bogus = 1\n"),
            "s.toml:1:1: bogus: unknown key, expected one of image, rm, volumes, labels, resources"
        );
    }

    #[test]
    fn a_duplicate_key_is_named_from_the_text() {
        assert_eq!(error("image = \"a\"\nimage = \"b\"\n"), "s.toml:2:1: image: duplicate key");
        assert_eq!(error("[resources]\nmemory = \"1m\"\nmemory = \"2m\"\n"), "s.toml:3:1: resources.memory: duplicate key");
        assert_eq!(error("[resources]\n[resources]\n"), "s.toml:2:2: resources: duplicate key");
    }

    #[test]
    fn a_syntax_error_names_the_key_on_its_line() {
        assert_eq!(error("image = \n"), "s.toml:1:9: image: string values must be quoted, expected literal string");
    }

    #[test]
    fn a_missing_key_is_named() {
        let err = parse::<Manifest>(Path::new("m.toml"), "size = 1\n").unwrap_err();
        assert_eq!(err.to_string(), "m.toml:1:1: name: a required key is missing");
        let err = parse::<Manifest>(Path::new("m.toml"), "name = \"x\"\nsize = -1\n").unwrap_err();
        assert_eq!(err.to_string(), "m.toml:2:8: size: expected an integer from 0 to 4294967295, found -1");
    }

    #[test]
    fn an_unreadable_file_is_named() {
        let err = read::<Manifest>(Path::new("/nonexistent/m.toml")).unwrap_err();
        assert_eq!(err.to_string(), "/nonexistent/m.toml: cannot read: No such file or directory (os error 2)");
    }
}
