//! Lasting identities for faces that match nobody (`[unknown]`): a track that ends `unknown`
//! is compared with the strangers seen before and gets their `unknown-N` id, or a new one. Each
//! stranger is a person (`user_id = unknown-N`) of the face set `unknown.face_set`, holding the
//! best embeddings of its tracks, so ids survive restarts and are shared by a pool of daemons
//! through the store like any face set. Naming a stranger moves those faces into a real face set
//! under the given name, in one step (`name`). "Not this person" keeps a track's faces as
//! rejections of the person it was wrongly matched to (`reject`; the face set `<face_set>-rejected`),
//! and the track search then ignores that person for faces like them.

use super::{FaceSets, Selector, SetError};
use crate::analyze::Embedding;
use crate::base::geometry::BoundingBox;
use crate::config::{EmbedderKind, UnknownConfig};

const PREFIX: &str = "unknown-";

/// Where strangers live and how they are told apart.
pub struct Strangers {
    pub cfg: UnknownConfig,
    model: EmbedderKind,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    /// Waited on between picking a new stranger's number and storing its faces (tests only:
    /// `meeting_after_numbering`).
    numbered: Option<std::sync::Arc<std::sync::Barrier>>,
}

/// How well a track showed its face: `Poorly` when no face it was searched with passed the
/// quality gate's light and sharpness checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Clearly,
    Poorly,
}

/// What `identify` decided for an unknown track.
#[derive(Debug, Clone, PartialEq)]
pub struct Stranger {
    pub id: String,
    /// A stranger not seen before.
    pub new: bool,
    /// The best similarity to the stranger it was found to be (0 for a new one).
    pub similarity: f64,
}

fn no_bbox() -> BoundingBox {
    BoundingBox {
        top_left_x: 0,
        top_left_y: 0,
        width: 0,
        height: 0,
    }
}

impl Strangers {
    pub fn new(cfg: &UnknownConfig, model: EmbedderKind) -> Self {
        Self {
            cfg: cfg.clone(),
            model,
            metrics: None,
            numbered: None,
        }
    }

    /// Tests: every new stranger's first number is picked, then `meeting` is waited on before
    /// its faces are stored — two daemons sharing one barrier pick the same number every time,
    /// which makes the pool's race certain instead of a matter of timing.
    #[doc(hidden)]
    pub fn meeting_after_numbering(mut self, meeting: std::sync::Arc<std::sync::Barrier>) -> Self {
        self.numbered = Some(meeting);
        self
    }

    /// Counts strangers seen again and new ones (`facestream_strangers_*`).
    pub fn with_metrics(mut self, m: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = Some(m);
        self
    }

    fn rejected_set(&self) -> String {
        format!("{}-rejected", self.cfg.face_set)
    }

    fn ensure(&self, sets: &FaceSets, name: &str) -> Result<(), SetError> {
        match sets.show_set(name) {
            Ok(_) => Ok(()),
            Err(SetError::SetNotFound(_)) => {
                let capacity = self.cfg.capacity * self.cfg.faces_per_identity;
                match sets.create_set(name, capacity, super::fields::Schema::new(), self.model) {
                    Ok(_) | Err(SetError::SetExists(_)) => Ok(()),
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// The lasting id of an unknown track whose best embeddings are `faces` (best first); its
    /// faces join that stranger (the oldest beyond `faces_per_identity` make room).
    pub fn identify(&self, sets: &FaceSets, faces: &[Embedding]) -> Result<Stranger, SetError> {
        self.identify_seen(sets, faces, Seen::Clearly)
    }

    /// As `identify`, for a track seen as `seen`: a track with no well-lit, sharp face must come
    /// closer to a stranger (`poor_light_threshold`) to be them.
    pub fn identify_seen(
        &self,
        sets: &FaceSets,
        faces: &[Embedding],
        seen: Seen,
    ) -> Result<Stranger, SetError> {
        let set = &self.cfg.face_set;
        self.ensure(sets, set)?;
        sets.refresh()?;
        let p = super::SearchParams {
            top_n: 1,
            ..super::SearchParams::new(0.0)
        };
        let mut best: Option<(String, f64)> = None;
        for e in faces {
            if let Some(h) = sets.search(set, e, &p)?.into_iter().next() {
                if best.as_ref().is_none_or(|b| h.similarity > b.1) {
                    best = h.user_id.map(|u| (u, h.similarity));
                }
            }
        }
        let threshold = match seen {
            Seen::Clearly => self.cfg.threshold,
            Seen::Poorly => self.cfg.poor_light_threshold,
        };
        let found = best.filter(|b| b.1 >= f64::from(threshold));
        let stranger = match found {
            Some((id, similarity)) => {
                self.add(sets, set, &id, faces)?;
                Stranger {
                    id,
                    new: false,
                    similarity,
                }
            }
            None => Stranger {
                id: self.create(sets, set, faces)?,
                new: true,
                similarity: 0.0,
            },
        };
        if let Some(m) = &self.metrics {
            let c = if stranger.new {
                &m.strangers_new
            } else {
                &m.strangers_seen_again
            };
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(stranger)
    }

    /// A new stranger with `faces`. Daemons of a pool may pick the same next number at once:
    /// after adding, a stranger whose number also holds faces added by someone else keeps it only
    /// if its first face was stored first there (the same verdict on both sides); else its faces
    /// move to the next free number, and it checks again. "Stored first" is the store's commit
    /// order, not the faces' clock time: a daemon takes the time before it waits for the store,
    /// so the one that stored second could carry the earlier time and both kept the number.
    fn create(&self, sets: &FaceSets, set: &str, faces: &[Embedding]) -> Result<String, SetError> {
        let faces: Vec<(BoundingBox, Embedding)> = faces
            .iter()
            .take(self.cfg.faces_per_identity)
            .map(|e| (no_bbox(), e.clone()))
            .collect();
        self.make_room(sets, set, faces.len())?;
        let mut tries = 0;
        loop {
            let id = self.next_id(sets)?;
            if let Some(meeting) = self.numbered.as_ref().filter(|_| tries == 0) {
                meeting.wait();
            }
            let mine: Vec<String> = sets
                .add_faces(
                    set,
                    faces.clone(),
                    Some(&id),
                    &serde_json::Map::new(),
                    Some(&id),
                )?
                .into_iter()
                .map(|r| r.face_id)
                .collect();
            // In the order the store committed them.
            let there = sets.user_faces(set, &id)?;
            if there.iter().all(|(f, _)| mine.contains(f)) {
                return Ok(id);
            }
            if there.first().is_some_and(|(f, _)| mine.contains(f)) || tries >= 8 {
                return Ok(id);
            }
            tracing::debug!(
                id,
                "another daemon created this stranger at once: renumbering"
            );
            for f in &mine {
                sets.delete_faces(set, Selector::FaceId(f.clone()))?;
            }
            if let Some(m) = &self.metrics {
                m.strangers_renumbered
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            tries += 1;
        }
    }

    /// When the set is full, forgets its oldest faces (by insertion) to make room for `n`.
    fn make_room(&self, sets: &FaceSets, set: &str, n: usize) -> Result<(), SetError> {
        let info = sets.show_set(set)?;
        if info.face_number + n > info.face_set_capacity {
            for f in sets.list_faces(set, 0, n)? {
                sets.delete_faces(set, Selector::FaceId(f.face_id))?;
            }
        }
        Ok(())
    }

    /// `unknown-N` with N one above the highest in use.
    fn next_id(&self, sets: &FaceSets) -> Result<String, SetError> {
        let set = &self.cfg.face_set;
        let n = sets.group_user_count(set)?;
        let highest = sets
            .group_users(set, 0, n.max(1))?
            .iter()
            .filter_map(|u| u.strip_prefix(PREFIX)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        Ok(format!("{PREFIX}{}", highest + 1))
    }

    /// Adds `faces` to `user` in `set`, keeping at most `faces_per_identity` (newest kept);
    /// when the set is full, the least recently added stranger is forgotten first.
    fn add(
        &self,
        sets: &FaceSets,
        set: &str,
        user: &str,
        faces: &[Embedding],
    ) -> Result<(), SetError> {
        let keep = self.cfg.faces_per_identity;
        let faces: Vec<(BoundingBox, Embedding)> = faces
            .iter()
            .take(keep)
            .map(|e| (no_bbox(), e.clone()))
            .collect();
        self.make_room(sets, set, faces.len())?;
        sets.add_faces(set, faces, Some(user), &serde_json::Map::new(), Some(user))?;
        let mut mine = sets.user_faces(set, user)?;
        if mine.len() > keep {
            mine.sort_by_key(|(_, t)| *t);
            for (id, _) in &mine[..mine.len() - keep] {
                sets.delete_faces(set, Selector::FaceId(id.clone()))?;
            }
        }
        Ok(())
    }

    /// Names stranger `id`: its faces become faces of `person` in `set` (created when missing),
    /// and it stops being a stranger. Returns the faces moved.
    pub fn name(
        &self,
        sets: &FaceSets,
        id: &str,
        set: &str,
        person: &str,
    ) -> Result<usize, SetError> {
        let from = &self.cfg.face_set;
        match sets.user_faces(from, id) {
            Ok(f) if !f.is_empty() => {}
            Ok(_) | Err(SetError::SetNotFound(_) | SetError::UserNotFound { .. }) => {
                return Err(SetError::StrangerNotFound(id.into()))
            }
            Err(e) => return Err(e),
        }
        match sets.create_set(set, 10_000, super::fields::Schema::new(), self.model) {
            Ok(_) | Err(SetError::SetExists(_)) => {}
            Err(e) => return Err(e),
        }
        sets.move_user(from, id, set, person, &format!("from-{id}"))
    }

    /// "Not this person": `faces` (a wrongly matched track's) are kept as rejections of
    /// `identity` in `set`, so the track search ignores that identity for faces like them.
    pub fn reject(
        &self,
        sets: &FaceSets,
        set: &str,
        identity: &str,
        faces: &[Embedding],
    ) -> Result<(), SetError> {
        let rejected = self.rejected_set();
        self.ensure(sets, &rejected)?;
        let key = format!("{set}/{identity}");
        let faces: Vec<(BoundingBox, Embedding)> =
            faces.iter().map(|e| (no_bbox(), e.clone())).collect();
        sets.add_faces(
            &rejected,
            faces,
            Some(&key),
            &serde_json::Map::new(),
            Some(&key),
        )?;
        Ok(())
    }

    /// The identities (`set/identity`) that `face` was rejected for: faces this close to a
    /// rejection of an identity are not taken as evidence for it.
    pub fn rejected_for(&self, sets: &FaceSets, face: &Embedding, at: f64) -> Vec<String> {
        let p = super::SearchParams {
            top_n: 20,
            ..super::SearchParams::new(at as f32)
        };
        match sets.search(&self.rejected_set(), face, &p) {
            Ok(hits) => hits.into_iter().filter_map(|h| h.user_id).collect(),
            Err(_) => vec![],
        }
    }
}
