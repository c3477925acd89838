//! `hostctl images`: the images the daemon holds, as `docker images` lists them.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::Client;
use hostctl_api::types::ImageSummary;

use crate::output::{human_size, short_id, table, time_ago};

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Output format: "table" or "json" (one JSON object per line)
    #[arg(long, default_value = "table")]
    pub format: String,
}

/// One row per tag (an untagged image is one `<none>` row), as Docker.
fn rows(images: &[ImageSummary], no_trunc: bool) -> Vec<(String, String, String, &ImageSummary)> {
    let id = |img: &ImageSummary| if no_trunc { img.id.clone() } else { short_id(&img.id) };
    let mut rows = Vec::new();
    for img in images {
        if img.repo_tags.is_empty() {
            rows.push(("<none>".into(), "<none>".into(), id(img), img));
        }
        for tag in &img.repo_tags {
            let (repo, t) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
            rows.push((repo.to_owned(), t.to_owned(), id(img), img));
        }
    }
    rows
}

pub async fn run(client: &Client, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let images = client.images(args.all).await?;
    if args.quiet {
        let mut seen = std::collections::BTreeSet::new();
        for (_, _, id, _) in rows(&images, args.no_trunc) {
            if seen.insert(id.clone()) {
                println!("{id}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format.as_str() {
        "table" => {
            let cells: Vec<Vec<String>> = rows(&images, args.no_trunc)
                .into_iter()
                .map(|(repo, tag, id, img)| vec![repo, tag, id, time_ago(img.created), human_size(img.size.max(0) as u64)])
                .collect();
            print!("{}", table(&["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], &cells));
        }
        "json" => {
            for (repo, tag, id, img) in rows(&images, args.no_trunc) {
                let line = serde_json::json!({
                    "Repository": repo,
                    "Tag": tag,
                    "ID": id,
                    "CreatedSince": time_ago(img.created),
                    "Size": human_size(img.size.max(0) as u64),
                });
                println!("{line}");
            }
        }
        other => anyhow::bail!("--format {other:?}: expected \"table\" or \"json\""),
    }
    Ok(ExitCode::SUCCESS)
}
