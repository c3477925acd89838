//! Docker's way of showing things: sizes in decimal units with three significant digits
//! (`4.26MB`), times as "2 hours ago", tables in aligned columns.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use hostctl_api::units::{human_duration, human_size};

/// "2 hours ago" for a Unix time (go-units `HumanDuration` + " ago").
pub fn time_ago(unix_seconds: i64) -> String {
    let then = UNIX_EPOCH + Duration::from_secs(unix_seconds.max(0) as u64);
    let elapsed = SystemTime::now().duration_since(then).unwrap_or_default();
    format!("{} ago", human_duration(elapsed))
}

/// Rows in columns separated by three spaces, as Docker's tabwriter prints them.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

/// The 12-hex-digit short form of `sha256:<hex>` ids.
pub fn short_id(id: &str) -> String {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A     BB\nxxx   y\n");
    }
}

/// Print inspect documents: with `format` (`-f`), the template applied to each, else
/// the JSON array Docker prints.
pub fn print_inspected<T: serde::Serialize>(docs: &[T], format: Option<&str>) -> anyhow::Result<()> {
    match format {
        Some(text) => {
            let template = crate::template::Template::parse(text).map_err(anyhow::Error::msg)?;
            for doc in docs {
                print!("{}", template.render(&serde_json::to_value(doc)?));
            }
        }
        None => println!("{}", serde_json::to_string_pretty(docs)?),
    }
    Ok(())
}
