//! Container names: the ones users give (Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`,
//! an optional leading `/`) and the ones the daemon makes up when none is given
//! (`adjective_scientist`, as Docker's namesgenerator).

use rand::seq::IndexedRandom;

const LEFT: &[&str] = &[
    "admiring", "bold", "brave", "clever", "dazzling", "eager", "elegant", "festive", "gallant", "happy", "jolly",
    "keen", "kind", "lucid", "modest", "nifty", "optimistic", "peaceful", "quirky", "relaxed", "serene", "sharp",
    "stoic", "tender", "upbeat", "vibrant", "wizardly", "youthful", "zealous", "zen",
];

const RIGHT: &[&str] = &[
    "babbage", "bardeen", "curie", "darwin", "dijkstra", "einstein", "euler", "fermat", "feynman", "galileo",
    "goldberg", "hopper", "hypatia", "kepler", "knuth", "lamarr", "lamport", "liskov", "lovelace", "mccarthy",
    "meitner", "noether", "pasteur", "ritchie", "shannon", "thompson", "torvalds", "turing", "wozniak", "yalow",
];

/// A name nobody gave: `adjective_scientist`.
pub fn generate() -> String {
    let mut rng = rand::rng();
    format!("{}_{}", LEFT.choose(&mut rng).expect("non-empty"), RIGHT.choose(&mut rng).expect("non-empty"))
}

/// `name` without its optional leading `/`, if it is a valid container name.
pub fn validate(name: &str) -> Result<String, String> {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    let valid = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!("invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert!(validate("a").is_err());
        assert!(validate("-x").is_err());
        assert!(validate("we b").is_err());
        assert!(validate(&generate()).is_ok());
    }
}
