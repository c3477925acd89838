//! `hostctl import`: make a one-layer image from a rootfs tarball (a file or `-` for
//! stdin), as `docker import` does, and print its ID.

use std::process::ExitCode;

use clap::Args;
use hostctl_api::{Client, ImportOptions};

use crate::progress::file_stream;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The tarball, or - for STDIN
    pub file: String,
    /// Name the image REPOSITORY[:TAG]
    pub reference: Option<String>,
    /// Apply Dockerfile instruction to the created image (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, VOLUME)
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
}

pub async fn run(client: &Client, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let options = ImportOptions {
        reference: args.reference,
        changes: args.changes,
        message: args.message,
        source: if args.file == "-" { "-".into() } else { args.file.clone() },
    };
    let mut stream = client.import(file_stream(&args.file).await?, &options).await?;
    // Progress comes as status + progressDetail; the outcome (the new image's ID) is a
    // bare status line, which is all `docker import` prints.
    while let Some(message) = stream.next().await {
        let message = message?;
        if let (Some(status), None) = (message.status, message.progress_detail) {
            println!("{status}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
