//! The daemon: wires ingest → detect → track → analyze → publish on bounded channels, starts and
//! stops cameras (also on reload), and shuts down in stage order so every event is flushed.

pub mod analysis;
mod cameras;
pub mod http;
pub mod service;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::analyze::Analyzer;
use crate::base::clock::{Clock, RealClock};
use crate::base::teardown::DropAside;
use crate::config::{CameraConfig, Config, WhenFull};
use crate::detect::stage::DetectStage;
use crate::detect::DetectorPool;
use crate::ingest::queue::FrameQueues;
use crate::messages::Event;
use crate::metrics::Metrics;
use crate::models::{ModelError, SessionSettings};
use crate::publish::broker::EmbeddedBroker;
use crate::publish::jsonl::JsonlSink;
use crate::publish::mqtt::MqttSink;
use crate::publish::{PublishStage, Sink};
use crate::search::tracks::TrackMatcher;
use crate::search::FaceSets;
use crate::track::stage::{TrackStage, TrackedFrame};
use analysis::AnalyzeStage;
use cameras::{CameraStarter, CamerasRunning, RunningCamera, StartedCameras};

/// The tracker's embedder: MobileFaceNet whatever the face sets use (it only compares faces of one
/// camera a moment apart, and it is the faster of the two). Dropped aside (its session takes a few
/// ms to tear down).
struct Reid(DropAside<crate::analyze::embed::Embedder>);

impl crate::track::appearance::Reidentify for Reid {
    fn features(
        &mut self,
        frame: &crate::frame::Frame,
        det: &crate::detect::Detection,
    ) -> Option<Vec<f32>> {
        match self.0.embed(&[(frame, det)]) {
            Ok(mut v) => v.pop().flatten().map(|e| e.vector),
            Err(e) => {
                tracing::warn!(error = %e, "tracking embedder failed; overlap decides");
                None
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("{0}")]
    Ingest(#[from] crate::ingest::camera::IngestError),
    #[error("embedded broker: {0}")]
    Broker(std::io::Error),
    #[error("event file {path} (--events): {source}")]
    EventFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start thread: {0}")]
    Thread(std::io::Error),
    #[error("face sets (storage.dir): {0}")]
    FaceSets(crate::search::SetError),
    #[error("MQTT: {0}")]
    Publish(#[from] crate::publish::mqtt::PublishError),
    #[error("{0}")]
    History(crate::history::HistoryError),
}

fn camera_sets(cfg: &Config) -> HashMap<String, Vec<String>> {
    cfg.cameras
        .iter()
        .map(|c| (c.id.clone(), c.face_sets.clone()))
        .collect()
}

/// How this run differs from a live daemon.
pub struct RunOptions {
    /// Pace files in real time (they stand in for cameras); off for offline analysis.
    pub realtime_files: bool,
    /// Also write events to this JSONL file (`-` = standard output).
    pub jsonl: Option<PathBuf>,
    /// Only face events in the JSONL output.
    pub jsonl_faces_only: bool,
    /// Override the frame queue policy (offline analysis blocks instead of dropping).
    pub frame_policy: Option<WhenFull>,
    /// Every tracked frame, for annotated video output.
    pub tracked_frames: Option<Sender<TrackedFrame>>,
    /// Where every stage reads the time (tests inject a `ManualClock`).
    pub clock: Arc<dyn Clock>,
    /// Keep events in the history (`[events]`): the daemon does, offline analysis does not.
    pub history: bool,
    /// The console's live view, when the console is on.
    pub live_view: Option<Arc<crate::track::live_view::LiveView>>,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            realtime_files: true,
            jsonl: None,
            jsonl_faces_only: false,
            frame_policy: None,
            tracked_frames: None,
            clock: Arc::new(RealClock::default()),
            history: false,
            live_view: None,
        }
    }
}

pub struct Daemon {
    cfg: Config,
    opts: RunOptions,
    pub metrics: Arc<Metrics>,
    queues: Arc<FrameQueues>,
    /// None once shutting down (it holds a sender of the publish stage's channel).
    starter: Option<CameraStarter>,
    cameras: HashMap<String, RunningCamera>,
    running: Arc<CamerasRunning>,
    drain: Arc<AtomicBool>,
    camera_sets: Arc<RwLock<HashMap<String, Vec<String>>>>,
    /// A pool's whole camera list, set by the service after each round (Home Assistant removals).
    pub site_cameras: crate::publish::mqtt::SiteCameras,
    stages: Vec<(&'static str, JoinHandle<()>)>,
    _broker: Option<EmbeddedBroker>,
}

fn spawn(
    name: &'static str,
    f: impl FnOnce() + Send + 'static,
) -> Result<JoinHandle<()>, DaemonError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(DaemonError::Thread)
}

/// The detector, the analysis models and the tracker's embedder, open.
type OpenModels = (DetectorPool, Analyzer, Option<crate::analyze::Embedder>);

/// Every model the daemon runs, opened side by side (`models::opened_beside`) while GStreamer
/// loads its plugins: the detector's sessions, the analysis models and the tracker's
/// re-identification embedder (when `tracking.min_appearance` asks for it). Start-up then takes
/// about the slowest model's time, not the sum of all. The cameras start as soon as GStreamer
/// is ready (`start_cameras`), so they connect while the models load; a model that fails to
/// open fails the start and stops them.
fn open_models(
    cfg: &Config,
    settings: &SessionSettings,
    searches: bool,
    start_cameras: impl FnOnce() -> Result<StartedCameras, DaemonError> + Send,
) -> Result<(OpenModels, StartedCameras), DaemonError> {
    use crate::models::opened_beside;
    std::thread::scope(|scope| {
        let cameras = scope.spawn(|| {
            crate::ingest::gst::init()?;
            start_cameras()
        });
        let pool = scope.spawn(|| DetectorPool::open(settings, &cfg.detector));
        let reid = (cfg.tracking.min_appearance > 0.0).then(|| {
            scope.spawn(|| {
                crate::analyze::Embedder::open(settings, crate::config::EmbedderKind::Mobilefacenet)
            })
        });
        let analyzer = Analyzer::open_for_video(cfg, searches);
        let cameras = cameras.join().unwrap_or_else(|_| {
            Err(crate::ingest::camera::IngestError::Stream("GStreamer init panicked".into()).into())
        });
        let pool = opened_beside(pool.join(), settings, "detector");
        let reid = reid
            .map(|h| opened_beside(h.join(), settings, "re-identification"))
            .transpose();
        let cameras = cameras?;
        let models = (|| Ok::<_, DaemonError>((pool?, analyzer?, reid?)))();
        // On an error, dropping `cameras` stops them.
        Ok((models?, cameras))
    })
}

impl Daemon {
    pub fn start(cfg: Config, opts: RunOptions) -> Result<Self, DaemonError> {
        let broker = if cfg.mqtt.enabled && cfg.mqtt.embedded_broker {
            Some(EmbeddedBroker::start(cfg.mqtt.port).map_err(DaemonError::Broker)?)
        } else {
            None
        };
        let metrics = Arc::new(Metrics::default());
        let settings = SessionSettings::from_config(&cfg.models);
        // A daemon (history on) always searches: a reload or a pool round may give a camera face
        // sets later (before, a daemon started without any never searched the cameras added).
        let searches = opts.history
            || cfg.cluster.enabled
            || cfg.cameras.iter().any(|c| !c.face_sets.is_empty());
        let q = cfg.pipeline.stage_queue;
        let (events_tx, events_rx) = crossbeam_channel::bounded::<Event>(q);
        let queues = Arc::new(FrameQueues::default());
        let running = Arc::<CamerasRunning>::default();
        let enabled = cfg.cameras.iter().filter(|c| c.enabled).count();
        let starter = CameraStarter {
            pipeline: cfg.pipeline.clone(),
            decoder_threads: cfg.pipeline.decoder_threads_for(enabled),
            realtime_files: opts.realtime_files,
            policy: opts
                .frame_policy
                .unwrap_or(cfg.pipeline.frame_queue_when_full),
            clock: opts.clock.clone(),
            queues: queues.clone(),
            events: events_tx.clone(),
            metrics: metrics.clone(),
            running: running.clone(),
        };
        // The cameras connect while the models open; their frames wait in their queues. A model
        // problem still fails the start: the guard stops them again.
        let (models, mut started) = open_models(&cfg, &settings, searches, || {
            starter.start_all(&cfg, events_rx)
        })?;
        let (detector, analyzer, reid) = models;

        // The cameras this daemon watches (all configured ones, or in a pool those it holds).
        let camera_sets = Arc::new(RwLock::new(camera_sets(&cfg)));
        let site_cameras: crate::publish::mqtt::SiteCameras = Arc::new(RwLock::new(None));
        let mut sinks: Vec<Box<dyn Sink>> = vec![];
        let (live_tx, live_rx) = crossbeam_channel::bounded(64);
        if cfg.mqtt.enabled {
            let mut sink = MqttSink::new(
                &cfg.mqtt,
                metrics.clone(),
                Some(live_tx),
                opts.clock.clone(),
            )?;
            if cfg.cluster.enabled {
                // Every daemon of a pool hears every challenge: only the camera's holder answers.
                sink = sink.answering_only(camera_sets.clone());
            }
            if cfg.homeassistant.enabled {
                sink = sink.with_home_assistant(
                    &cfg.homeassistant,
                    camera_sets.clone(),
                    cfg.cluster.enabled.then(|| site_cameras.clone()),
                );
            }
            sinks.push(Box::new(sink));
        }
        if opts.history && cfg.events.enabled {
            let log = crate::history::EventLog::open(&cfg.storage).map_err(DaemonError::History)?;
            sinks.push(Box::new(crate::history::sink::HistorySink::new(
                Arc::new(log),
                &cfg.events,
                metrics.clone(),
            )));
        }
        if let Some(path) = &opts.jsonl {
            let sink = if path.as_os_str() == "-" {
                JsonlSink::new(
                    Box::new(std::io::stdout()),
                    &cfg.mqtt.topic_prefix,
                    opts.jsonl_faces_only,
                )
            } else {
                JsonlSink::create(path, &cfg.mqtt.topic_prefix, opts.jsonl_faces_only).map_err(
                    |source| DaemonError::EventFile {
                        path: path.clone(),
                        source,
                    },
                )?
            };
            sinks.push(Box::new(sink));
        }

        let events_rx = started.events();
        let (det_tx, det_rx) = crossbeam_channel::bounded(q);
        let (trk_tx, trk_rx) = crossbeam_channel::bounded(q);
        let drain = Arc::new(AtomicBool::new(false));
        let mut stages = vec![];
        stages.push((
            "publish",
            spawn("publish", move || {
                PublishStage {
                    input: events_rx,
                    sinks,
                }
                .run();
            })?,
        ));
        let matcher = if searches {
            let sets =
                Arc::new(FaceSets::open_storage(&cfg.storage).map_err(DaemonError::FaceSets)?);
            let threshold = cfg.track_threshold();
            let mut m = TrackMatcher::new(sets, camera_sets.clone(), threshold, cfg.search.clone());
            // Offline analysis leaves the stranger gallery alone: only the daemon names strangers.
            if cfg.unknown.enabled && opts.history {
                m.strangers = Some(
                    crate::search::strangers::Strangers::new(&cfg.unknown, cfg.models.embedder)
                        .with_metrics(metrics.clone()),
                );
            }
            Some(m)
        } else {
            None
        };
        let analyze = AnalyzeStage {
            analyzer: DropAside::new(analyzer),
            input: trk_rx,
            out: events_tx.clone(),
            snapshots: cfg.tracking.snapshot,
            metrics: metrics.clone(),
            matcher,
            batch: analysis::MESH_BATCH,
            clock: opts.clock.clone(),
        };
        stages.push((
            "analyze",
            spawn("analyze", move || {
                if let Err(e) = analyze.run() {
                    tracing::error!(error = %e, "analysis stage failed");
                }
            })?,
        ));
        let track = TrackStage {
            input: det_rx,
            out: trk_tx,
            cfg: cfg.tracking.clone(),
            tracked_frames: opts.tracked_frames.clone(),
            live_view: opts.live_view.clone(),
            live_requests: cfg.mqtt.enabled.then_some(live_rx),
            clock: opts.clock.clone(),
            reid: reid.map(|e| {
                Box::new(Reid(DropAside::new(e))) as Box<dyn crate::track::appearance::Reidentify>
            }),
        };
        stages.push(("track", spawn("track", move || track.run())?));
        let detect = DetectStage {
            detector: DropAside::new(detector),
            queues: queues.clone(),
            out: det_tx,
            batch_size: cfg.pipeline.batch_size,
            // Offline, whole batches only: events that do not depend on the machine's speed.
            batch_timeout: opts
                .realtime_files
                .then(|| Duration::from_millis(cfg.pipeline.batch_timeout_ms)),
            metrics: metrics.clone(),
            drain: drain.clone(),
            clock: opts.clock.clone(),
            zoom: Default::default(),
            zoom_settings: crate::detect::zoom::ZoomSettings {
                face_px: cfg.detector.zoom_face_px,
                full_every_ms: cfg.detector.zoom_full_every_ms,
            },
        };
        stages.push((
            "detect",
            spawn("detect", move || {
                if let Err(e) = detect.run() {
                    tracing::error!(error = %e, "detection stage failed");
                }
            })?,
        ));

        drop(events_tx);
        let cameras = started
            .take()
            .into_iter()
            .map(|rc| (rc.cfg.id.clone(), rc))
            .collect();
        Ok(Daemon {
            cfg: cfg.clone(),
            opts,
            metrics,
            queues,
            starter: Some(starter),
            cameras,
            running,
            drain,
            camera_sets,
            site_cameras,
            stages,
            _broker: broker,
        })
    }

    fn start_camera(&mut self, c: CameraConfig) -> Result<(), DaemonError> {
        let Some(starter) = &self.starter else {
            return Ok(());
        };
        let rc = starter.start(c.clone())?;
        self.cameras.insert(c.id, rc);
        Ok(())
    }

    fn stop_camera(&mut self, id: &str) {
        if let Some(rc) = self.cameras.remove(id) {
            rc.stop();
        }
    }

    /// Applies a new configuration's cameras: removed or changed cameras stop, new or changed ones
    /// start; unchanged cameras keep running untouched. Other settings need a restart.
    pub fn reload(&mut self, new: &Config) -> Result<(), DaemonError> {
        let wanted: HashMap<&str, &CameraConfig> = new
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .map(|c| (c.id.as_str(), c))
            .collect();
        let current: Vec<String> = self.cameras.keys().cloned().collect();
        for id in current {
            if wanted
                .get(id.as_str())
                .is_none_or(|c| **c != self.cameras[&id].cfg)
            {
                self.stop_camera(&id);
            }
        }
        for (id, c) in wanted {
            if !self.cameras.contains_key(id) {
                self.start_camera(c.clone())?;
            }
        }
        self.cfg.cameras = new.cameras.clone();
        if let Ok(mut m) = self.camera_sets.write() {
            *m = camera_sets(new);
        }
        Ok(())
    }

    /// Watches exactly `cameras` (a pool's round decided them): the others stop, changed ones
    /// restart, new ones start.
    pub fn set_cameras(&mut self, cameras: Vec<CameraConfig>) -> Result<(), DaemonError> {
        let mut cfg = self.cfg.clone();
        cfg.cameras = cameras;
        self.reload(&cfg)
    }

    /// The clock every stage reads (the API and the service's tasks read it too).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.opts.clock.clone()
    }

    pub fn cameras_finished(&self) -> bool {
        self.wait_cameras_finished(Duration::ZERO)
    }

    /// Waits until every camera has ended (files read to their end) or `timeout` passes; true
    /// when they have. Woken by the last camera's end, not polled.
    pub fn wait_cameras_finished(&self, timeout: Duration) -> bool {
        self.running.wait_all_ended(timeout)
    }

    pub fn camera_ids(&self) -> Vec<String> {
        self.cameras.keys().cloned().collect()
    }

    /// Stops cameras, lets every stage drain in order, and flushes the sinks.
    pub fn shutdown(mut self) {
        cameras::stop_all(self.cameras.drain().map(|(_, c)| c));
        self.drain.store(true, Ordering::Relaxed);
        // Detection may be waiting up to 100 ms for a frame that will not come.
        self.queues.ring();
        self.starter = None;
        // Stages were pushed publish, analyze, track, detect: join from the front of the flow.
        while let Some((name, h)) = self.stages.pop() {
            if h.join().is_err() {
                tracing::error!(stage = name, "stage panicked");
            }
        }
        let _ = &self.queues;
    }
}
