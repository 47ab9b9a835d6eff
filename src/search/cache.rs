//! The in-memory index of each loaded set, kept in step with the store: changes applied in place,
//! and another process's writes replayed from the change feed.

use super::*;

impl FaceSets {
    /// The cached index of `set`, if it is loaded.
    pub(super) fn cached(&self, set: &str) -> Option<SharedIndex> {
        self.indexes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(set)
            .cloned()
    }

    /// Applies a change to the loaded index of `set` (nothing to do when it is not loaded);
    /// drops it when the change leaves it unfit (an exact set grown to need its graph), so the next
    /// search rebuilds it.
    pub(super) fn update_index(&self, set: &str, change: impl FnOnce(&mut SetIndex)) {
        if let Some(ix) = self.cached(set) {
            let mut w = ix
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            change(&mut w);
            if w.needs_rebuild() && !w.rebuild_in_place() {
                drop(w);
                self.invalidate(set);
            }
        }
    }

    pub(super) fn invalidate(&self, set: &str) {
        self.indexes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(set);
    }

    /// Catches up with another process's writes (enrolment while the daemon runs): loaded indexes
    /// replay the change feed in place; only when the feed has a gap or is very long are they
    /// dropped and rebuilt on the next search.
    pub fn refresh(&self) -> Result<(), SetError> {
        let v = self.store().data_version()?;
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.0 == v {
            return Ok(());
        }
        seen.0 = v;
        let changes = self.store().changes_since(seen.1, REPLAY_AT_MOST)?;
        let Some(changes) = changes else {
            seen.1 = self.store().last_change()?;
            self.indexes
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clear();
            tracing::info!("face sets changed too much elsewhere: indexes reload");
            return Ok(());
        };
        if let Some(last) = changes.last() {
            seen.1 = last.seq;
        }
        for c in changes {
            if self.cached(&c.set).is_none() {
                continue;
            }
            let record = if c.removed {
                None
            } else {
                match self.store().face(&c.set, &c.face_id) {
                    Ok(r) => Some(r),
                    // Added then removed again: the later 'del' entry handles it.
                    Err(SetError::FaceNotFound(_)) | Err(SetError::SetNotFound(_)) => continue,
                    Err(e) => return Err(e),
                }
            };
            // Re-embedded elsewhere with another model: the whole index is rebuilt.
            if let (Some(r), Some(ix)) = (&record, self.cached(&c.set)) {
                if ix
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .model
                    != r.model
                {
                    self.invalidate(&c.set);
                    continue;
                }
            }
            self.update_index(&c.set, |ix| match record {
                Some(r) => {
                    ix.insert(r);
                }
                None => {
                    ix.remove(&c.face_id);
                }
            });
        }
        // Sets deleted elsewhere lose their index.
        let cached: Vec<String> = self
            .indexes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect();
        for set in cached {
            if let Err(SetError::SetNotFound(_)) = self.store().get_set(&set) {
                self.invalidate(&set);
            }
        }
        Ok(())
    }

    /// How the loaded index of `set` got its graph: built, or loaded from its file and brought
    /// in step (None: not loaded, or searched exactly).
    pub fn graph_opened(&self, set: &str) -> Option<super::graph::Opened> {
        self.cached(set)?
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .graph_opened()
    }

    /// How many times a set's index was built from the database (for tests and logs).
    pub fn index_builds(&self) -> u64 {
        self.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Trims the change feed after writes (cheap: a range delete on the primary key).
    pub(super) fn after_write(&self) {
        if let Err(e) = self.store().prune_changes(CHANGES_KEPT) {
            tracing::warn!(error = %e, "cannot prune the face-set change feed");
        }
    }

    pub(super) fn index(&self, set: &str) -> Result<SharedIndex, SetError> {
        if let Some(ix) = self.cached(set) {
            let ready = ix
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .graph_ready();
            if ready {
                ix.write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .install_graph(false);
            }
            return Ok(ix);
        }
        let (info, records) = {
            let st = self.store();
            (st.get_set(set)?, st.all_faces(set)?)
        };
        let dim = records.first().map(|r| r.vector.len()).unwrap_or(0);
        let n = records.len();
        let t = std::time::Instant::now();
        let file = self
            .graph_dir
            .as_ref()
            .map(|d| super::graph::file_for(d, set));
        let ix = SetIndex::from_records(info.model, dim, records, self.index_settings, file);
        self.builds
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(set, faces = n, index = %ix.describe(), ms = t.elapsed().as_millis() as u64, "face set index built");
        let ix = Arc::new(RwLock::new(ix));
        self.indexes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(set.to_string(), ix.clone());
        Ok(ix)
    }
}
