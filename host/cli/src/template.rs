//! `inspect -f/--format`: the part of Docker's Go templates that scripts use on inspect
//! documents: text with `{{.Field.Sub}}` paths (`{{.}}` is the whole document), `{{json
//! .Path}}`, and map keys that are not identifiers through `{{index .Path "key"}}`.
//! Anything else (`range`, `if`, pipes) is refused with the construct named, not
//! printed wrongly.
//!
//! A value prints as Go's template prints it where that is plain: strings bare, numbers
//! and booleans as JSON, a missing field as `<no value>`; maps and lists print as JSON
//! (Go prints `map[…]`, which no script parses).

use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Field { path: Vec<String>, json: bool },
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| format!("template {text:?}: unclosed action"))?;
            parts.push(action(after[..close].trim_matches(|c: char| c == '-' || c.is_whitespace()), text)?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_owned()));
        }
        Ok(Template { parts })
    }

    /// The template applied to `doc`, with a newline as Docker's inspect adds one.
    pub fn render(&self, doc: &Value) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field { path, json } => {
                    let value = path.iter().try_fold(doc, |v, key| v.get(key));
                    match (value, json) {
                        (Some(v), true) => out.push_str(&v.to_string()),
                        (None, true) => out.push_str("null"),
                        (Some(Value::String(s)), false) => out.push_str(s),
                        (Some(Value::Null) | None, false) => out.push_str("<no value>"),
                        (Some(v), false) => out.push_str(&v.to_string()),
                    }
                }
            }
        }
        out.push('\n');
        out
    }
}

fn action(body: &str, text: &str) -> Result<Part, String> {
    let words: Vec<&str> = body.split_whitespace().collect();
    match words.as_slice() {
        [path] => Ok(Part::Field { path: path_of(path, text)?, json: false }),
        ["json", path] => Ok(Part::Field { path: path_of(path, text)?, json: true }),
        ["index", path, keys @ ..] if !keys.is_empty() => {
            let mut path = path_of(path, text)?;
            for key in keys {
                let key = key.strip_prefix('"').and_then(|k| k.strip_suffix('"')).ok_or_else(|| format!("template {text:?}: index takes quoted keys"))?;
                path.push(key.to_owned());
            }
            Ok(Part::Field { path, json: false })
        }
        _ => Err(format!("template {text:?}: {{{{{body}}}}} is not supported (fields as {{{{.A.B}}}}, {{{{json .A}}}} and {{{{index .A \"k\"}}}} are)")),
    }
}

fn path_of(word: &str, text: &str) -> Result<Vec<String>, String> {
    if word == "." {
        return Ok(Vec::new());
    }
    let Some(fields) = word.strip_prefix('.') else {
        return Err(format!("template {text:?}: {word:?} is not a field (fields start with a dot)"));
    };
    Ok(fields.split('.').map(str::to_owned).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::json!({
            "Name": "/web",
            "State": {"Status": "running", "Pid": 42, "OOMKilled": false},
            "NetworkSettings": {"Networks": {"my-net": {"IPAddress": "10.1.0.2"}}},
            "Mounts": [],
            "Config": {"Labels": {"com.example.tier": "front"}, "Domainname": null},
        })
    }

    fn render(template: &str) -> String {
        Template::parse(template).unwrap().render(&doc())
    }

    #[test]
    fn fields_print_bare_and_json_prints_json() {
        assert_eq!(render("{{.State.Status}} {{.State.Pid}} {{.State.OOMKilled}}"), "running 42 false\n");
        assert_eq!(render("{{ .Name }}"), "/web\n");
        assert_eq!(render("{{json .State}}"), "{\"OOMKilled\":false,\"Pid\":42,\"Status\":\"running\"}\n");
        assert_eq!(render("ip={{index .NetworkSettings.Networks \"my-net\" \"IPAddress\"}}"), "ip=10.1.0.2\n");
        assert_eq!(render("{{index .Config.Labels \"com.example.tier\"}}"), "front\n");
        assert_eq!(render("{{.Nope}} {{.Config.Domainname}} {{json .Nope}}"), "<no value> <no value> null\n");
        assert_eq!(render("{{.Mounts}}"), "[]\n");
    }

    #[test]
    fn what_is_not_supported_is_refused() {
        for bad in ["{{range .Mounts}}{{.Source}}{{end}}", "{{.State.Status | upper}}", "{{Name}}", "{{.A"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
