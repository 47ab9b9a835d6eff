//! Track: a multi-face tracker per camera (SORT style: constant-velocity prediction, greedy IoU
//! association) with stable ids through short misses; each track keeps its best face. A detection
//! joins a track only if it also looks like it (`appearance.rs`: a face signature), and a scene cut
//! ends every track, so a track never carries over to another person.

pub mod appearance;
pub mod live_view;
pub mod messages;
pub mod stage;

use appearance::{cosine, CutDetector, Reidentify, Signature};

use std::sync::Arc;

use crate::config::TrackingConfig;
use crate::detect::Detection;
use crate::frame::Frame;
use messages::{TrackMsg, TrackPhase};

/// A cheap likeness at or above this is taken as the same face without asking the embedder.
const SURELY_ALIKE: f32 = 0.9;
/// The embedder is asked only about faces at least this big and this frontal (0..1, see
/// `Detection::frontalness`): small and profile faces embed too poorly to tell people apart (measured: the
/// same person turning away scored cosine 0.09, a small walker -0.04), so there the cheap
/// signature decides.
const REID_MIN_SIDE: f32 = 48.0;
const REID_MIN_FRONTAL: f32 = 0.3;
/// A track confirmed by the embedder this recently (ms) is not asked about again: a head turning
/// keeps the signature in doubt frame after frame, and one confirmation covers the moment. (A
/// different person stepping in within it is caught at the next check: the reference embedding is
/// only replaced by a confirmed one.)
const REID_MIN_INTERVAL_MS: u64 = 250;

fn readable(d: &Detection) -> bool {
    d.w.min(d.h) >= REID_MIN_SIDE && d.frontalness() >= REID_MIN_FRONTAL
}

struct Track {
    id: u64,
    det: Detection,
    /// Box velocity (x, y, w, h) in px per ms.
    vel: [f32; 4],
    first_ms: u64,
    last_ms: u64,
    hits: u32,
    announced: bool,
    last_sent_ms: u64,
    best_score: f32,
    best: (Detection, Arc<Frame>, u64, u64),
    /// What the track's face looks like (followed slowly as it turns or the light changes).
    sig: Option<Signature>,
    /// Who it is (an embedding), read when the signature is in doubt, from the last frame seen.
    features: Option<Vec<f32>>,
    last_frame: Arc<Frame>,
    /// Stream time of the track's last embedder confirmation.
    confirmed_ms: Option<u64>,
}

/// A cheap quality proxy to pick a track's best face: big, confident and frontal.
pub fn face_goodness(d: &Detection) -> f32 {
    let frontal = (1.0 - d.nose_offset()).clamp(0.0, 1.0);
    d.score * d.w.min(d.h).min(160.0) * frontal
}

pub struct Tracker {
    camera: Arc<str>,
    cfg: TrackingConfig,
    tracks: Vec<Track>,
    next_id: u64,
    cuts: CutDetector,
}

impl Tracker {
    pub fn new(camera: Arc<str>, cfg: TrackingConfig) -> Self {
        Self {
            camera,
            cfg,
            tracks: vec![],
            next_id: 1,
            cuts: CutDetector::default(),
        }
    }

    pub fn active(&self) -> usize {
        self.tracks.len()
    }

    /// Boxes and ids of the announced tracks seen in the latest frame (for drawing).
    pub fn visible(&self, pts_ms: u64) -> Vec<(u64, Detection)> {
        self.tracks
            .iter()
            .filter(|t| t.announced && t.last_ms == pts_ms)
            .map(|t| (t.id, t.det.clone()))
            .collect()
    }

    fn predicted(t: &Track, pts: u64) -> Detection {
        let dt = pts.saturating_sub(t.last_ms) as f32;
        let mut d = t.det.clone();
        d.x += t.vel[0] * dt;
        d.y += t.vel[1] * dt;
        d.w = (d.w + t.vel[2] * dt).max(1.0);
        d.h = (d.h + t.vel[3] * dt).max(1.0);
        d
    }

    /// Feeds one frame's detections; returns the track messages this frame causes.
    pub fn step(
        &mut self,
        pts: u64,
        wall: u64,
        dets: Vec<Detection>,
        frame: &Arc<Frame>,
    ) -> Vec<TrackMsg> {
        self.step_with(pts, wall, dets, frame, &mut None)
    }

    /// As [`Tracker::step`], with an embedder to settle doubtful likenesses.
    pub fn step_with(
        &mut self,
        pts: u64,
        wall: u64,
        dets: Vec<Detection>,
        frame: &Arc<Frame>,
        reid: &mut Option<Box<dyn Reidentify>>,
    ) -> Vec<TrackMsg> {
        let mut out = vec![];
        // A new scene: whoever is in it, they are not the people of the last one.
        if self.cfg.scene_cut_threshold > 0.0
            && self.cuts.is_cut(frame, self.cfg.scene_cut_threshold)
        {
            out.extend(self.expire(pts, true));
        }
        let appearance = self.cfg.min_appearance > 0.0;
        let sigs: Vec<Option<Signature>> = dets
            .iter()
            .map(|d| {
                if appearance {
                    Signature::of(frame, d)
                } else {
                    None
                }
            })
            .collect();
        // Greedy association on IoU with the predicted boxes, best pairs first; a pair whose faces
        // are not the same person is no pair (one person replaced by another at the same place).
        let mut det_features: Vec<Option<Option<Vec<f32>>>> = vec![None; dets.len()];
        let mut pairs = vec![];
        for ti in 0..self.tracks.len() {
            let p = Self::predicted(&self.tracks[ti], pts);
            for (di, d) in dets.iter().enumerate() {
                let iou = p.iou(d);
                if iou < self.cfg.min_iou {
                    continue;
                }
                let alike = match (&self.tracks[ti].sig, &sigs[di]) {
                    (Some(a), Some(b)) => a.similarity(b),
                    _ => 1.0,
                };
                let recently_confirmed = self.tracks[ti]
                    .confirmed_ms
                    .is_some_and(|c| pts.saturating_sub(c) < REID_MIN_INTERVAL_MS);
                let same = if alike >= SURELY_ALIKE || !appearance {
                    true
                } else if recently_confirmed {
                    alike >= self.cfg.min_appearance
                } else if let Some(r) = reid
                    .as_mut()
                    .filter(|_| readable(d) && readable(&self.tracks[ti].det))
                {
                    // In doubt: ask the embedder (a few per cent of pairs on real video).
                    let t = &mut self.tracks[ti];
                    if t.features.is_none() {
                        t.features = r.features(&t.last_frame, &t.det);
                    }
                    let df = det_features[di].get_or_insert_with(|| r.features(frame, d));
                    match (&t.features, df) {
                        (Some(a), Some(b)) => cosine(a, b) >= self.cfg.min_identity,
                        _ => alike >= self.cfg.min_appearance,
                    }
                } else {
                    alike >= self.cfg.min_appearance
                };
                if same {
                    pairs.push((iou, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut t_used = vec![false; self.tracks.len()];
        let mut d_used = vec![false; dets.len()];
        for (_, ti, di) in pairs {
            if t_used[ti] || d_used[di] {
                continue;
            }
            t_used[ti] = true;
            d_used[di] = true;
            let d = dets[di].clone();
            let t = &mut self.tracks[ti];
            let dt = pts.saturating_sub(t.last_ms).max(1) as f32;
            let obs = [
                (d.x - t.det.x) / dt,
                (d.y - t.det.y) / dt,
                (d.w - t.det.w) / dt,
                (d.h - t.det.h) / dt,
            ];
            for (v, o) in t.vel.iter_mut().zip(obs) {
                *v = 0.5 * *v + 0.5 * o;
            }
            t.det = d;
            t.last_ms = pts;
            t.last_frame = frame.clone();
            t.hits += 1;
            // A fresh embedding read for this pair confirmed the person: it becomes the track's
            // reference, and so does this look (the next frames need not ask again).
            match (det_features[di].take(), &mut t.sig, &sigs[di]) {
                (Some(Some(f)), _, Some(b)) => {
                    t.features = Some(f);
                    t.sig = Some(b.clone());
                    t.confirmed_ms = Some(pts);
                }
                (_, Some(a), Some(b)) => a.follow(b, 0.2),
                (_, None, Some(b)) => t.sig = Some(b.clone()),
                _ => {}
            }
            let g = face_goodness(&t.det);
            if g > t.best_score {
                t.best_score = g;
                t.best = (t.det.clone(), frame.clone(), pts, wall);
            }
            if !t.announced && t.hits >= self.cfg.min_hits {
                t.announced = true;
                t.last_sent_ms = pts;
                out.push(self.msg(ti, TrackPhase::Start, pts, wall, frame));
            } else if t.announced
                && pts.saturating_sub(t.last_sent_ms) >= self.cfg.update_interval_ms
            {
                self.tracks[ti].last_sent_ms = pts;
                out.push(self.msg(ti, TrackPhase::Update, pts, wall, frame));
            }
        }
        for (di, d) in dets.into_iter().enumerate() {
            if d_used[di] {
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let g = face_goodness(&d);
            self.tracks.push(Track {
                id,
                det: d.clone(),
                vel: [0.0; 4],
                first_ms: pts,
                last_ms: pts,
                hits: 1,
                announced: false,
                last_sent_ms: pts,
                best_score: g,
                best: (d, frame.clone(), pts, wall),
                sig: sigs[di].clone(),
                features: det_features[di].take().flatten(),
                last_frame: frame.clone(),
                confirmed_ms: None,
            });
            if self.cfg.min_hits <= 1 {
                let ti = self.tracks.len() - 1;
                self.tracks[ti].announced = true;
                out.push(self.msg(ti, TrackPhase::Start, pts, wall, frame));
            }
        }
        out.extend(self.expire(pts, false));
        out
    }

    /// Ends tracks unseen for longer than `max_missed_ms` (or all of them when `all`).
    pub fn expire(&mut self, pts: u64, all: bool) -> Vec<TrackMsg> {
        let mut out = vec![];
        let max = self.cfg.max_missed_ms;
        let mut i = 0;
        while i < self.tracks.len() {
            let t = &self.tracks[i];
            if all || pts.saturating_sub(t.last_ms) > max {
                let t = self.tracks.remove(i);
                if t.announced {
                    let (det, frame, bpts, bwall) = t.best;
                    out.push(TrackMsg {
                        camera: self.camera.clone(),
                        track_id: t.id,
                        phase: TrackPhase::End,
                        first_ms: t.first_ms,
                        last_ms: t.last_ms,
                        hits: t.hits,
                        detection: det,
                        pts_ms: bpts,
                        wall_ms: bwall,
                        frame,
                    });
                }
            } else {
                i += 1;
            }
        }
        out
    }

    fn msg(
        &self,
        ti: usize,
        phase: TrackPhase,
        pts: u64,
        wall: u64,
        frame: &Arc<Frame>,
    ) -> TrackMsg {
        let t = &self.tracks[ti];
        TrackMsg {
            camera: self.camera.clone(),
            track_id: t.id,
            phase,
            first_ms: t.first_ms,
            last_ms: t.last_ms,
            hits: t.hits,
            detection: t.det.clone(),
            pts_ms: pts,
            wall_ms: wall,
            frame: frame.clone(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A square face at (x, y) of side s with plausible landmarks (the stage tests use it too).
    pub(crate) fn det(x: f32, y: f32, s: f32) -> Detection {
        Detection {
            x,
            y,
            w: s,
            h: s,
            score: 0.9,
            landmarks: [
                [x + 0.3 * s, y + 0.4 * s],
                [x + 0.7 * s, y + 0.4 * s],
                [x + 0.5 * s, y + 0.6 * s],
                [x + 0.35 * s, y + 0.8 * s],
                [x + 0.65 * s, y + 0.8 * s],
            ],
        }
    }

    #[test]
    fn ids_stay_stable_through_motion_and_a_short_miss_and_end_after_a_long_one() {
        let cfg = TrackingConfig {
            min_hits: 2,
            max_missed_ms: 300,
            update_interval_ms: 1000,
            ..Default::default()
        };
        let mut tr = Tracker::new(Arc::from("cam"), cfg);
        let f = Arc::new(Frame::new(1, 1, vec![0; 3]).unwrap());
        let mut msgs = vec![];
        // Face A moves right at 0.25 px/ms (10 px per 40 ms frame), face B down; B is missed for two frames.
        for k in 0..20u64 {
            let t = k * 40;
            let mut dets = vec![det(100.0 + t as f32 * 0.25, 50.0, 60.0)];
            if !(8..10).contains(&k) {
                dets.push(det(400.0, 300.0 + t as f32 * 0.2, 80.0));
            }
            msgs.extend(tr.step(t, t, dets, &f));
        }
        let starts: Vec<_> = msgs
            .iter()
            .filter(|m| m.phase == TrackPhase::Start)
            .collect();
        assert_eq!(starts.len(), 2, "two tracks, no re-start after the miss");
        assert!(msgs.iter().all(|m| m.phase != TrackPhase::End));
        // Both disappear: after max_missed_ms they end, each once.
        msgs.clear();
        for k in 20..40u64 {
            msgs.extend(tr.step(k * 40, k * 40, vec![], &f));
        }
        let ends: Vec<_> = msgs.iter().filter(|m| m.phase == TrackPhase::End).collect();
        assert_eq!(ends.len(), 2);
        assert_eq!(tr.active(), 0);
    }

    #[test]
    fn a_one_frame_blip_is_never_announced() {
        let mut tr = Tracker::new(Arc::from("cam"), TrackingConfig::default());
        let f = Arc::new(Frame::new(1, 1, vec![0; 3]).unwrap());
        let mut msgs = tr.step(0, 0, vec![det(10.0, 10.0, 50.0)], &f);
        for k in 1..50 {
            msgs.extend(tr.step(k * 40, 0, vec![], &f));
        }
        assert!(msgs.is_empty());
    }
}
