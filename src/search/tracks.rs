//! Searching camera tracks: a few quality-checked embeddings per track (not every frame) are searched
//! in the camera's face sets; the decision is over the whole track, with at most one `match` event per
//! track and identity, and `unknown` when a searched track ends below the threshold.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use super::{FaceSets, SearchParams};
use crate::analyze::{Embedding, FaceAnalysis};
use crate::api::shapes::BoundingBox;
use crate::config::SearchConfig;
use crate::messages::{MatchEvent, TrackMsg, TrackPhase};

#[derive(Default)]
struct TrackState {
    searched: u32,
    best: f64,
    announced: HashSet<String>,
    /// The snapshot of the largest face searched, for the `unknown` event at the track's end.
    snapshot: Option<String>,
    snapshot_area: f32,
}

pub struct TrackMatcher {
    pub sets: Arc<FaceSets>,
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

    /// Searches one embedding of a track; returns the match events it causes.
    pub fn search(
        &mut self,
        m: &TrackMsg,
        emb: &Embedding,
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
        let state = self
            .tracks
            .entry((m.camera.to_string(), m.track_id))
            .or_default();
        state.searched += 1;
        let area = m.detection.w * m.detection.h;
        if state.snapshot.is_none() || area > state.snapshot_area {
            if let Some(jpeg) = snapshot() {
                state.snapshot = Some(jpeg);
                state.snapshot_area = area;
            }
        }
        let mut out = vec![];
        for set in &sets {
            let p = SearchParams {
                top_n: 1,
                ..SearchParams::new(0.0)
            };
            let hits = match self.sets.search(set, emb, &p) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(camera = &*m.camera, set, error = %e, "track search failed");
                    continue;
                }
            };
            for h in hits {
                state.best = state.best.max(h.similarity);
                let identity = h
                    .user_id
                    .clone()
                    .unwrap_or_else(|| h.external_image_id.clone());
                if h.similarity >= self.threshold as f64
                    && state.announced.insert(format!("{set}/{identity}"))
                {
                    out.push(MatchEvent {
                        event_id: crate::messages::event_id(),
                        camera: m.camera.to_string(),
                        track_id: m.track_id,
                        event: "match",
                        face_set: Some(set.clone()),
                        face_id: Some(h.face_id),
                        external_image_id: Some(h.external_image_id),
                        external_fields: Some(h.external_fields),
                        user_id: h.user_id,
                        similarity: h.similarity,
                        threshold: self.threshold,
                        searched: state.searched,
                        timestamp_ms: m.pts_ms,
                        wall_time_ms: m.wall_ms,
                        bounding_box: BoundingBox::from(&m.detection),
                        snapshot_jpeg: snapshot(),
                    });
                }
            }
        }
        out
    }

    /// At a track's end: `unknown` if it was searched and never matched; forgets the track.
    pub fn end(&mut self, m: &TrackMsg) -> Option<MatchEvent> {
        debug_assert_eq!(m.phase, TrackPhase::End);
        let st = self.tracks.remove(&(m.camera.to_string(), m.track_id))?;
        (st.searched > 0 && st.announced.is_empty()).then(|| MatchEvent {
            event_id: crate::messages::event_id(),
            camera: m.camera.to_string(),
            track_id: m.track_id,
            event: "unknown",
            face_set: None,
            face_id: None,
            external_image_id: None,
            external_fields: None,
            user_id: None,
            similarity: st.best,
            threshold: self.threshold,
            searched: st.searched,
            timestamp_ms: m.pts_ms,
            wall_time_ms: m.wall_ms,
            bounding_box: BoundingBox::from(&m.detection),
            snapshot_jpeg: st.snapshot,
        })
    }
}
