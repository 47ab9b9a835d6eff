//! Searching camera tracks: a few quality-checked embeddings per track (not every frame) are searched
//! in the camera's face sets, and the track gets **one identity decision** from all of them: per
//! identity, the quality-weighted mean similarity over the track's searched frames (a frame where the
//! identity is not among the best hits counts 0). An identity is decided when its mean reaches the
//! threshold, it was the frame's best hit above the threshold in at least [`MIN_AGREEING`] frames,
//! and its mean leads the next identity's by [`MARGIN`]. One `match` is published per track; it is
//! revised (a second `match` naming the identity it `revises`) only when another identity then
//! satisfies the same rule and leads the decided one's mean by [`REVISE_MARGIN`] with more agreeing
//! frames. A searched track that ends undecided is `unknown`.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::{FaceSets, SearchParams};
use crate::analyze::{Embedding, FaceAnalysis};
use crate::base::geometry::BoundingBox;
use crate::config::SearchConfig;
use crate::track::messages::{TrackMsg, TrackPhase};

/// Frames whose best hit must be the identity (above the threshold) before it is decided.
pub const MIN_AGREEING: u32 = 2;
/// How far the decided identity's mean must lead the next one's.
pub const MARGIN: f64 = 0.05;
/// How far another identity must then lead the decided one's mean to revise the decision.
pub const REVISE_MARGIN: f64 = 0.1;
/// Hits per set and frame taken as evidence.
const HITS_PER_FRAME: usize = 5;

/// What a track's searched frames say about one identity.
#[derive(Default, Clone)]
struct Evidence {
    /// Σ weight × similarity over the frames where it was among the hits.
    weighted: f64,
    /// Frames where it was the best hit and above the threshold.
    agreeing: u32,
    /// Its best hit so far (for the event's face id, fields, user id).
    best: Option<super::SearchHit>,
}

#[derive(Default)]
struct TrackState {
    searched: u32,
    best: f64,
    /// Σ weight of the searched frames.
    weight: f64,
    evidence: HashMap<String, Evidence>,
    /// The decided identity key (`set/identity`) and its mean when decided.
    decided: Option<(String, f64)>,
    /// The snapshot of the largest face searched, for the `unknown` event at the track's end.
    snapshot: Option<String>,
    snapshot_area: f32,
    /// The track's best embeddings by frame weight (for a stranger's lasting id).
    faces: Vec<(f64, Embedding)>,
    /// Some searched face was well lit and sharp (the quality gate's light and blur checks).
    seen_clearly: bool,
}

impl TrackState {
    fn mean(&self, key: &str) -> f64 {
        self.evidence
            .get(key)
            .map(|e| e.weighted / self.weight.max(1e-9))
            .unwrap_or(0.0)
    }

    /// Identities by mean, best first: (key, mean).
    fn ranked(&self) -> Vec<(String, f64)> {
        let mut r: Vec<(String, f64)> = self
            .evidence
            .keys()
            .map(|k| (k.clone(), self.mean(k)))
            .collect();
        r.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        r
    }
}

/// How much a searched frame counts: bigger and more frontal faces embed better.
fn frame_weight(m: &TrackMsg) -> f64 {
    let d = &m.detection;
    let size = (d.w.min(d.h) / 112.0).clamp(0.1, 1.0);
    let frontal = d.frontalness().max(0.2);
    (size * frontal) as f64
}

pub struct TrackMatcher {
    pub sets: Arc<FaceSets>,
    /// Lasting ids for unknown tracks and the rejections of "not this person" (`[unknown]`).
    pub strangers: Option<super::strangers::Strangers>,
    /// Camera id → face sets to search (replaced on reload).
    pub camera_sets: Arc<RwLock<HashMap<String, Vec<String>>>>,
    pub threshold: f32,
    pub cfg: SearchConfig,
    tracks: HashMap<(String, u64), TrackState>,
}

impl TrackMatcher {
    pub fn new(
        sets: Arc<FaceSets>,
        camera_sets: Arc<RwLock<HashMap<String, Vec<String>>>>,
        threshold: f32,
        cfg: SearchConfig,
    ) -> Self {
        Self {
            sets,
            strangers: None,
            camera_sets,
            threshold,
            cfg,
            tracks: HashMap::new(),
        }
    }

    pub fn wants(&self, camera: &str) -> bool {
        self.camera_sets
            .read()
            .map(|m| m.get(camera).is_some_and(|v| !v.is_empty()))
            .unwrap_or(false)
    }

    /// Worth an embedding: big enough and turned little enough.
    pub fn worth_embedding(&self, camera: &str, track: u64, face: &FaceAnalysis) -> bool {
        let used = self
            .tracks
            .get(&(camera.to_string(), track))
            .map(|t| t.searched)
            .unwrap_or(0);
        let d = &face.detection;
        let pose_ok = face.pose.is_none_or(|p| {
            p.yaw.abs() <= self.cfg.max_pose_deg && p.pitch.abs() <= self.cfg.max_pose_deg
        });
        (used as usize) < self.cfg.max_embeddings_per_track
            && d.w.min(d.h) >= self.cfg.min_face_px
            && pose_ok
    }

    /// Searches one embedding of a track; returns the match event it causes, if any (the first
    /// decision, or a decisive revision).
    pub fn search(
        &mut self,
        m: &TrackMsg,
        emb: &Embedding,
        quality: Option<&crate::analyze::Quality>,
        snapshot: impl Fn() -> Option<String>,
    ) -> Vec<MatchEvent> {
        let sets = self
            .camera_sets
            .read()
            .ok()
            .and_then(|c| c.get(&*m.camera).cloned())
            .unwrap_or_default();
        if let Err(e) = self.sets.refresh() {
            tracing::warn!(error = %e, "face sets unavailable");
            return vec![];
        }
        let threshold = self.threshold as f64;
        let state = self
            .tracks
            .entry((m.camera.to_string(), m.track_id))
            .or_default();
        state.searched += 1;
        // Without a quality reading the face counts as clear (as before the rule).
        state.seen_clearly |= quality.is_none_or(|q| {
            !q.reasons
                .iter()
                .any(|r| *r == "illumination" || *r == "blur")
        });
        let area = m.detection.w * m.detection.h;
        if state.snapshot.is_none() || area > state.snapshot_area {
            if let Some(jpeg) = snapshot() {
                state.snapshot = Some(jpeg);
                state.snapshot_area = area;
            }
        }
        // This frame's evidence: each identity's best similarity across the searched sets.
        let mut frame: HashMap<String, super::SearchHit> = HashMap::new();
        for set in &sets {
            let p = SearchParams {
                top_n: HITS_PER_FRAME,
                ..SearchParams::new(0.0)
            };
            let hits = match self.sets.search(set, emb, &p) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(camera = &*m.camera, set, error = %e, "track search failed");
                    continue;
                }
            };
            for mut h in hits {
                h.face_set_name = set.clone();
                let identity = h
                    .user_id
                    .clone()
                    .unwrap_or_else(|| h.external_image_id.clone());
                let key = format!("{set}/{identity}");
                if frame.get(&key).is_none_or(|o| h.similarity > o.similarity) {
                    frame.insert(key, h);
                }
            }
        }
        // "Not this person": an identity this face was rejected for is no evidence.
        if let Some(s) = &self.strangers {
            for key in s.rejected_for(&self.sets, emb, f64::from(s.cfg.threshold)) {
                frame.remove(&key);
            }
        }
        let w = frame_weight(m);
        state.weight += w;
        if let Some(s) = &self.strangers {
            state.faces.push((w, emb.clone()));
            state.faces.sort_by(|a, b| b.0.total_cmp(&a.0));
            state.faces.truncate(s.cfg.faces_per_identity);
        }
        let top = frame
            .iter()
            .max_by(|a, b| {
                a.1.similarity
                    .total_cmp(&b.1.similarity)
                    .then_with(|| b.0.cmp(a.0))
            })
            .map(|(k, h)| (k.clone(), h.similarity));
        for (key, hit) in frame {
            state.best = state.best.max(hit.similarity);
            let ev = state.evidence.entry(key.clone()).or_default();
            ev.weighted += w * hit.similarity;
            if top
                .as_ref()
                .is_some_and(|(k, s)| *k == key && *s >= threshold)
            {
                ev.agreeing += 1;
            }
            if ev
                .best
                .as_ref()
                .is_none_or(|b| hit.similarity > b.similarity)
            {
                ev.best = Some(hit);
            }
        }
        // The rule, on the track's evidence so far.
        let ranked = state.ranked();
        let Some((lead, lead_mean)) = ranked.first().cloned() else {
            return vec![];
        };
        let second = ranked.get(1).map(|r| r.1).unwrap_or(0.0);
        let agreeing = state.evidence[&lead].agreeing;
        let clears =
            lead_mean >= threshold && agreeing >= MIN_AGREEING && lead_mean - second >= MARGIN;
        let revises = match &state.decided {
            None if clears => None,
            Some((d, _)) if clears && *d != lead => {
                let (d_mean, d_agree) = (state.mean(d), state.evidence[d].agreeing);
                if lead_mean - d_mean >= REVISE_MARGIN && agreeing > d_agree {
                    Some(d.clone())
                } else {
                    return vec![];
                }
            }
            _ => return vec![],
        };
        state.decided = Some((lead.clone(), lead_mean));
        let Some(h) = state.evidence[&lead].best.clone() else {
            return vec![];
        };
        vec![MatchEvent {
            event_id: crate::base::time::event_id(),
            camera: m.camera.to_string(),
            track_id: m.track_id,
            event: "match",
            face_set: Some(h.face_set_name.clone()),
            face_id: Some(h.face_id),
            external_image_id: Some(h.external_image_id),
            external_fields: Some(h.external_fields),
            user_id: h.user_id,
            similarity: (lead_mean * 10000.0).round() / 10000.0,
            best_similarity: Some(h.similarity),
            margin: Some(((lead_mean - second) * 10000.0).round() / 10000.0),
            frames_agreeing: Some(agreeing),
            revises: revises.map(|k| k.split_once('/').map(|x| x.1.to_string()).unwrap_or(k)),
            unknown_id: None,
            threshold: self.threshold,
            searched: state.searched,
            timestamp_ms: m.pts_ms,
            wall_time_ms: m.wall_ms,
            bounding_box: BoundingBox::from(&m.detection),
            snapshot_jpeg: snapshot(),
        }]
    }

    /// The identity decided for a track so far, for its `face` events (as Frigate's `sub_label`).
    pub fn identity(&self, camera: &str, track: u64) -> Option<TrackIdentity> {
        let st = self.tracks.get(&(camera.to_string(), track))?;
        let (key, _) = st.decided.as_ref()?;
        let (set, name) = key.split_once('/')?;
        Some(TrackIdentity {
            name: name.to_string(),
            face_set: set.to_string(),
            similarity: (st.mean(key) * 10000.0).round() / 10000.0,
        })
    }

    /// At a track's end: `unknown` if it was searched and never matched; forgets the track.
    pub fn end(&mut self, m: &TrackMsg) -> Option<MatchEvent> {
        debug_assert_eq!(m.phase, TrackPhase::End);
        let st = self.tracks.remove(&(m.camera.to_string(), m.track_id))?;
        if st.searched == 0 || st.decided.is_some() {
            return None;
        }
        let unknown_id = self.strangers.as_ref().and_then(|s| {
            let faces: Vec<Embedding> = st.faces.iter().map(|(_, e)| e.clone()).collect();
            let seen = if st.seen_clearly {
                super::strangers::Seen::Clearly
            } else {
                super::strangers::Seen::Poorly
            };
            match s.identify_seen(&self.sets, &faces, seen) {
                Ok(who) => {
                    tracing::debug!(id = %who.id, new = who.new, similarity = who.similarity, "stranger");
                    Some(who.id)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot keep the stranger's lasting id");
                    None
                }
            }
        });
        Some(MatchEvent {
            similarity: st.best,
            unknown_id,
            threshold: self.threshold,
            searched: st.searched,
            timestamp_ms: m.pts_ms,
            wall_time_ms: m.wall_ms,
            snapshot_jpeg: st.snapshot,
            ..MatchEvent::unknown(&m.camera, m.track_id, BoundingBox::from(&m.detection))
        })
    }
}

impl MatchEvent {
    /// An `unknown` event of track `track_id`: nothing matched; the caller sets what it measured
    /// (similarity, threshold, times, the stranger's id, the snapshot).
    pub fn unknown(camera: &str, track_id: u64, bounding_box: BoundingBox) -> Self {
        MatchEvent {
            event_id: crate::base::time::event_id(),
            camera: camera.to_string(),
            track_id,
            event: "unknown",
            face_set: None,
            face_id: None,
            external_image_id: None,
            external_fields: None,
            user_id: None,
            similarity: 0.0,
            best_similarity: None,
            margin: None,
            frames_agreeing: None,
            revises: None,
            unknown_id: None,
            threshold: 0.0,
            searched: 0,
            timestamp_ms: 0,
            wall_time_ms: 0,
            bounding_box,
            snapshot_jpeg: None,
        }
    }
}

/// A track's decided identity, carried on its `face` events.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrackIdentity {
    /// The `user_id` of the matched faces, or their `external_image_id`.
    pub name: String,
    pub face_set: String,
    /// Its quality-weighted mean similarity over the track's searched frames.
    pub similarity: f64,
}

/// `<prefix>/<camera>/match` payload (docs/mqtt.md): a track matched an enrolled face, or its
/// track ended without reaching the threshold (`event: "unknown"`).
#[derive(Debug, Clone, Serialize)]
pub struct MatchEvent {
    /// Unique per event, kept when a delivery is repeated (at-least-once): subscribers dedupe on it.
    pub event_id: String,
    pub camera: String,
    pub track_id: u64,
    /// `match` or `unknown`
    pub event: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_set: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub face_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_image_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// For `match`: the identity's quality-weighted mean similarity over the track's searched
    /// frames; for `unknown`: the best similarity seen.
    pub similarity: f64,
    /// For `match`: the identity's best single-frame similarity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_similarity: Option<f64>,
    /// For `match`: how far its mean leads the next identity's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// For `match`: searched frames whose best hit it was, above the threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames_agreeing: Option<u32>,
    /// For a revised `match`: the identity the track was matched to before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revises: Option<String>,
    /// For `unknown`: the stranger's lasting id (`unknown-N`), the same for every track of the same
    /// unmatched face across cameras and restarts (`[unknown]`, docs/console.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown_id: Option<String>,
    pub threshold: f32,
    /// Embeddings of this track searched so far.
    pub searched: u32,
    pub timestamp_ms: u64,
    pub wall_time_ms: u64,
    pub bounding_box: BoundingBox,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_jpeg: Option<String>,
}
