//! Search semantics: threshold, top N, filters, search by a stored face.

use super::*;

impl FaceSets {
    pub fn search(
        &self,
        set: &str,
        query: &Embedding,
        p: &SearchParams,
    ) -> Result<Vec<SearchHit>, SetError> {
        if !(1..=1000).contains(&p.top_n) {
            return Err(SetError::BadParameter {
                name: "top_n",
                message: "must be 1..=1000".into(),
            });
        }
        if !(0.0..=1.0).contains(&p.threshold) {
            return Err(SetError::BadParameter {
                name: "threshold",
                message: "must be 0..=1".into(),
            });
        }
        // Writes made elsewhere (the CLI, another daemon on the same database) first: cheap when
        // there are none (an atomic or a PRAGMA, no query).
        self.refresh()?;
        let info = self.show_set(set)?;
        let filter = p
            .filter
            .as_deref()
            .map(|f| Filter::parse(f, &info.external_fields))
            .transpose()?;
        for (field, _) in &p.sort {
            match info.external_fields.get(field) {
                Some(t) if t.numeric() => {}
                Some(_) => {
                    return Err(SetError::BadParameter {
                        name: "sort",
                        message: format!("{field:?} is not numeric"),
                    })
                }
                None => return Err(SetError::FieldUndefined(field.clone())),
            }
        }
        if let Some(rf) = &p.return_fields {
            if let Some(bad) = rf.iter().find(|f| !info.external_fields.contains_key(*f)) {
                return Err(SetError::FieldUndefined(bad.clone()));
            }
        }
        if query.model != info.model {
            return Err(SetError::ModelMismatch {
                set: set.into(),
                stored: info.model.stored_name().into(),
                configured: query.model.stored_name().into(),
            });
        }
        let ix = self.index(set)?;
        let ix = ix.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut found: Vec<(&index::IndexedFace, f32)> = ix
            .search(&query.vector, p.top_n, p.threshold, filter.as_ref())
            .into_iter()
            .filter_map(|h| Some((ix.face(h.index)?, h.similarity)))
            .collect();
        if !p.sort.is_empty() {
            found.sort_by(|(a, _), (b, _)| {
                for (field, asc) in &p.sort {
                    let va = a.fields.get(field).and_then(serde_json::Value::as_f64);
                    let vb = b.fields.get(field).and_then(serde_json::Value::as_f64);
                    let o = va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal);
                    let o = if *asc { o } else { o.reverse() };
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        let hits = found
            .into_iter()
            .map(|(f, similarity)| {
                let fields = match &p.return_fields {
                    Some(keep) => f
                        .fields
                        .iter()
                        .filter(|(k, _)| keep.contains(k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    None => f.fields.clone(),
                };
                SearchHit {
                    face_id: f.face_id.clone(),
                    external_image_id: f.external_image_id.clone(),
                    external_fields: fields,
                    similarity: (similarity as f64 * 10000.0).round() / 10000.0,
                    bounding_box: f.bbox.clone(),
                    user_id: f.user_id.clone(),
                    face_set_name: set.to_string(),
                }
            })
            .collect();
        Ok(hits)
    }

    /// Search with a stored face's own vector.
    pub fn search_by_face_id(
        &self,
        set: &str,
        face_id: &str,
        p: &SearchParams,
    ) -> Result<Vec<SearchHit>, SetError> {
        let f = self.face(set, face_id)?;
        self.search(
            set,
            &Embedding {
                model: f.model,
                vector: f.vector,
            },
            p,
        )
    }
}
