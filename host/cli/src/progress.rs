//! Streamed progress from the daemon (`load`, `import`), shown as Docker shows it: a bar
//! per layer while it loads when stderr is a terminal, and the outcome lines
//! ("Loaded image: busybox:latest") on stdout always.

use std::collections::HashMap;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hostctl_api::MessageStream;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Print `stream` to its end; returns the `stream`/`status` lines seen (the outcome).
pub async fn render(mut stream: MessageStream) -> anyhow::Result<Vec<String>> {
    let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix}: {msg:<14} [{bar:30}] {bytes}/{total_bytes}")
        .expect("valid template")
        .progress_chars("=> ");
    let mut by_id: HashMap<String, ProgressBar> = HashMap::new();
    let mut outcome = Vec::new();
    while let Some(message) = stream.next().await {
        let message = message?;
        if let Some(text) = &message.stream {
            bars.suspend(|| print!("{text}"));
            outcome.push(text.trim_end().to_owned());
            continue;
        }
        match (&message.id, &message.status, &message.progress_detail) {
            (Some(id), Some(status), Some(detail)) => {
                let bar = by_id.entry(id.clone()).or_insert_with(|| {
                    let bar = bars.add(ProgressBar::new(detail.total).with_style(style.clone()).with_prefix(id.clone()));
                    bar.set_message(status.clone());
                    bar
                });
                bar.set_length(detail.total);
                bar.set_position(detail.current);
                bar.set_message(status.clone());
            }
            (None, Some(status), None) => {
                bars.suspend(|| println!("{status}"));
                outcome.push(status.clone());
            }
            _ => {}
        }
    }
    for bar in by_id.values() {
        bar.finish();
    }
    Ok(outcome)
}

/// Read `path` (or stdin for `-`) as a stream of chunks for an upload.
pub async fn file_stream(path: &str) -> anyhow::Result<impl Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static> {
    use anyhow::Context;
    let reader: Box<dyn tokio::io::AsyncRead + Send + Sync + Unpin> = if path == "-" {
        Box::new(tokio::io::stdin())
    } else {
        Box::new(tokio::fs::File::open(path).await.with_context(|| format!("opening {path}"))?)
    };
    Ok(tokio_util::io::ReaderStream::with_capacity(reader, 256 * 1024).map(|r| r))
}
