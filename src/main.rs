#![deny(clippy::unwrap_used)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = facestream::cli::Cli::parse();
    // The daemon reports at `info` (a start summary, a line a minute); one-shot commands only warn.
    // RUST_LOG overrides both.
    let default = match cli.command {
        facestream::cli::Command::Run(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match facestream::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("facestream: {e:#}");
            ExitCode::from(2)
        }
    }
}
