//! serde's and toml's error messages in plain words: `invalid type: string "x", expected
//! i64` becomes `expected an integer, found a string "x"`. serde formats these messages
//! in a fixed shape (`serde::de::Error::invalid_type` and its siblings), which is what
//! is read here; a message of another shape (a custom one) is kept as it is.

/// The field a `missing field` message names.
pub(super) fn missing_field(message: &str) -> Option<&str> {
    message.strip_prefix("missing field `")?.strip_suffix('`')
}

/// `message` without Rust's type names and serde's vocabulary.
pub(super) fn plain(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return format!("expected {}, found {}", expectation(expected), kind(found));
    }
    if let Some(rest) = message.strip_prefix("invalid value: ")
        && let Some((found, expected)) = rest.rsplit_once(", expected ")
    {
        return format!("expected {}, found {}", expectation(expected), value(found));
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((length, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, found {length} values", expectation(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((_, known)) = rest.split_once("`, ")
    {
        return match known.strip_prefix("expected ") {
            Some(known) => format!("unknown key, expected {}", names(known, false)),
            None => "unknown key, this table takes no keys".to_owned(),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((found, known)) = rest.split_once("`, expected ")
    {
        return format!("expected {}, found {found:?}", names(known, true));
    }
    if missing_field(message).is_some() {
        return "a required key is missing".to_owned();
    }
    match message {
        m if m.starts_with("duplicate field `") => "duplicate key".to_owned(),
        "integer number overflowed" => "the integer is too large".to_owned(),
        "wanted string or table" => "expected a string or a table".to_owned(),
        m => m.to_owned(),
    }
}

/// What serde's visitors expect, for people: `i64` is "an integer", `a sequence` is "a
/// list". An expectation written for people (a custom visitor's) is kept.
fn expectation(expected: &str) -> String {
    let words = match expected {
        "i8" => "an integer from -128 to 127",
        "i16" => "an integer from -32768 to 32767",
        "i32" => "an integer from -2147483648 to 2147483647",
        "i64" | "i128" | "isize" => "an integer",
        "u8" => "an integer from 0 to 255",
        "u16" => "an integer from 0 to 65535",
        "u32" => "an integer from 0 to 4294967295",
        "u64" | "u128" | "usize" => "a non-negative integer",
        "f32" | "f64" => "a number",
        "a borrowed string" | "path string" | "a string" => "a string",
        "a character" | "char" => "a character",
        "a sequence" => "a list",
        "a map" => "a table",
        "unit" => "nothing",
        e if e.starts_with("struct ") => "a table",
        e if e.starts_with("enum ") => "a name (a string)",
        e => return e.strip_prefix("a tuple of size ").map_or_else(|| e.to_owned(), |n| format!("a list of {n} values")),
    };
    words.to_owned()
}

/// What kind of value serde found (its `Unexpected`): `integer `5`` is "an integer"; a
/// string keeps its text, which is often the clue (`"yes"` for a boolean).
fn kind(found: &str) -> String {
    if let Some(text) = found.strip_prefix("string ") {
        return format!("a string {text}");
    }
    let words = match found.split_once(' ').map_or(found, |(first, _)| first) {
        "integer" => "an integer",
        "floating" => "a float",
        "boolean" => "a boolean",
        "character" => "a character",
        "map" => "a table",
        "sequence" => "a list",
        "unit" => "nothing",
        _ => return found.to_owned(),
    };
    words.to_owned()
}

/// The value serde found out of range: `integer `-1`` is "-1".
fn value(found: &str) -> String {
    match found.split_once(" `") {
        Some((_, text)) => text.trim_end_matches('`').to_owned(),
        None => found.strip_prefix("string ").unwrap_or(found).to_owned(),
    }
}

/// serde's list of names (`` one of `a`, `b` ``, `` `a` or `b` ``, `` `a` ``) as
/// `a, b` (keys) or `"a", "b"` (values).
fn names(list: &str, quoted: bool) -> String {
    let list = list.strip_prefix("one of ").unwrap_or(list);
    let names: Vec<String> = list
        .split(", ")
        .flat_map(|part| part.split(" or "))
        .map(|name| name.trim_matches('`'))
        .map(|name| if quoted { format!("{name:?}") } else { name.to_owned() })
        .collect();
    match names.as_slice() {
        [one] => one.clone(),
        [rest @ .., last] => format!("one of {}, {last}", rest.join(", ")),
        [] => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_words() {
        assert_eq!(plain("invalid type: string \"x\", expected i64"), "expected an integer, found a string \"x\"");
        assert_eq!(plain("invalid type: integer `64`, expected a string"), "expected a string, found an integer");
        assert_eq!(plain("invalid type: floating point `1.5`, expected u32"), "expected an integer from 0 to 4294967295, found a float");
        assert_eq!(plain("invalid type: sequence, expected struct Resources"), "expected a table, found a list");
        assert_eq!(plain("invalid type: map, expected a sequence"), "expected a list, found a table");
    }

    #[test]
    fn an_out_of_range_value_is_shown() {
        assert_eq!(plain("invalid value: integer `-1`, expected u64"), "expected a non-negative integer, found -1");
        assert_eq!(plain("invalid length 3, expected a tuple of size 2"), "expected a list of 2 values, found 3 values");
    }

    #[test]
    fn names_lose_their_backticks() {
        assert_eq!(plain("unknown field `memroy`, expected one of `memory`, `cpus`, `pids-limit`"), "unknown key, expected one of memory, cpus, pids-limit");
        assert_eq!(plain("unknown field `x`, expected `url` or `buffer`"), "unknown key, expected one of url, buffer");
        assert_eq!(plain("unknown field `x`, there are no fields"), "unknown key, this table takes no keys");
        assert_eq!(plain("unknown variant `rm-rf`, expected `chown` or `chmod`"), "expected one of \"chown\", \"chmod\", found \"rm-rf\"");
        assert_eq!(plain("unknown variant `x`, expected `only`"), "expected \"only\", found \"x\"");
    }

    #[test]
    fn other_messages_are_kept() {
        assert_eq!(plain("duplicate key"), "duplicate key");
        assert_eq!(plain("missing field `name`"), "a required key is missing");
        assert_eq!(missing_field("missing field `name`"), Some("name"));
        assert_eq!(plain("restart: bad"), "restart: bad");
    }
}
