//! Dockerfile instructions applied to an image config: what `hostctl import --change`
//! and (later) `hostctl commit --change` accept, with Docker's syntax and the same set of
//! instructions (`CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `LABEL`, `STOPSIGNAL`, `USER`,
//! `VOLUME`, `WORKDIR`). `CMD`/`ENTRYPOINT` take the JSON exec form or the shell form
//! (which becomes `["/bin/sh", "-c", ...]`); `ENV` and `LABEL` take `key=value` words with
//! shell-style quoting (and `ENV key value` with one key).

use std::{collections::BTreeMap, str::FromStr};

use crate::config::{ContainerConfig, EmptyObject};

/// One parsed `--change` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    /// Ports as Docker keys them: `80/tcp`.
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    StopSignal(String),
    User(String),
    Volume(Vec<String>),
    Workdir(String),
}

/// Why a `--change` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChangeError {
    #[error(
        "change {change:?}: {instruction:?} cannot be used here; use one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR"
    )]
    Unsupported { change: String, instruction: String },
    #[error("change {change:?}: {reason}")]
    Invalid { change: String, reason: String },
}

impl FromStr for Change {
    type Err = ChangeError;

    fn from_str(s: &str) -> Result<Change, ChangeError> {
        let invalid = |reason: &str| ChangeError::Invalid {
            change: s.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = s.trim();
        let (keyword, rest) = match trimmed.split_once(char::is_whitespace) {
            Some((k, r)) => (k, r.trim()),
            None => (trimmed, ""),
        };
        if keyword.is_empty() {
            return Err(invalid("empty instruction"));
        }
        let keyword_upper = keyword.to_ascii_uppercase();
        if rest.is_empty() {
            return Err(invalid(&format!("{keyword_upper} needs an argument")));
        }
        let words = || shell_words(rest).map_err(invalid);
        let pairs = |what: &str| -> Result<Vec<(String, String)>, ChangeError> {
            words()?
                .into_iter()
                .map(|w| match w.split_once('=') {
                    Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
                    _ => Err(invalid(&format!("{what} expects key=value, got {w:?}"))),
                })
                .collect()
        };
        Ok(match keyword_upper.as_str() {
            "CMD" => Change::Cmd(command(rest)),
            "ENTRYPOINT" => Change::Entrypoint(command(rest)),
            "ENV" => {
                let first = rest.split(char::is_whitespace).next().unwrap_or_default();
                if first.contains('=') {
                    Change::Env(pairs("ENV")?)
                } else {
                    let value = rest[first.len()..].trim();
                    if value.is_empty() {
                        return Err(invalid("ENV expects key=value or \"key value\""));
                    }
                    Change::Env(vec![(first.to_string(), value.to_string())])
                }
            }
            "LABEL" => Change::Label(pairs("LABEL")?),
            "EXPOSE" => Change::Expose(
                words()?
                    .iter()
                    .map(|w| ports(w).map_err(|reason| invalid(&reason)))
                    .collect::<Result<Vec<_>, _>>()?
                    .concat(),
            ),
            "VOLUME" => Change::Volume(match serde_json::from_str::<Vec<String>>(rest) {
                Ok(list) if rest.starts_with('[') => list,
                _ => words()?,
            }),
            "USER" => Change::User(rest.to_string()),
            "WORKDIR" => Change::Workdir(rest.to_string()),
            "STOPSIGNAL" => Change::StopSignal(rest.to_string()),
            _ => {
                return Err(ChangeError::Unsupported {
                    change: s.to_string(),
                    instruction: keyword.to_string(),
                });
            }
        })
    }
}

impl Change {
    /// Applies the instruction to `config`, as the same Dockerfile line would.
    pub fn apply(&self, config: &mut ContainerConfig) {
        match self {
            Change::Cmd(cmd) => config.cmd = Some(cmd.clone()),
            Change::Entrypoint(ep) => config.entrypoint = Some(ep.clone()),
            Change::Env(pairs) => {
                let env = config.env.get_or_insert_with(Vec::new);
                for (key, value) in pairs {
                    let entry = format!("{key}={value}");
                    let prefix = format!("{key}=");
                    match env.iter_mut().find(|e| e.starts_with(&prefix) || *e == key) {
                        Some(existing) => *existing = entry,
                        None => env.push(entry),
                    }
                }
            }
            Change::Expose(ports) => {
                let map = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for port in ports {
                    map.insert(port.clone(), EmptyObject {});
                }
            }
            Change::Label(pairs) => {
                let map = config.labels.get_or_insert_with(BTreeMap::new);
                for (key, value) in pairs {
                    map.insert(key.clone(), value.clone());
                }
            }
            Change::Volume(paths) => {
                let map = config.volumes.get_or_insert_with(BTreeMap::new);
                for path in paths {
                    map.insert(path.clone(), EmptyObject {});
                }
            }
            Change::StopSignal(signal) => config.stop_signal = Some(signal.clone()),
            Change::User(user) => config.user = Some(user.clone()),
            Change::Workdir(dir) => {
                let joined = if dir.starts_with('/') {
                    dir.clone()
                } else {
                    let base = config.working_dir.as_deref().unwrap_or("/");
                    format!("{}/{dir}", base.trim_end_matches('/'))
                };
                config.working_dir = Some(joined);
            }
        }
    }
}

/// `["a","b"]` (exec form) or anything else (shell form).
fn command(rest: &str) -> Vec<String> {
    if rest.starts_with('[')
        && let Ok(list) = serde_json::from_str::<Vec<String>>(rest)
    {
        return list;
    }
    vec!["/bin/sh".to_string(), "-c".to_string(), rest.to_string()]
}

/// `80`, `53/udp`, `8000-8002/tcp` as Docker's port keys.
fn ports(word: &str) -> Result<Vec<String>, String> {
    let (range, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "EXPOSE {word:?}: protocol must be tcp, udp or sctp"
        ));
    }
    let port = |p: &str| match p.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!(
            "EXPOSE {word:?}: {p:?} is not a port number (1-65535)"
        )),
    };
    let (start, end) = match range.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => (port(range)?, port(range)?),
    };
    if start > end {
        return Err(format!("EXPOSE {word:?}: range ends before it starts"));
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// Splits on whitespace with shell quoting: `"..."` (with `\"` and `\\`), `'...'`, `\x`.
fn shell_words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote"),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote"),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote"),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash"),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Change {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cmd_takes_exec_and_shell_forms() {
        assert_eq!(
            parse(r#"CMD ["sh", "-c", "echo hi"]"#),
            Change::Cmd(strings(&["sh", "-c", "echo hi"]))
        );
        assert_eq!(
            parse("cmd echo hi"),
            Change::Cmd(strings(&["/bin/sh", "-c", "echo hi"]))
        );
        assert_eq!(
            parse("ENTRYPOINT [\"/bin/busybox\"]"),
            Change::Entrypoint(strings(&["/bin/busybox"]))
        );
        assert_eq!(
            parse("CMD [not json"),
            Change::Cmd(strings(&["/bin/sh", "-c", "[not json"]))
        );
    }

    #[test]
    fn env_and_label_take_quoted_pairs() {
        let env = parse(r#"ENV A=1 B="two words" C='x y'"#);
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            env,
            Change::Env(pairs(&[("A", "1"), ("B", "two words"), ("C", "x y")]))
        );
        assert_eq!(
            parse("ENV GREETING hello there"),
            Change::Env(pairs(&[("GREETING", "hello there")]))
        );
        assert_eq!(
            parse(r#"LABEL a.b=c "d e"=f"#),
            Change::Label(pairs(&[("a.b", "c"), ("d e", "f")]))
        );
    }

    #[test]
    fn expose_expands_ranges_and_defaults_to_tcp() {
        assert_eq!(
            parse("EXPOSE 80 53/udp 8000-8002"),
            Change::Expose(strings(&[
                "80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"
            ]))
        );
    }

    #[test]
    fn apply_sets_config_fields() {
        let mut c = ContainerConfig {
            env: Some(strings(&[crate::config::DEFAULT_PATH_ENV, "A=0"])),
            ..Default::default()
        };
        for s in [
            "ENV A=1 B=2",
            "CMD [\"sh\"]",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER 1000",
            "VOLUME /data /cache",
            "EXPOSE 80",
            "LABEL x=y",
            "STOPSIGNAL SIGTERM",
        ] {
            parse(s).apply(&mut c);
        }
        assert_eq!(
            c.env,
            Some(strings(&[crate::config::DEFAULT_PATH_ENV, "A=1", "B=2"]))
        );
        assert_eq!(c.cmd, Some(strings(&["sh"])));
        assert_eq!(c.working_dir.as_deref(), Some("/srv/app"));
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert_eq!(
            c.volumes.unwrap().keys().cloned().collect::<Vec<_>>(),
            strings(&["/cache", "/data"])
        );
        assert!(c.exposed_ports.unwrap().contains_key("80/tcp"));
        assert_eq!(c.labels.unwrap()["x"], "y");
        assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
    }

    #[test]
    fn refuses_unknown_instructions_and_bad_arguments() {
        let e = "RUN echo hi".parse::<Change>().unwrap_err();
        assert!(
            matches!(e, ChangeError::Unsupported { ref instruction, .. } if instruction == "RUN"),
            "{e}"
        );
        for bad in [
            "",
            "CMD",
            "ENV A",
            "LABEL novalue",
            "EXPOSE 0",
            "EXPOSE 80/icmp",
            "EXPOSE 90-80",
            "ENV A=\"open",
        ] {
            let e = bad.parse::<Change>().expect_err(bad);
            assert!(matches!(e, ChangeError::Invalid { .. }), "{bad}: {e}");
        }
    }
}
