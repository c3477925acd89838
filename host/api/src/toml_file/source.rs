//! Places and keys read from a TOML file's text: the `line:col` of a byte offset, and
//! the key written at an offset, for the errors the parser raises before serde runs (a
//! duplicate key, a syntax error) and so before any key path exists.
//!
//! The key is found by reading the error's line (`key = value` or a `[table]` header)
//! and the last table header above it. A header-like line inside a multi-line string
//! above the error would be taken for a header; no such file parses far enough to fail
//! at a later line with a duplicate key, which is the case this serves.

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(super) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted key written on the line of byte `offset`: the key of a `key = value`
/// line under its table's header, or a header's own name.
pub(super) fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = boundary(text, offset);
    let start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let line = text[start..end].trim();
    if line.starts_with('[') {
        return header(line);
    }
    let key = dotted(until_unquoted(line, '=')?);
    if key.is_empty() {
        return None;
    }
    let table = text[..start].lines().rev().map(str::trim).find(|l| l.starts_with('[')).and_then(header);
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

/// `name` as a TOML key: bare when it can be, quoted otherwise.
pub(super) fn quote_key(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// The name in a `[table]` or `[[array-of-tables]]` header (or an unclosed one).
fn header(line: &str) -> Option<String> {
    let inner = line.trim_start_matches('[');
    let name = dotted(until_unquoted(inner, ']').unwrap_or(inner));
    (!name.is_empty()).then_some(name)
}

/// `a . "b c" .d` as `a."b c".d`.
fn dotted(key: &str) -> String {
    let mut parts = Vec::new();
    let mut rest = key;
    while let Some(part) = until_unquoted(rest, '.') {
        parts.push(part.trim());
        rest = &rest[part.len() + 1..];
    }
    parts.push(rest.trim());
    parts.join(".")
}

/// The text of `line` before the first `stop` outside quotes; `None` when there is no
/// such `stop`, or a comment starts first.
fn until_unquoted(line: &str, stop: char) -> Option<&str> {
    let mut quote = None;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, '#') => return None,
            (None, _) if c == stop => return Some(&line[..i]),
            _ => {}
        }
    }
    None
}

/// `offset`, moved back to a character boundary within `text`.
fn boundary(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_read_under_its_table() {
        let text = "image = \"a\"\n[resources]\nmemory = \"1\"\nmemory = \"2\"\n";
        assert_eq!(key_at(text, text.rfind("memory").unwrap()).as_deref(), Some("resources.memory"));
        assert_eq!(key_at(text, 0).as_deref(), Some("image"));
    }

    #[test]
    fn dotted_and_quoted_keys_keep_their_spelling() {
        let text = "[a . b]\n\"x.y\" . z = 1 # c = d\n";
        assert_eq!(key_at(text, text.find("\"x").unwrap()).as_deref(), Some("a.b.\"x.y\".z"));
        assert_eq!(key_at(text, 1).as_deref(), Some("a.b"));
        assert_eq!(key_at("[[servers]]\n", 3).as_deref(), Some("servers"));
        assert_eq!(key_at("[resources\n", 10).as_deref(), Some("resources"));
    }

    #[test]
    fn a_line_without_a_key_has_none() {
        let text = "volumes = [\n  \"a\",\n  5 x\n]\n";
        assert_eq!(key_at(text, text.find('x').unwrap()), None);
        assert_eq!(key_at("# a = b\n", 2), None);
        assert_eq!(key_at("", 0), None);
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_col("é = 1\nab", 8), (2, 2));
        assert_eq!(line_col("é", 1), (1, 1));
        assert_eq!(quote_key("a b"), "\"a b\"");
        assert_eq!(quote_key("pids-limit"), "pids-limit");
    }
}
