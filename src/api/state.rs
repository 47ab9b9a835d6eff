//! The API's shared state: configuration, face sets, keys and signature guard, the pooled analyzers
//! that run inference (`max_concurrent` at once, the rest wait, then 503), and what every family of
//! endpoints (FRS, Baidu, Tencent) builds on: image sources, faces of an image, photo liveness.
//!
//! A slot is held by the work, not by the request: a job answered `FRS.0504` (or whose client has
//! gone) keeps its slot until it ends, so neither the work in flight nor the analyzer pool ever
//! exceeds `max_concurrent`. Downloads of `image_url`s happen before a slot is taken, under their
//! own cap (`max_downloads`), so a slow image host cannot starve other tenants of inference.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::auth::Guard;
use super::error::{fail, ApiError, ErrorKind};
use crate::analyze::Analyzer;
use crate::base::clock::Clock;
use crate::config::Config;
use crate::search::{FaceSets, SetError};

/// The tenant an authenticated request acts for (set by the authentication layer).
#[derive(Clone)]
pub struct Tenant(pub String);

pub struct ApiState {
    pub cfg: Config,
    pub sets: Arc<FaceSets>,
    pub(super) metrics: Arc<crate::metrics::Metrics>,
    pool: Mutex<Vec<Analyzer>>,
    permits: Arc<Semaphore>,
    downloads: Semaphore,
    /// key → (tenant, secret for signing)
    pub(super) keys: HashMap<String, (String, Option<String>)>,
    pub(super) guard: Guard,
    fetcher: super::body::Fetcher,
    /// Signed-request dates, rate limits and reply timestamps read this clock.
    pub(super) clock: Arc<dyn Clock>,
    /// The event history, opened on first use (`events.rs`, the console).
    pub(super) history: std::sync::OnceLock<Arc<crate::history::EventLog>>,
    /// The cameras' latest frames, when the console is on.
    pub live_view: Option<Arc<crate::track::live_view::LiveView>>,
    /// Console sign-ins.
    pub(super) sessions: super::console::Sessions,
}

impl ApiState {
    pub fn new(
        cfg: Config,
        sets: Arc<FaceSets>,
        metrics: Arc<crate::metrics::Metrics>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, crate::tls::TlsError> {
        let keys = cfg
            .api
            .keys
            .iter()
            .map(|k| (k.key.clone(), (k.tenant.clone(), k.secret.clone())))
            .collect();
        let guard = Guard::new(
            cfg.api.signature_skew_s,
            cfg.api.rate_per_second,
            cfg.api.burst,
        );
        Ok(Self {
            permits: Arc::new(Semaphore::new(cfg.api.max_concurrent)),
            downloads: Semaphore::new(cfg.api.max_downloads),
            pool: Mutex::new(vec![]),
            fetcher: super::body::Fetcher::new(&cfg.api)?,
            cfg,
            sets,
            keys,
            guard,
            metrics,
            clock,
            history: std::sync::OnceLock::new(),
            live_view: None,
            sessions: super::console::Sessions::default(),
        })
    }

    /// The event history (blocking on first use: call off the async workers).
    pub fn history(&self) -> Result<Arc<crate::history::EventLog>, crate::history::HistoryError> {
        if let Some(h) = self.history.get() {
            return Ok(h.clone());
        }
        let log = Arc::new(crate::history::EventLog::open(&self.cfg.storage)?);
        Ok(self.history.get_or_init(|| log).clone())
    }

    /// The request's `<prefix>_base64` / `_file` / `_url` image, with an http(s) URL already
    /// downloaded (at most `images.max_file_bytes`).
    pub async fn image_source(
        &self,
        body: &super::body::Form,
        prefix: &str,
    ) -> Result<super::body::ImageSource, ApiError> {
        self.source_within(body, prefix, self.cfg.images.max_file_bytes)
            .await
    }

    /// As [`Self::image_source`], downloading at most `limit` bytes (clips have their own limit).
    pub async fn source_within(
        &self,
        body: &super::body::Form,
        prefix: &str,
        limit: u64,
    ) -> Result<super::body::ImageSource, ApiError> {
        match super::body::image_source(&self.cfg, &self.fetcher, body, prefix)? {
            super::body::ImageSource::Url(remote) => Ok(super::body::ImageSource::Bytes(
                self.download(remote, limit).await?,
            )),
            other => Ok(other),
        }
    }

    /// Downloads outside the inference slots, at most `api.max_downloads` at once.
    async fn download(&self, remote: super::body::Remote, limit: u64) -> Result<Vec<u8>, ApiError> {
        let _slot = tokio::time::timeout(
            Duration::from_millis(self.cfg.api.queue_timeout_ms),
            self.downloads.acquire(),
        )
        .await
        .map_err(|_| busy("image_url downloads"))?
        .map_err(|_| busy("image_url downloads"))?;
        let running = Running::enter(&self.metrics, |m| &m.api_downloads_running);
        tokio::task::spawn_blocking(move || {
            let _running = running;
            remote.fetch(limit)
        })
        .await
        .map_err(|_| fail(ErrorKind::Internal, "download task failed"))?
    }

    /// Every face of an image, largest first, at most `max`, with the image's size; "no face" is an
    /// error. (The Baidu and Tencent endpoints answer from this.)
    pub async fn faces(
        self: &Arc<Self>,
        src: super::body::ImageSource,
        want: crate::analyze::Wanted,
        max: usize,
    ) -> Result<(u32, u32, Vec<crate::analyze::FaceAnalysis>), ApiError> {
        let cfg = self.cfg.clone();
        self.infer(move |an| {
            let frame = super::body::load(&cfg, src, "image")?;
            let faces = largest_faces(an, &frame, want, max)?;
            Ok((frame.width, frame.height, faces))
        })
        .await
    }

    /// Passive (one photo) liveness of the largest face: FRS `live-detect-face`, Tencent
    /// `DetectLiveFace`.
    pub async fn photo_liveness(
        self: &Arc<Self>,
        src: super::body::ImageSource,
    ) -> Result<crate::shapes::LiveFaceResult, ApiError> {
        let cfg = self.cfg.clone();
        self.infer(move |an| {
            let frame = super::body::load(&cfg, src, "image")?;
            let want = crate::analyze::Wanted {
                antispoof: true,
                ..Default::default()
            };
            let face = largest_faces(an, &frame, want, 1)?.remove(0);
            let real = face.real_score.unwrap_or(0.0);
            Ok(crate::shapes::LiveFaceResult {
                alive: real >= crate::analyze::antispoof::PHOTO_LIVE_THRESHOLD,
                confidence: (real as f64 * 10000.0).round() / 10000.0,
                picture: crate::analyze::snapshot::face_jpeg(&frame, &face.detection)
                    .unwrap_or_default(),
            })
        })
        .await
    }

    /// Runs inference on a pooled analyzer, within the concurrency cap and the request timeout.
    /// The slot goes with the work: it is released when the work ends, not when the client is
    /// answered.
    pub async fn infer<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&mut Analyzer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(
            Duration::from_millis(self.cfg.api.queue_timeout_ms),
            self.permits.clone().acquire_owned(),
        )
        .await
        .map_err(|_| busy("inference"))?
        .map_err(|_| busy("inference"))?;
        let me = self.clone();
        let job = tokio::task::spawn_blocking(move || {
            let _slot = permit;
            let _running = Running::enter(&me.metrics, |m| &m.api_inference_running);
            me.metrics.api_inference_peak.fetch_max(
                me.metrics.api_inference_running.load(Ordering::Relaxed),
                Ordering::Relaxed,
            );
            let pooled = me
                .pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop();
            let mut an = match pooled {
                Some(a) => a,
                None => {
                    let a = Analyzer::open(&me.cfg)?;
                    me.metrics.api_analyzers.fetch_add(1, Ordering::Relaxed);
                    a
                }
            };
            let out = f(&mut an);
            me.pool
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(an);
            out
        });
        match tokio::time::timeout(Duration::from_millis(self.cfg.api.request_timeout_ms), job)
            .await
        {
            Err(_) => Err(fail(
                ErrorKind::TimedOut,
                "request timed out (its work finishes in the background, holding its slot)",
            )),
            Ok(Err(_)) => Err(fail(ErrorKind::Internal, "inference task failed")),
            Ok(Ok(r)) => r,
        }
    }
}

fn busy(what: &str) -> ApiError {
    fail(
        ErrorKind::Busy,
        format!("the service is busy ({what}); retry later"),
    )
}

/// Counts a running job in a gauge for as long as it lives (every path out, panics included).
struct Running {
    metrics: Arc<crate::metrics::Metrics>,
    gauge: fn(&crate::metrics::Metrics) -> &AtomicU64,
}

impl Running {
    fn enter(
        metrics: &Arc<crate::metrics::Metrics>,
        gauge: fn(&crate::metrics::Metrics) -> &AtomicU64,
    ) -> Self {
        gauge(metrics).fetch_add(1, Ordering::Relaxed);
        Self {
            metrics: metrics.clone(),
            gauge,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        (self.gauge)(&self.metrics).fetch_sub(1, Ordering::Relaxed);
    }
}

/// The `max` largest faces of a frame, largest first, analysed; only those are analysed. "No face"
/// is an error.
fn largest_faces(
    an: &mut Analyzer,
    frame: &crate::frame::Frame,
    want: crate::analyze::Wanted,
    max: usize,
) -> Result<Vec<crate::analyze::FaceAnalysis>, ApiError> {
    let mut found = an.detect_verified(frame)?;
    if found.is_empty() {
        return Err(crate::shapes::FaceError::NoFace {
            path: "image".into(),
        }
        .into());
    }
    found.sort_by(|(a, _), (b, _)| (b.w * b.h).total_cmp(&(a.w * a.h)));
    found.truncate(max);
    Ok(an.analyze_found(frame, found, want)?)
}

pub fn scoped(tenant: &str, name: &str) -> Result<String, ApiError> {
    if !crate::search::valid_set_name(name) || name.len() + tenant.len() + 2 > 64 {
        return Err(SetError::BadSetName(name.into()).into());
    }
    Ok(format!("{tenant}--{name}"))
}

pub fn unscoped(tenant: &str, v: &mut Value) {
    if let Some(s) = v
        .get("face_set_name")
        .and_then(|s| s.as_str())
        .and_then(|s| s.strip_prefix(&format!("{tenant}--")))
        .map(String::from)
    {
        v["face_set_name"] = Value::String(s);
    }
}

pub fn flag(body: &Map<String, Value>, keys: &[&str]) -> bool {
    keys.iter().any(|k| {
        body.get(*k).is_some_and(|v| {
            v.as_bool().unwrap_or(false) || v.as_str().is_some_and(|s| !s.is_empty())
        })
    })
}
