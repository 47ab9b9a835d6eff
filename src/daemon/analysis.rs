//! The analysis stage: attributes and quality for the frames a track chose (start, updates, and
//! its best face at the end), turned into face events. Never runs on every frame.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::analyze::liveness::{decide, Accumulator, LivenessConfig};
use crate::analyze::snapshot::face_jpeg;
use crate::analyze::track_attributes::RunningAttributes;
use crate::analyze::{Analyzer, Attributes, FaceAnalysis, Mesh, Wanted, CONFIDENT_MASK};
use crate::detect::Detection;
use crate::messages::{AnalyzeItem, Event, FaceEvent, LiveFrame, LiveResultEvent, TrackPhase};
use crate::metrics::Metrics;
use crate::models::ModelError;
use crate::search::tracks::TrackMatcher;
use crate::shapes::{round4, FaceJson};

/// How much better (`face_goodness`) a track's face must be than the best its attributes were
/// read on to be read again.
const ATTRIBUTES_AGAIN_ON: f32 = 1.1;

/// Most track events prepared together, their meshes read in one run (the daemon's
/// [`AnalyzeStage::batch`]).
pub const MESH_BATCH: usize = 8;

/// Most faces whose age, gender and mask are read in one run of those models. One: runs of 4
/// were no faster here (session 30) and ONNX Runtime kept buffers for each batch size, ~100 MB
/// more resident under 8 cameras (docs/performance.md).
const ATTRIBUTE_BATCH: usize = 1;

/// A track's published attributes, not read on `face` (whose pose they carry).
fn published_json(
    p: &crate::analyze::track_attributes::Published,
    face: &FaceAnalysis,
) -> crate::shapes::AttributesJson {
    crate::shapes::AttributesJson {
        age: p.age.round(),
        gender: p.gender,
        mask: p.mask,
        mask_probability: round4(p.mask_probability),
        mask_state: p.mask_state,
        male_probability: round4(p.male_probability),
        yaw: face.pose.map(|q| crate::shapes::round2(q.yaw)),
        pitch: face.pose.map(|q| crate::shapes::round2(q.pitch)),
        roll: face.pose.map(|q| crate::shapes::round2(q.roll)),
        gender_confidence: Some(round4(p.gender_confidence)),
        mask_confidence: Some(round4(p.mask_confidence)),
    }
}

/// What the stage keeps of a track between its events; all of it is dropped at the track's end.
#[derive(Default)]
struct Held {
    /// Tracks not (yet) confirmed as a human face.
    unconfirmed: HashSet<(Arc<str>, u64)>,
    /// Each track's running age, gender and mask estimate.
    running: HashMap<(Arc<str>, u64), RunningAttributes>,
    /// The goodness of the best face each track's attributes were read on.
    read_on: HashMap<(Arc<str>, u64), f32>,
    /// The mesh of each track's latest analysed face: a track's end whose best face is that one
    /// (a short track's often is) takes it instead of reading it again. The frame is known by
    /// its allocation (timestamps can repeat: a raw H.264 stream has none), which the weak
    /// reference keeps from being reused without keeping the pixels.
    last_mesh: HashMap<(Arc<str>, u64), MeshRead>,
}

/// A face whose mesh was read: the frame (by its allocation), the detection, the mesh.
struct MeshRead {
    frame: std::sync::Weak<crate::frame::Frame>,
    detection: Detection,
    mesh: Mesh,
}

impl MeshRead {
    fn of(&self, m: &crate::messages::TrackMsg) -> bool {
        std::ptr::eq(self.frame.as_ptr(), Arc::as_ptr(&m.frame)) && self.detection == m.detection
    }
}

/// What `prepare` decides to read for one item of a batch.
#[derive(Default)]
struct Plan {
    /// Its face's mesh, in the batch's run of the mesh model.
    read_mesh: bool,
    /// The mesh already read on the same face (an end on the face of the track's last event).
    kept: Option<Mesh>,
    /// The same, when that event waits in this batch: the index of its item.
    same_as: Option<usize>,
    /// Age, gender and mask, in the batch's runs of those models.
    reads: bool,
}

impl Plan {
    fn has_mesh(&self) -> bool {
        self.read_mesh || self.kept.is_some() || self.same_as.is_some()
    }
}

/// An event with what was read for it, waiting to be handled.
type Ready = (AnalyzeItem, Prepared);

/// What is read for a track event before it is handled, in model runs shared with the other
/// events waiting beside it.
#[derive(Default)]
struct Prepared {
    mesh: Option<Mesh>,
    /// Whether this event reads age, gender and mask afresh (a clearly better face than the best
    /// they were read on), and what they read.
    reads_attributes: bool,
    attributes: Option<Attributes>,
}

impl Held {
    fn forget(&mut self, key: &(Arc<str>, u64)) {
        self.unconfirmed.remove(key);
        self.running.remove(key);
        self.read_on.remove(key);
        self.last_mesh.remove(key);
    }

    /// Entries held, all maps together.
    fn len(&self) -> usize {
        self.unconfirmed.len() + self.running.len() + self.read_on.len() + self.last_mesh.len()
    }
}

pub struct AnalyzeStage {
    /// Dropped aside (its sessions take ~20 ms to tear down).
    pub analyzer: crate::base::teardown::DropAside<Analyzer>,
    pub input: Receiver<AnalyzeItem>,
    pub out: Sender<Event>,
    pub snapshots: bool,
    pub metrics: Arc<Metrics>,
    /// Face-set search of tracks, when any camera names face sets.
    pub matcher: Option<TrackMatcher>,
    /// Most waiting events prepared together ([`MESH_BATCH`]); the events published do not
    /// depend on it (1 handles them one by one).
    pub batch: usize,
    /// The clock the frames' arrival was read on (`face_event_delay`).
    pub clock: Arc<dyn crate::base::clock::Clock>,
}

impl AnalyzeStage {
    pub fn run(mut self) -> Result<(), ModelError> {
        let want = Wanted {
            attributes: true,
            quality: true,
            antispoof: false,
            embedding: false,
            picture: false,
        };
        // A track is reported from its first frame confirmed as a human face (`confirm.rs`); until
        // then it waits (its later updates are checked again), and a track never confirmed ends
        // unreported. YuNet alone fires on some textures and animal faces.
        let mut held = Held::default();
        let mut live: HashMap<(Arc<str>, String), Accumulator> = HashMap::new();
        let input = self.input.clone();
        // Items waiting with their mesh and attributes already read: the models run once over
        // every face event waiting in the queue (the mesh: 2.2 ms a face at 8 against 3.3 ms one
        // by one).
        let mut ready: std::collections::VecDeque<Ready> = Default::default();
        // Events `prepare` left for the next batch, before any still in the queue.
        let mut left: Vec<AnalyzeItem> = vec![];
        loop {
            if ready.is_empty() {
                let mut batch = std::mem::take(&mut left);
                if batch.is_empty() {
                    let Ok(first) = input.recv() else { break };
                    batch.push(first);
                }
                while batch.len() < self.batch {
                    match input.try_recv() {
                        Ok(item) => batch.push(item),
                        Err(_) => break,
                    }
                }
                let (prepared, rest) = self.prepare(batch, &held)?;
                ready.extend(prepared);
                left = rest;
            }
            let Some((item, prepared)) = ready.pop_front() else {
                continue;
            };
            let m = match item {
                AnalyzeItem::Track(m) => m,
                AnalyzeItem::Live(l) => {
                    if let Some(ev) = self.live_frame(l, &mut live)? {
                        if self.out.send(Event::Liveness(Box::new(ev))).is_err() {
                            return Ok(());
                        }
                    }
                    continue;
                }
            };
            let key = (m.camera.clone(), m.track_id);
            let ending = m.phase == TrackPhase::End;
            let go_on = self.track_event(m, prepared, &mut held, want);
            // A track's last event: whatever path it took above, nothing of it is kept.
            if ending {
                held.forget(&key);
            }
            self.metrics
                .analysis_tracks_held
                .store(held.len() as u64, Ordering::Relaxed);
            if !go_on? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// One track event: analysed, confirmed, searched, published. False when the stage must stop
    /// (nobody takes events any more).
    fn track_event(
        &mut self,
        mut m: crate::messages::TrackMsg,
        prepared: Prepared,
        held: &mut Held,
        want: Wanted,
    ) -> Result<bool, ModelError> {
        let mask_threshold = self.analyzer.config().attributes.mask_threshold;
        let key = (m.camera.clone(), m.track_id);
        let waiting = held.unconfirmed.contains(&key);
        if waiting && m.phase == TrackPhase::End {
            return Ok(true);
        }
        let started = std::time::Instant::now();
        let Prepared {
            mesh,
            reads_attributes: read_attributes,
            attributes,
        } = prepared;
        if let Some(mesh) = &mesh {
            let read = MeshRead {
                frame: Arc::downgrade(&m.frame),
                detection: m.detection.clone(),
                mesh: mesh.clone(),
            };
            held.last_mesh.insert(key.clone(), read);
        }
        // Attributes were read in `prepare`, with the other events waiting.
        let want = Wanted {
            attributes: false,
            ..want
        };
        let mut analysed: Vec<FaceAnalysis> = self
            .analyzer
            .analyze_tracked(&m.frame, m.detection.clone(), mesh, want)?
            .into_iter()
            .collect();
        if let Some(face) = analysed.first_mut() {
            face.attributes = attributes;
        }
        if read_attributes {
            held.read_on
                .insert(key.clone(), crate::track::face_goodness(&m.detection));
        }
        let read_attributes =
            read_attributes && analysed.first().is_some_and(|f| f.attributes.is_some());
        let Some(face) = analysed.first() else {
            return Ok(true);
        };
        let confirmed = (m.phase == TrackPhase::Start || waiting)
            .then(|| self.confirmed(&m, face))
            .transpose()?;
        self.metrics
            .analysis_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        match confirmed {
            Some(false) => {
                tracing::debug!(
                    camera = &*m.camera,
                    track = m.track_id,
                    presence = face.presence,
                    "track not (yet) confirmed as a face"
                );
                held.unconfirmed.insert(key);
                return Ok(true);
            }
            // Its first confirmed frame announces the track.
            Some(true) if waiting => {
                held.unconfirmed.remove(&key);
                m.phase = TrackPhase::Start;
            }
            _ => {}
        }
        let mut json = FaceJson::from(face);
        // The track's running estimate, not this frame's reading (docs/mqtt.md).
        if let (Some(a), Some(out)) = (&face.attributes, json.attributes.as_mut()) {
            let d = &m.detection;
            let passed = face.quality.as_ref().is_none_or(|q| q.passed);
            let weight = (d.w.min(d.h) / 112.0).clamp(0.1, 1.0) * if passed { 1.0 } else { 0.5 };
            let p = held
                .running
                .entry(key.clone())
                .or_default()
                .add(a, weight, mask_threshold);
            out.gender = p.gender;
            out.male_probability = round4(p.male_probability);
            out.mask = p.mask;
            out.mask_probability = round4(p.mask_probability);
            out.mask_state = p.mask_state;
            out.age = p.age.round();
            out.gender_confidence = Some(round4(p.gender_confidence));
            out.mask_confidence = Some(round4(p.mask_confidence));
        } else if let Some(p) = held.running.get(&key).and_then(RunningAttributes::current) {
            // Not read on this face: the track's estimate as it stands, with this face's pose.
            json.attributes = Some(published_json(p, face));
        }
        if m.phase == TrackPhase::Start {
            self.metrics.tracks_started.fetch_add(1, Ordering::Relaxed);
        }
        let snapshot = (self.snapshots && m.phase == TrackPhase::End)
            .then(|| face_jpeg(&m.frame, &m.detection))
            .flatten();
        // Search first, so the face event carries the track's identity as decided so far.
        let mut matches = vec![];
        let mut identity = None;
        if let Some(matcher) = self.matcher.as_mut() {
            let wants = matcher.wants(&m.camera);
            if wants && matcher.worth_embedding(&m.camera, m.track_id, face) {
                let started = std::time::Instant::now();
                let emb = self
                    .analyzer
                    .embedder()?
                    .embed(&[(&*m.frame, &m.detection)])?
                    .pop()
                    .flatten();
                self.metrics
                    .analysis_us
                    .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                if let Some(emb) = emb {
                    let (frame, det) = (m.frame.clone(), m.detection.clone());
                    matches.extend(
                        matcher.search(&m, &emb, face.quality.as_ref(), || face_jpeg(&frame, &det)),
                    );
                }
            }
            identity = matcher.identity(&m.camera, m.track_id);
            // A track searched while its camera named face sets is decided at its end even when
            // the camera was removed or stopped searching meanwhile (a reload): its `unknown` was
            // lost, and its state kept for the life of the daemon.
            if m.phase == TrackPhase::End {
                matches.extend(matcher.end(&m));
            }
        }
        let ev = FaceEvent {
            event_id: crate::base::time::event_id(),
            camera: m.camera.to_string(),
            track_id: m.track_id,
            event: m.phase,
            timestamp_ms: m.pts_ms,
            wall_time_ms: m.wall_ms,
            first_seen_ms: m.first_ms,
            last_seen_ms: m.last_ms,
            frames: m.hits,
            bounding_box: json.bounding_box,
            score: json.score,
            landmarks: json.landmarks,
            frame_width: m.frame.width,
            frame_height: m.frame.height,
            attributes: json.attributes,
            quality: json.quality,
            snapshot_jpeg: snapshot,
            identity,
        };
        self.metrics.face_events.fetch_add(1, Ordering::Relaxed);
        if m.phase != TrackPhase::End {
            self.metrics
                .face_event_delay
                .observe_ms(self.clock.wall_ms().saturating_sub(m.wall_ms));
        }
        if read_attributes {
            self.metrics
                .attribute_readings
                .fetch_add(1, Ordering::Relaxed);
        }
        if self.out.send(Event::Face(Box::new(ev))).is_err() {
            return Ok(false);
        }
        for e in matches {
            if e.event == "match" {
                self.metrics.matches.fetch_add(1, Ordering::Relaxed);
            }
            if self.out.send(Event::Match(Box::new(e))).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The batch's track events with what they read, each model run once over every event
    /// that needs it (the attribute models in runs of [`ATTRIBUTE_BATCH`]). The mesh: with
    /// `tracking.pose = "mesh"` (the default) every event needs one (an end whose best face was
    /// already analysed takes that reading); with `"landmarks"` only events whose presence
    /// `confirmed` will consult (a new or still unconfirmed track's face of 64 px and more),
    /// the rest taking their pose from the detector's landmarks (`analyze_tracked`). Age, gender
    /// and mask (the costliest models) only on a clearly better face than the best they were
    /// read on: a running estimate gains little from a worse one. Decided in queue order, as
    /// handling the events one by one would decide.
    ///
    /// Returns the events prepared and those left for the next batch (an event whose reads
    /// depend on how an earlier one in the batch is confirmed, and all after it).
    fn prepare(
        &mut self,
        mut batch: Vec<AnalyzeItem>,
        held: &Held,
    ) -> Result<(Vec<Ready>, Vec<AnalyzeItem>), ModelError> {
        let started = std::time::Instant::now();
        let cfg = self.analyzer.config();
        let every = cfg.tracking.pose == crate::config::PoseSource::Mesh;
        let mut plans: Vec<Plan> = Vec::with_capacity(batch.len());
        let mut read_on: HashMap<(Arc<str>, u64), f32> = HashMap::new();
        // Each track's latest event in this batch: its index, and whether the track may still
        // wait unconfirmed after it (known only once that event is handled).
        let mut latest: HashMap<(Arc<str>, u64), (usize, bool)> = HashMap::new();
        for item in &batch {
            let AnalyzeItem::Track(m) = item else {
                plans.push(Plan::default());
                continue;
            };
            let key = (m.camera.clone(), m.track_id);
            let earlier_here = latest.get(&key).copied();
            // Whether the track waits unconfirmed when this event is handled.
            let waiting = match earlier_here {
                // Ends unreported (`track_event`): nothing to read.
                None if held.unconfirmed.contains(&key) && m.phase == TrackPhase::End => {
                    plans.push(Plan::default());
                    continue;
                }
                None => held.unconfirmed.contains(&key),
                // Unknown here when an earlier event of the track in this batch is to confirm
                // it. What an end reads (nothing when the track ends unreported) and whether an
                // event with `"landmarks"` reads the mesh depend on it: such an event is left for
                // the next batch.
                Some((_, unsure)) if unsure && (m.phase == TrackPhase::End || !every) => break,
                Some((_, unsure)) => unsure,
            };
            let earlier_here = earlier_here.map(|(j, _)| j);
            let checked = m.phase == TrackPhase::Start || waiting;
            let decides = presence_decides(&cfg.detector, &m.detection);
            let ends_here = every && m.phase == TrackPhase::End;
            // The mesh of the track's latest analysed face: in `held` unless a later event of
            // the track waits in this batch (then that one's, below).
            let kept = (ends_here && earlier_here.is_none())
                .then(|| held.last_mesh.get(&key))
                .flatten()
                .filter(|read| read.of(m))
                .map(|read| read.mesh.clone());
            let same_as = earlier_here
                .filter(|&j| ends_here && plans[j].has_mesh())
                .filter(|&j| match &batch[j] {
                    AnalyzeItem::Track(e) => {
                        Arc::ptr_eq(&e.frame, &m.frame) && e.detection == m.detection
                    }
                    AnalyzeItem::Live(_) => false,
                });
            latest.insert(key.clone(), (plans.len(), checked && decides));
            let read_mesh = kept.is_none() && same_as.is_none() && (every || (decides && checked));
            let goodness = crate::track::face_goodness(&m.detection);
            let reads = read_on
                .get(&key)
                .or_else(|| held.read_on.get(&key))
                .is_none_or(|best| goodness > best * ATTRIBUTES_AGAIN_ON);
            if reads {
                read_on.insert(key, goodness);
            }
            plans.push(Plan {
                read_mesh,
                kept,
                same_as,
                reads,
            });
        }
        let rest = batch.split_off(plans.len());
        let faces = |pick: fn(&Plan) -> bool| -> Vec<(&crate::frame::Frame, &Detection)> {
            batch
                .iter()
                .zip(&plans)
                .filter_map(|(i, p)| match i {
                    AnalyzeItem::Track(m) if pick(p) => Some((&*m.frame, &m.detection)),
                    _ => None,
                })
                .collect()
        };
        let (mesh_faces, attribute_faces) = (faces(|p| p.read_mesh), faces(|p| p.reads));
        self.metrics
            .mesh_readings
            .fetch_add(mesh_faces.len() as u64, Ordering::Relaxed);
        self.metrics.attribute_runs.fetch_add(
            attribute_faces.chunks(ATTRIBUTE_BATCH).count() as u64,
            Ordering::Relaxed,
        );
        // The mesh beside the attribute models (each a few ms a face, none filling both cores).
        let (mesh_model, attribute_models) = self.analyzer.mesh_and_attribute_models()?;
        let (meshes, attributes) = std::thread::scope(|scope| {
            let meshes =
                (!mesh_faces.is_empty()).then(|| scope.spawn(|| mesh_model.landmarks(&mesh_faces)));
            let attributes = attribute_models.classify_runs(&attribute_faces, ATTRIBUTE_BATCH);
            let meshes = match meshes {
                Some(h) => crate::models::joined(h.join(), "mesh"),
                None => Ok(vec![]),
            };
            (meshes, attributes)
        });
        let (mut meshes, attributes) = (meshes?.into_iter(), attributes?);
        let mut attributes = attributes.into_iter();
        let mut prepared: Vec<Ready> = Vec::with_capacity(batch.len());
        for (i, plan) in batch.into_iter().zip(plans) {
            let mesh = match plan.same_as {
                Some(j) => prepared[j].1.mesh.clone(),
                None if plan.read_mesh => meshes.next(),
                None => plan.kept,
            };
            let p = Prepared {
                mesh,
                reads_attributes: plan.reads,
                attributes: if plan.reads { attributes.next() } else { None },
            };
            prepared.push((i, p));
        }
        self.metrics
            .analysis_us
            .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok((prepared, rest))
    }

    /// Whether a track's face is a human face: the mesh's presence, a confident mask, the second
    /// look (`confirm.rs`); faces too small for the mesh rest on the detector.
    fn confirmed(
        &mut self,
        m: &crate::messages::TrackMsg,
        face: &FaceAnalysis,
    ) -> Result<bool, ModelError> {
        let cfg = &self.analyzer.config().detector;
        let (min_presence, min_look) = (cfg.min_presence, cfg.min_second_look);
        if !presence_decides(cfg, &m.detection) || face.presence.unwrap_or(1.0) >= min_presence {
            return Ok(true);
        }
        let masked = face
            .attributes
            .as_ref()
            .is_some_and(|a| a.mask_probability >= CONFIDENT_MASK);
        if masked {
            return Ok(true);
        }
        if min_look <= 0.0 {
            return Ok(false);
        }
        let look = self.analyzer.second_look(&[(&*m.frame, &m.detection)])?;
        Ok(look.first().is_some_and(|&s| s >= min_look))
    }

    /// Feeds a live challenge; returns its result event when it is decided (or refused).
    fn live_frame(
        &mut self,
        l: LiveFrame,
        sessions: &mut HashMap<(Arc<str>, String), Accumulator>,
    ) -> Result<Option<LiveResultEvent>, ModelError> {
        let base = |track_id| LiveResultEvent {
            camera: l.camera.to_string(),
            request_id: l.request_id.clone(),
            track_id,
            result: None,
            error_code: None,
            error_msg: None,
        };
        if let Some(problem) = &l.error {
            return Ok(Some(LiveResultEvent {
                error_code: Some(crate::codes::frs::code(problem.kind)),
                error_msg: Some(problem.message.clone()),
                ..base(None)
            }));
        }
        let key = (l.camera.clone(), l.request_id.clone());
        let acc = sessions.entry(key.clone()).or_default();
        if let Some(frame) = &l.frame {
            let found = l
                .detection
                .clone()
                .map(|d| vec![(d, None)])
                .unwrap_or_default();
            acc.push(&mut self.analyzer, l.t_ms, frame.clone(), found)?;
        }
        let Some(request) = &l.done else {
            return Ok(None);
        };
        let acc = sessions.remove(&key).unwrap_or_default();
        // A live challenge has no clip-length rule: its length is the requested timeout.
        let cfg = LivenessConfig {
            min_duration_ms: 0,
            max_duration_ms: u64::MAX,
            ..Default::default()
        };
        let measured = acc.finish(&mut self.analyzer, &cfg, l.t_ms)?;
        Ok(Some(LiveResultEvent {
            result: Some(decide(&measured, request, &cfg)),
            ..base(l.track_id)
        }))
    }
}

/// Whether the mesh's presence takes part in confirming this face: the check is on and the face
/// is big enough for the mesh to judge. `confirmed` consults it only then, and with
/// `tracking.pose = "landmarks"` the mesh is read only then.
fn presence_decides(cfg: &crate::config::DetectorConfig, det: &crate::detect::Detection) -> bool {
    cfg.min_presence > 0.0 && !crate::analyze::confirm::too_small_for_mesh(det)
}
