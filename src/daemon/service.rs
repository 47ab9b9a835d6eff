//! The daemon as a service: the pipeline plus every task around it — the `/metrics` listener, the
//! HTTP API, the per-minute summary, the systemd watchdog — and the signals (SIGTERM/SIGINT stop,
//! SIGHUP reloads). One shutdown signal reaches every task and each reports back before the
//! pipeline drains (the mini-redis pattern: a `watch` to say stop, an `mpsc` whose senders the
//! tasks hold, closed when the last one has finished).

use crate::search::store::database::Database;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

use super::{http, Daemon, RunOptions};
use crate::base::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;

/// How long stopping waits for the tasks to report back before it drains the pipeline anyway.
const TASKS_STOP_GRACE: Duration = Duration::from_secs(5);

/// The tasks around the pipeline: each is told to stop through one `watch` and holds a clone of
/// `done`, so `stop` knows when the last has finished.
pub struct Services {
    stop_tx: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
    done: mpsc::Sender<()>,
    done_rx: mpsc::Receiver<()>,
}

impl Services {
    /// Binds and starts the `/metrics` endpoint (`http.bind`) and the HTTP API (`api.bind`) when
    /// configured. Both are bound before this returns, so a port conflict fails the start naming
    /// the key, and a client may connect as soon as it returns. `bench-api` runs the API this way.
    pub async fn start(
        cfg: &Config,
        metrics: Arc<Metrics>,
        clock: Arc<dyn Clock>,
        live_view: Option<Arc<crate::track::live_view::LiveView>>,
    ) -> anyhow::Result<Services> {
        let (stop_tx, stop) = watch::channel(false);
        let (done, done_rx) = mpsc::channel::<()>(1);
        let services = Services {
            stop_tx,
            stop,
            done,
            done_rx,
        };
        if !cfg.http.bind.is_empty() {
            let listener = tokio::net::TcpListener::bind(&cfg.http.bind)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("http.bind: cannot listen on {}: {e}", cfg.http.bind)
                })?;
            let m = metrics.clone();
            services.spawn("metrics endpoint", async move {
                http::serve(listener, m).await.map_err(|e| e.to_string())
            });
        }
        if !cfg.api.bind.is_empty() {
            let sets = Arc::new(crate::search::FaceSets::open_storage(&cfg.storage).map_err(
                |e| {
                    if cfg.storage.url.is_empty() {
                        anyhow::anyhow!("storage.dir {}: {e}", cfg.storage.dir.display())
                    } else {
                        anyhow::anyhow!("storage.url: {e}")
                    }
                },
            )?);
            let api_cfg = cfg.clone();
            let listener = tokio::net::TcpListener::bind(&api_cfg.api.bind)
                .await
                .map_err(|e| {
                    anyhow::anyhow!("api.bind: cannot listen on {}: {e}", api_cfg.api.bind)
                })?;
            let tls = match (&api_cfg.api.tls_cert, &api_cfg.api.tls_key) {
                (Some(c), Some(k)) => Some(crate::tls::server_config(c, k)?),
                _ => None,
            };
            services.spawn("HTTP API", async move {
                let served = match tls {
                    Some(t) => match crate::tls::TlsListener::new(listener, t) {
                        Ok(l) => {
                            crate::api::http::serve_on(l, api_cfg, sets, metrics, clock, live_view)
                                .await
                        }
                        Err(e) => Err(e),
                    },
                    None => {
                        crate::api::http::serve_on(
                            listener, api_cfg, sets, metrics, clock, live_view,
                        )
                        .await
                    }
                };
                served.map_err(|e| e.to_string())
            });
        }
        Ok(services)
    }

    /// Runs `work` until it ends or the services stop; a failure is logged under `name`.
    pub fn spawn<F>(&self, name: &'static str, work: F)
    where
        F: Future<Output = Result<(), String>> + Send + 'static,
    {
        let (mut stop, done) = (self.stop.clone(), self.done.clone());
        tokio::spawn(async move {
            tokio::select! {
                r = work => if let Err(e) = r {
                    tracing::error!(task = name, error = %e, "task failed");
                },
                _ = stop.wait_for(|s| *s) => tracing::debug!(task = name, "task stopped"),
            }
            drop(done);
        });
    }

    /// Tells every task to stop and waits (at most `TASKS_STOP_GRACE`) until each has.
    pub async fn stop(self) {
        let Services {
            stop_tx,
            done,
            mut done_rx,
            ..
        } = self;
        let _ = stop_tx.send(true);
        drop(done);
        if tokio::time::timeout(TASKS_STOP_GRACE, done_rx.recv())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within {TASKS_STOP_GRACE:?}");
        }
    }
}

/// The configuration to reload on SIGHUP. A file that names no camera at all (emptied, truncated
/// or half-written by an editor) is refused rather than stopping every camera; `cameras = []`
/// says "stop them all" on purpose.
pub fn load_for_reload(path: &Path) -> Result<Config, crate::config::ConfigError> {
    let cfg = Config::load(path)?;
    if cfg.cameras.is_empty() {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let explicit =
            toml::from_str::<toml::Table>(&text).is_ok_and(|t| t.contains_key("cameras"));
        if !explicit {
            return Err(crate::config::invalid(
                "cameras",
                "the new file configures no camera; write `cameras = []` to stop them all on purpose",
            ));
        }
    }
    Ok(cfg)
}

/// Starts the pipeline and its tasks, tells systemd it is ready, serves until SIGTERM/SIGINT
/// (reloading `config_path` on SIGHUP), then stops every task and drains the pipeline.
pub async fn serve(
    cfg: Config,
    config_path: Option<PathBuf>,
    mut options: RunOptions,
) -> anyhow::Result<()> {
    if cfg.console.enabled && options.live_view.is_none() {
        options.live_view = Some(Arc::new(crate::track::live_view::LiveView::new(
            cfg.console.live_fps,
        )));
    }
    let live_view = options.live_view.clone();
    // In a pool the cameras come from the database: the file's are added there, and this daemon
    // starts with none and watches what its leases give it.
    let mut pool = if cfg.cluster.enabled {
        let (storage, cams) = (cfg.storage.clone(), cfg.cameras.clone());
        let (db, added) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
            let db = Database::shared(&storage)?;
            let added = crate::cluster::cameras::seed(&db, &cams)?;
            Ok((db, added))
        })
        .await??;
        tracing::info!(node = %cfg.cluster.node_id, added, "joined the camera pool");
        Some(crate::cluster::Pool::new(db, &cfg.cluster))
    } else {
        None
    };
    let mut start_cfg = cfg.clone();
    if pool.is_some() {
        start_cfg.cameras.clear();
    }
    let mut daemon = Daemon::start(start_cfg, options)?;
    let mut rounds = tokio::time::interval(
        pool.as_ref()
            .map_or(Duration::from_secs(3600), crate::cluster::Pool::tick_every),
    );
    let tasks = Services::start(&cfg, daemon.metrics.clone(), daemon.clock(), live_view).await?;
    // One line a minute: what the daemon did in the last minute.
    let m = daemon.metrics.clone();
    tasks.spawn("minute summary", async move {
        let every = Duration::from_secs(60);
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        let mut before = m.totals();
        loop {
            tick.tick().await;
            let now = m.totals();
            tracing::info!(
                "last minute: {}",
                now.summary_since(&before, every.as_secs_f64())
            );
            before = now;
        }
    });
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
    let mut usec = 0u64;
    if sd_notify::watchdog_enabled(false, &mut usec) {
        let m = daemon.metrics.clone();
        tasks.spawn("watchdog", async move {
            let mut tick = tokio::time::interval(Duration::from_micros(usec / 2));
            loop {
                tick.tick().await;
                // Only a pipeline that still moves keeps the watchdog quiet.
                if http::healthy(&m) {
                    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Watchdog]);
                }
            }
        });
    }
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = rounds.tick(), if pool.is_some() => {
                let Some(mut p) = pool.take() else { continue };
                let (p, cameras) = tokio::task::spawn_blocking(move || {
                    let cameras = p.tick();
                    (p, cameras)
                })
                .await?;
                *daemon
                    .metrics
                    .cluster
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(p.health());
                if let (Some(site), Ok(mut s)) = (p.site(), daemon.site_cameras.write()) {
                    *s = Some(site.clone());
                }
                pool = Some(p);
                let before = daemon.camera_ids();
                if let Err(e) = daemon.set_cameras(cameras) {
                    tracing::error!(error = %e, "cannot start the cameras this daemon holds");
                }
                let mut after = daemon.camera_ids();
                let mut was = before;
                after.sort();
                was.sort();
                if after != was {
                    tracing::info!(cameras = ?after, "cluster: cameras this daemon watches");
                }
            }
            _ = hup.recv() => {
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Reloading]);
                match config_path.as_deref().map(load_for_reload) {
                    // In a pool a reload adds the file's new cameras to the database; the rounds
                    // decide who watches them.
                    Some(Ok(new)) if pool.is_some() => {
                        let (storage, cams) = (new.storage.clone(), new.cameras.clone());
                        match tokio::task::spawn_blocking(move || crate::cluster::cameras::seed(&Database::shared(&storage)?, &cams)).await {
                            Ok(Ok(added)) => tracing::info!(added, "configuration reloaded: new cameras added to the pool"),
                            Ok(Err(e)) => tracing::error!(error = %e, "reload failed"),
                            Err(e) => tracing::error!(error = %e, "reload failed"),
                        }
                    }
                    Some(Ok(new)) => match daemon.reload(&new) {
                        Ok(()) => tracing::info!(cameras = ?daemon.camera_ids(), "configuration reloaded"),
                        Err(e) => tracing::error!(error = %e, "reload failed"),
                    },
                    Some(Err(e)) => tracing::error!(error = %e, "reload refused: the new configuration is invalid; keeping the old one"),
                    None => tracing::warn!("SIGHUP ignored: running the embedded default, there is no file to reload"),
                }
                let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Ready]);
            }
        }
    }
    let _ = sd_notify::notify(false, &[sd_notify::NotifyState::Stopping]);
    tracing::info!("stopping: the API and the other tasks first, then draining the pipeline and flushing events");
    if let Some(mut p) = pool.take() {
        // Hand the cameras to the pool first, so others take them while this daemon drains.
        tokio::task::spawn_blocking(move || p.drain()).await?;
    }
    tasks.stop().await;
    tokio::task::spawn_blocking(move || daemon.shutdown()).await?;
    Ok(())
}
