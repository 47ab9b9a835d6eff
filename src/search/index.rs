//! Exact cosine search over one face set: vectors in one contiguous matrix (auto-vectorised dot
//! products), split across threads for large sets, filters applied per face during the scan so a
//! filter never starves the top-n.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde_json::{Map, Value};

use super::filter::Filter;
use super::store::FaceRecord;

pub struct IndexedFace {
    pub face_id: String,
    pub external_image_id: String,
    pub fields: Map<String, Value>,
    pub user_id: Option<String>,
    pub bbox: crate::api::shapes::BoundingBox,
}

pub struct SetIndex {
    pub dim: usize,
    pub model: String,
    vectors: Vec<f32>,
    pub faces: Vec<IndexedFace>,
}

/// A hit: index into `faces` and similarity 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub similarity: f32,
}

#[derive(PartialEq)]
struct MinHit(f32, usize);
impl Eq for MinHit {}
impl PartialOrd for MinHit {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for MinHit {
    // Reversed: the heap's top is the weakest kept hit.
    fn cmp(&self, o: &Self) -> Ordering {
        o.0.total_cmp(&self.0).then(o.1.cmp(&self.1))
    }
}

/// Below this many faces one thread is faster than starting more.
const PARALLEL_FROM: usize = 20_000;

#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight independent accumulators let the compiler vectorise without reassociation.
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        for k in 0..8 {
            acc[k] += a[c * 8 + k] * b[c * 8 + k];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    s
}

impl SetIndex {
    pub fn new(dim: usize, model: String) -> Self {
        Self {
            dim,
            model,
            vectors: vec![],
            faces: vec![],
        }
    }

    pub fn from_records(model: String, dim: usize, records: Vec<FaceRecord>) -> Self {
        let mut ix = Self::new(dim, model);
        for r in records {
            ix.push(r);
        }
        ix
    }

    pub fn push(&mut self, r: FaceRecord) {
        if r.vector.len() != self.dim {
            return;
        }
        self.vectors.extend_from_slice(&r.vector);
        self.faces.push(IndexedFace {
            face_id: r.face_id,
            external_image_id: r.external_image_id,
            fields: r.external_fields,
            user_id: r.user_id,
            bbox: r.bounding_box,
        });
    }

    pub fn len(&self) -> usize {
        self.faces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.faces.is_empty()
    }

    /// Bytes per face held in memory (vector only).
    pub fn bytes_per_face(&self) -> usize {
        self.dim * 4
    }

    fn scan(
        &self,
        q: &[f32],
        range: std::ops::Range<usize>,
        top_n: usize,
        threshold: f32,
        filter: Option<&Filter>,
    ) -> BinaryHeap<MinHit> {
        let mut heap = BinaryHeap::with_capacity(top_n + 1);
        for i in range {
            let s = dot(q, &self.vectors[i * self.dim..(i + 1) * self.dim]).clamp(0.0, 1.0);
            if s < threshold
                || (heap.len() == top_n && heap.peek().is_some_and(|m: &MinHit| s <= m.0))
            {
                continue;
            }
            if let Some(f) = filter {
                if !f.matches(&self.faces[i].fields) {
                    continue;
                }
            }
            heap.push(MinHit(s, i));
            if heap.len() > top_n {
                heap.pop();
            }
        }
        heap
    }

    /// The `top_n` most similar faces at or above `threshold` that pass `filter`, best first.
    /// `query` must be L2-normalised (cosine = dot product).
    pub fn search(
        &self,
        query: &[f32],
        top_n: usize,
        threshold: f32,
        filter: Option<&Filter>,
    ) -> Vec<Hit> {
        if query.len() != self.dim || top_n == 0 {
            return vec![];
        }
        let n = self.len();
        let threads = if n >= PARALLEL_FROM {
            std::thread::available_parallelism()
                .map(|p| p.get())
                .unwrap_or(1)
                .min(8)
        } else {
            1
        };
        let mut heap = if threads <= 1 {
            self.scan(query, 0..n, top_n, threshold, filter)
        } else {
            let chunk = n.div_ceil(threads);
            let parts: Vec<BinaryHeap<MinHit>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..threads)
                    .map(|t| {
                        let r = (t * chunk).min(n)..((t + 1) * chunk).min(n);
                        s.spawn(move || self.scan(query, r, top_n, threshold, filter))
                    })
                    .collect();
                handles.into_iter().filter_map(|h| h.join().ok()).collect()
            });
            let mut all = BinaryHeap::new();
            for p in parts {
                for m in p {
                    all.push(m);
                    if all.len() > top_n {
                        all.pop();
                    }
                }
            }
            all
        };
        let mut out = Vec::with_capacity(heap.len());
        while let Some(MinHit(s, i)) = heap.pop() {
            out.push(Hit {
                index: i,
                similarity: s,
            });
        }
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(id: &str, v: Vec<f32>, age: i64) -> FaceRecord {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        FaceRecord {
            face_id: id.into(),
            face_set_name: "s".into(),
            external_image_id: id.into(),
            external_fields: serde_json::json!({ "age": age })
                .as_object()
                .unwrap()
                .clone(),
            bounding_box: crate::api::shapes::BoundingBox {
                top_left_x: 0,
                top_left_y: 0,
                width: 1,
                height: 1,
            },
            user_id: None,
            model: "m".into(),
            vector: v.iter().map(|x| x / n).collect(),
        }
    }

    #[test]
    fn best_first_with_threshold_and_filter_applied_during_the_scan() {
        let mut recs = vec![];
        for i in 0..100 {
            recs.push(rec(&format!("f{i}"), vec![1.0, i as f32 / 100.0, 0.0], i));
        }
        let ix = SetIndex::from_records("m".into(), 3, recs);
        let q = [1.0, 0.0, 0.0];
        let hits = ix.search(&q, 5, 0.0, None);
        let ids: Vec<&str> = hits
            .iter()
            .map(|h| ix.faces[h.index].face_id.as_str())
            .collect();
        assert_eq!(ids, ["f0", "f1", "f2", "f3", "f4"]);
        assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
        // Only faces with age >= 90 qualify: the filter must not leave the top-5 short.
        let schema = [("age".to_string(), super::super::fields::FieldType::Integer)]
            .into_iter()
            .collect();
        let f = Filter::parse("age:[90 TO 100]", &schema).unwrap();
        let hits = ix.search(&q, 5, 0.0, Some(&f));
        assert_eq!(hits.len(), 5);
        assert_eq!(ix.faces[hits[0].index].face_id, "f90");
        // A threshold above every similarity gives nothing.
        assert!(ix.search(&q, 5, 0.9999, Some(&f)).is_empty());
    }
}
