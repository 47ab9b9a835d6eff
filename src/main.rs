use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = facestream::cli::Cli::parse();
    match facestream::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("facestream: {e:#}");
            ExitCode::from(2)
        }
    }
}
