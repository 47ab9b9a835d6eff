#![deny(clippy::unwrap_used)]

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// One malloc arena per core instead of glibc's eight: every thread that allocates (each camera,
/// each stage, ONNX Runtime's, the analysis models run side by side) otherwise gets an arena of its
/// own, whose freed memory stays there. 8 walking cameras at 10 detect fps: resident 467–517 →
/// 334–373 MB, CPU the same (docs/performance.md, session 32). `MALLOC_ARENA_MAX`, when set, is
/// glibc's own and wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    // SAFETY: mallopt only sets one of glibc's allocator tunables; no thread has started yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, cores.min(64) as libc::c_int);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// ONNX Runtime's Linux build carries Microsoft's telemetry client (OneCollector), which starts
/// with the runtime, before any session option could turn it off, and writes a session file
/// (`.ses`) into the temp dir at every start. A self-hosted face service reports to nobody: its
/// own switch, set before the runtime is loaded and before any thread starts. Set by the user,
/// theirs wins.
fn silence_onnx_runtime_telemetry() {
    if std::env::var_os("ORT_DISABLE_TELEMETRY").is_none() {
        std::env::set_var("ORT_DISABLE_TELEMETRY", "1");
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    silence_onnx_runtime_telemetry();
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
