//! TOML files (the daemon's config, plugin manifests, `run -f` specs) parsed so that
//! every error names `file:line:col` and the key involved, as users expect from a
//! compiler rather than a serializer.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A TOML document that did not parse, or did not fit the expected shape
/// (an unknown key, a wrong type, a missing key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    pub path: PathBuf,
    /// 1-based line and column of the offending text (0 when the error has no place).
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for TomlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: {}", self.path.display(), self.line, self.column, self.message)
        } else {
            write!(f, "{}: {}", self.path.display(), self.message)
        }
    }
}

impl std::error::Error for TomlError {}

/// Parse `text`, read from `path`, as a `T`. Use `#[serde(deny_unknown_fields)]` on `T`
/// so unknown keys are errors too.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, TomlError> {
    toml::from_str(text).map_err(|err| {
        let (line, column) = err.span().map(|span| line_col(text, span.start)).unwrap_or((0, 0));
        TomlError { path: path.to_owned(), line, column, message: err.message().trim().to_owned() }
    })
}

/// Read and parse the file at `path`.
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<T, TomlError> {
    let text = std::fs::read_to_string(path).map_err(|err| TomlError {
        path: path.to_owned(),
        line: 0,
        column: 0,
        message: format!("cannot read: {err}"),
    })?;
    parse(path, &text)
}

/// An error about the value at byte `offset` of `text` (read from `path`): a value that
/// parsed but is wrong (`memory = "64q"`), with the same `file:line:col` as parse errors.
/// Take offsets from `toml::Spanned` fields.
pub fn error_at(path: &Path, text: &str, offset: usize, message: impl Into<String>) -> TomlError {
    let (line, column) = line_col(text, offset);
    TomlError { path: path.to_owned(), line, column, message: message.into() }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        #[serde(default)]
        size: u32,
    }

    #[test]
    fn unknown_key_names_file_line_col_and_key() {
        let err = parse::<Doc>(Path::new("x.toml"), "name = \"a\"\n\nbogus = 1\n").unwrap_err();
        assert_eq!((err.line, err.column), (3, 1));
        assert!(err.to_string().starts_with("x.toml:3:1: "), "{err}");
        assert!(err.message.contains("bogus"), "{err}");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let err = parse::<Doc>(Path::new("x.toml"), "name = \"a\"\nsize = \"big\"\n").unwrap_err();
        assert_eq!((err.line, err.column), (2, 8));
    }

    #[test]
    fn syntax_error_has_a_place() {
        let err = parse::<Doc>(Path::new("x.toml"), "name = \n").unwrap_err();
        assert_eq!(err.line, 1);
    }
}
