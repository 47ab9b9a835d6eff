//! The daemon's cameras: each on a thread of its own, started with where its frames and status go
//! ([`CameraStarter`]), counted while they run ([`CamerasRunning`]: `analyze` waits on the end of
//! its file), and stopped again if the daemon's start fails after they started
//! ([`StartedCameras`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};

use super::DaemonError;
use crate::base::clock::Clock;
use crate::config::{CameraConfig, Config, PipelineConfig, WhenFull};
use crate::ingest::camera::{Camera, CameraSettings, SourceOpener};
use crate::ingest::gst::GstOpener;
use crate::ingest::queue::FrameQueues;
use crate::messages::Event;
use crate::metrics::Metrics;

/// How many camera threads are still running, and a wake-up when one ends: `analyze` waits on
/// it for the end of its file (a 5 ms poll cost a 9-frame clip 2–3 ms of its ~50).
#[derive(Default)]
pub(super) struct CamerasRunning {
    count: Mutex<usize>,
    ended: Condvar,
}

/// Held by a camera thread: counts it out however it ends, a panic included.
struct CameraRunning(Arc<CamerasRunning>);

impl CamerasRunning {
    /// Waits until every camera has ended or `timeout` passes; true when they have.
    pub(super) fn wait_all_ended(&self, timeout: Duration) -> bool {
        // Only a count changes under the lock: a poisoned one still holds it.
        let count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        let (n, _) = self
            .ended
            .wait_timeout_while(count, timeout, |n| *n > 0)
            .unwrap_or_else(PoisonError::into_inner);
        *n == 0
    }
}

impl CameraRunning {
    fn new(running: &Arc<CamerasRunning>) -> Self {
        *running.count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        Self(running.clone())
    }
}

impl Drop for CameraRunning {
    fn drop(&mut self) {
        let mut n = self.0.count.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        drop(n);
        self.0.ended.notify_all();
    }
}

pub(super) struct RunningCamera {
    pub(super) cfg: CameraConfig,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl RunningCamera {
    /// Asks the camera's thread to stop, without waiting for it.
    fn tell_to_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Stops the camera and waits for its thread.
    pub(super) fn stop(self) {
        self.tell_to_stop();
        let _ = self.handle.join();
        tracing::info!(camera = %self.cfg.id, "camera stopped");
    }
}

/// Stops cameras side by side: every one told first, then each waited for.
pub(super) fn stop_all(cameras: impl IntoIterator<Item = RunningCamera>) {
    let cameras: Vec<RunningCamera> = cameras.into_iter().collect();
    cameras.iter().for_each(RunningCamera::tell_to_stop);
    cameras.into_iter().for_each(RunningCamera::stop);
}

/// What a camera thread is started with: where its frames and status go, how files are read.
/// Built before the models open, so that cameras connect (an RTSP handshake, a file's demuxer
/// and decoder) while they load.
pub(super) struct CameraStarter {
    pub(super) pipeline: PipelineConfig,
    /// Threads of each camera's decoder, chosen at the start (`decoder_threads_for`).
    pub(super) decoder_threads: u32,
    pub(super) realtime_files: bool,
    pub(super) policy: WhenFull,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) queues: Arc<FrameQueues>,
    pub(super) events: Sender<Event>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) running: Arc<CamerasRunning>,
}

impl CameraStarter {
    pub(super) fn start(&self, c: CameraConfig) -> Result<RunningCamera, DaemonError> {
        let mut settings = CameraSettings::new(&c, &self.pipeline, self.realtime_files);
        settings.decoder_threads = self.decoder_threads;
        let queue = self
            .queues
            .add(settings.id.clone(), self.pipeline.frame_queue, self.policy);
        let stop = Arc::new(AtomicBool::new(false));
        let opener: Box<dyn SourceOpener> = Box::new(GstOpener {
            rtsp_tcp_only: self.pipeline.rtsp_tcp_only,
        });
        let events = self.events.clone();
        let camera = Camera::new(
            settings,
            opener,
            self.clock.clone(),
            queue,
            Box::new(move |ev| {
                let _ = events.send(Event::Status(ev));
            }),
            self.metrics.clone(),
            stop.clone(),
        );
        let running = CameraRunning::new(&self.running);
        let handle = std::thread::Builder::new()
            .name(format!("camera-{}", c.id))
            .spawn(move || {
                let _running = running;
                camera.run();
            })
            .map_err(DaemonError::Thread)?;
        tracing::info!(camera = %c.id, uri = %crate::ingest::cause::mask_uri(&c.uri), "camera started");
        Ok(RunningCamera {
            cfg: c,
            stop,
            handle,
        })
    }

    /// Every enabled camera of `cfg`, before the daemon is whole: `events` is the receiving end
    /// of their status channel, held until the publish stage takes it.
    pub(super) fn start_all(
        &self,
        cfg: &Config,
        events: Receiver<Event>,
    ) -> Result<StartedCameras, DaemonError> {
        let mut started = StartedCameras {
            cameras: vec![],
            events: Some(events),
        };
        for c in cfg.cameras.iter().filter(|c| c.enabled) {
            started.cameras.push(self.start(c.clone())?);
        }
        Ok(started)
    }
}

/// Cameras started while the daemon is still starting: stopped again if the start fails.
pub(super) struct StartedCameras {
    cameras: Vec<RunningCamera>,
    events: Option<Receiver<Event>>,
}

impl StartedCameras {
    /// The status channel's receiving end, for the publish stage. Taken once, by the start
    /// that holds this (again: a receiver nothing sends to).
    pub(super) fn events(&mut self) -> Receiver<Event> {
        self.events.take().unwrap_or_else(crossbeam_channel::never)
    }

    /// The cameras, now owned by the daemon.
    pub(super) fn take(&mut self) -> Vec<RunningCamera> {
        std::mem::take(&mut self.cameras)
    }
}

impl Drop for StartedCameras {
    fn drop(&mut self) {
        // The channel goes first: a camera blocked sending its status, with no stage to read
        // it, would never see its stop.
        self.events = None;
        stop_all(self.cameras.drain(..));
    }
}
