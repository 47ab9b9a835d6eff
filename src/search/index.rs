//! Cosine search over one face set.
//!
//! Small sets are scanned exactly (one contiguous matrix, split across threads when large). From
//! [`IndexSettings::ivf_from`] faces the vectors are partitioned by spherical k-means into about
//! √n lists — an inverted file, FAISS's IVF-Flat — and a query scans only the share of lists whose
//! centroids are nearest to it. Chosen over HNSW because it trains in seconds rather than tens of
//! minutes on two cores, adds and removes a face in O(1), and keeps filtering a plain per-face
//! check during the scan. Filters never starve the result: a filtered query keeps probing further
//! lists until its top-n is full. The partition is retrained (on the next search) once the set has
//! grown or shrunk fourfold since training.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use serde_json::{Map, Value};

use super::filter::Filter;
use super::kmeans;
use super::store::FaceRecord;
use super::vector::{dot, dot_i8};
use crate::config::EmbedderKind;

pub struct IndexedFace {
    pub face_id: String,
    pub external_image_id: String,
    pub fields: Map<String, Value>,
    pub user_id: Option<String>,
    pub bbox: crate::base::geometry::BoundingBox,
}

/// When to partition and how much of the partition a query scans.
#[derive(Debug, Clone, Copy)]
pub struct IndexSettings {
    /// Sets with at least this many faces get the inverted-file index; smaller ones are exact.
    pub ivf_from: usize,
    /// Share of the lists (about √n of them) scanned per query, in percent. More is slower and
    /// closer to exact; 40 % gave recall@10 0.984 at p99 7.6 ms on face-like data at 1e6 faces.
    pub probe_percent: f32,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            // Below this an exact scan stays under ~8 ms on two cores and is always right.
            ivf_from: 200_000,
            probe_percent: 40.0,
        }
    }
}

struct Slot {
    face: IndexedFace,
    /// Where the face's code sits in the partition (unused while the set is exact).
    list: u32,
    pos: u32,
}

/// One partition: int8 codes of its vectors back to back (a quarter of the bytes to stream
/// through memory per query), each row's scale, and which slot each row belongs to.
#[derive(Default)]
struct List {
    codes: Vec<i8>,
    scales: Vec<f32>,
    slots: Vec<u32>,
}

/// How a set's model turns a dot product into similarity 0..1, on the scale of
/// `Embedding::similarity`: MobileFaceNet vectors are unit length (cosine); dlib's are compared by
/// Euclidean distance, 1 − L2/2, which follows from the dot product and both squared norms.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Cosine,
    Euclidean,
}

pub struct SetIndex {
    pub dim: usize,
    pub model: EmbedderKind,
    metric: Metric,
    settings: IndexSettings,
    faces: Vec<Option<Slot>>,
    /// Full-precision vectors by slot: exact scans and the re-ranking of int8 candidates.
    vectors: Vec<f32>,
    /// Each slot's squared length (the Euclidean metric needs it).
    sq_norms: Vec<f32>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    /// k unit centroids (k × dim); empty while the set is searched exactly.
    centroids: Vec<f32>,
    lists: Vec<List>,
    trained_for: usize,
}

/// A hit: the face's slot (see [`SetIndex::face`]) and similarity 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub index: usize,
    pub similarity: f32,
}

#[derive(PartialEq)]
struct MinHit(f32, u32);
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

/// Below this many rows one thread is faster than starting more.
const PARALLEL_FROM: usize = 20_000;

/// int8 scores are within about ±0.002 of the true cosine; candidates get this much slack.
const CODE_SLACK: f32 = 0.02;

type Piece = (usize, std::ops::Range<usize>);

/// Keeps the best `cap` (score, slot) pairs at or above `floor` that pass the filter.
struct TopN<'a> {
    heap: BinaryHeap<MinHit>,
    cap: usize,
    floor: f32,
    filter: Option<&'a Filter>,
}

impl<'a> TopN<'a> {
    fn new(cap: usize, floor: f32, filter: Option<&'a Filter>) -> Self {
        Self {
            heap: BinaryHeap::with_capacity(cap + 1),
            cap,
            floor,
            filter,
        }
    }
    /// True when `s` would enter the kept set.
    #[inline]
    fn wants(&self, s: f32) -> bool {
        s >= self.floor && (self.heap.len() < self.cap || self.heap.peek().is_some_and(|m| s > m.0))
    }
    /// Keeps (score, slot) if it is good enough; the filter was already applied.
    fn keep(&mut self, s: f32, slot: u32) {
        if self.wants(s) {
            self.heap.push(MinHit(s, slot));
            if self.heap.len() > self.cap {
                self.heap.pop();
            }
        }
    }
    #[inline]
    fn offer(&mut self, s: f32, slot: u32, ix: &SetIndex) {
        if !self.wants(s) {
            return;
        }
        if let Some(f) = self.filter {
            match ix.face(slot as usize) {
                Some(face) if f.matches(&face.fields) => {}
                _ => return,
            }
        }
        self.keep(s, slot);
    }
    fn merge(&mut self, other: TopN) {
        for m in other.heap {
            self.keep(m.0, m.1);
        }
    }
}

/// Per-row int8 code with its own scale (the largest component maps to ±127).
fn quantize(v: &[f32], codes: &mut Vec<i8>) -> f32 {
    let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    let k = if m > 0.0 { 127.0 / m } else { 1.0 };
    codes.extend(v.iter().map(|x| (x * k).round().clamp(-127.0, 127.0) as i8));
    1.0 / k
}

impl SetIndex {
    pub fn new(dim: usize, model: EmbedderKind, settings: IndexSettings) -> Self {
        let metric = match model {
            EmbedderKind::Dlib => Metric::Euclidean,
            EmbedderKind::Mobilefacenet => Metric::Cosine,
        };
        Self {
            dim,
            model,
            metric,
            settings,
            faces: vec![],
            vectors: vec![],
            sq_norms: vec![],
            free: vec![],
            by_id: HashMap::new(),
            centroids: vec![],
            lists: vec![],
            trained_for: 0,
        }
    }

    /// Builds the index for `records`, partitioning it when the set is large enough.
    pub fn from_records(
        model: EmbedderKind,
        dim: usize,
        records: Vec<FaceRecord>,
        settings: IndexSettings,
    ) -> Self {
        let mut ix = Self::new(dim, model, settings);
        let records: Vec<FaceRecord> = records
            .into_iter()
            .filter(|r| r.vector.len() == dim)
            .collect();
        let n = records.len();
        if n >= settings.ivf_from.max(2) {
            let k = ((n as f64).sqrt().round() as usize).clamp(2, 4096);
            let mut rng = kmeans::Rng(0x5EED_F00D);
            let sample_rows = (64 * k).min(n);
            let mut sample = Vec::with_capacity(sample_rows * dim);
            for _ in 0..sample_rows {
                sample.extend_from_slice(&records[rng.below(n)].vector);
            }
            ix.centroids = kmeans::train(&sample, dim, k, 10, 0x5EED_F00D);
            drop(sample);
            ix.lists = (0..ix.centroids.len() / dim)
                .map(|_| List::default())
                .collect();
            ix.trained_for = n;
            ix.vectors.reserve(n * dim);
            for r in records {
                ix.place(r, u32::MAX);
            }
            let labels = kmeans::assign_all(&ix.centroids, dim, &ix.vectors);
            for (slot, l) in labels.into_iter().enumerate() {
                ix.code(slot as u32, l as usize);
            }
        } else {
            for r in records {
                ix.insert(r);
            }
        }
        ix
    }

    /// "exact" or the partition in use, for logs and benchmarks.
    pub fn describe(&self) -> String {
        if self.centroids.is_empty() {
            "exact".into()
        } else {
            format!(
                "inverted file, {} lists, probe {}",
                self.lists.len(),
                self.probe()
            )
        }
    }

    /// Lists scanned per query.
    fn probe(&self) -> usize {
        ((self.lists.len() as f32 * self.settings.probe_percent / 100.0).ceil() as usize)
            .clamp(1, self.lists.len().max(1))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn face(&self, slot: usize) -> Option<&IndexedFace> {
        self.faces.get(slot)?.as_ref().map(|s| &s.face)
    }

    fn vector(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dim..(slot + 1) * self.dim]
    }

    /// Similarity 0..1 of the query (squared length `q_sq`) and a slot, from their dot product.
    #[inline]
    fn similarity(&self, dot: f32, q_sq: f32, slot: usize) -> f32 {
        let s = match self.metric {
            Metric::Cosine => dot,
            Metric::Euclidean => {
                let d2 = (q_sq + self.sq_norms[slot] - 2.0 * dot).max(0.0);
                1.0 - d2.sqrt() / 2.0
            }
        };
        // Clamped like `Embedding::similarity`: every dissimilar face scores 0.
        s.clamp(0.0, 1.0)
    }

    /// True when the partition no longer fits the set's size and should be rebuilt.
    pub fn needs_rebuild(&self) -> bool {
        let n = self.len();
        if self.centroids.is_empty() {
            n >= self.settings.ivf_from
        } else {
            n > self.trained_for.saturating_mul(4) || n < self.trained_for / 4
        }
    }

    /// Adds (or replaces, by face id) one face. A vector of another length is refused.
    pub fn insert(&mut self, r: FaceRecord) -> bool {
        if self.is_empty() && r.vector.len() != self.dim && self.centroids.is_empty() {
            self.dim = r.vector.len();
            self.vectors.clear();
            self.sq_norms.clear();
            self.faces.clear();
            self.free.clear();
        }
        if r.vector.len() != self.dim || self.dim == 0 {
            return false;
        }
        self.remove(&r.face_id);
        let list = if self.centroids.is_empty() {
            None
        } else {
            Some(kmeans::nearest(&self.centroids, self.dim, &r.vector))
        };
        let slot = self.place(r, u32::MAX);
        if let Some(l) = list {
            self.code(slot, l);
        }
        true
    }

    /// Stores a face and its vector in a free slot; returns the slot.
    fn place(&mut self, r: FaceRecord, list: u32) -> u32 {
        let slot = Slot {
            face: IndexedFace {
                face_id: r.face_id.clone(),
                external_image_id: r.external_image_id,
                fields: r.external_fields,
                user_id: r.user_id,
                bbox: r.bounding_box,
            },
            list,
            pos: 0,
        };
        let sq = dot(&r.vector, &r.vector);
        let id = match self.free.pop() {
            Some(id) => {
                let d = self.dim;
                self.vectors[id as usize * d..(id as usize + 1) * d].copy_from_slice(&r.vector);
                self.sq_norms[id as usize] = sq;
                self.faces[id as usize] = Some(slot);
                id
            }
            None => {
                self.vectors.extend_from_slice(&r.vector);
                self.sq_norms.push(sq);
                self.faces.push(Some(slot));
                (self.faces.len() - 1) as u32
            }
        };
        self.by_id.insert(r.face_id, id);
        id
    }

    /// Appends the int8 code of a slot's vector to a list.
    fn code(&mut self, slot: u32, list: usize) {
        let d = self.dim;
        let l = &mut self.lists[list];
        let v = &self.vectors[slot as usize * d..(slot as usize + 1) * d];
        l.scales.push(quantize(v, &mut l.codes));
        l.slots.push(slot);
        if let Some(s) = self.faces[slot as usize].as_mut() {
            s.list = list as u32;
            s.pos = (l.slots.len() - 1) as u32;
        }
    }

    /// Removes a face by id; false when it is not in the index.
    pub fn remove(&mut self, face_id: &str) -> bool {
        let Some(id) = self.by_id.remove(face_id) else {
            return false;
        };
        let Some(slot) = self.faces.get_mut(id as usize).and_then(Option::take) else {
            return false;
        };
        self.free.push(id);
        let Some(l) = self.lists.get_mut(slot.list as usize) else {
            return true;
        };
        let dim = self.dim;
        let pos = slot.pos as usize;
        let last = l.slots.len() - 1;
        l.slots.swap_remove(pos);
        l.scales.swap_remove(pos);
        if pos != last {
            l.codes.copy_within(last * dim..(last + 1) * dim, pos * dim);
            let moved = l.slots[pos] as usize;
            if let Some(m) = self.faces[moved].as_mut() {
                m.pos = pos as u32;
            }
        }
        l.codes.truncate(last * dim);
        true
    }

    /// Changes a face's external image id and fields in place.
    pub fn update(&mut self, face_id: &str, external_image_id: &str, fields: Map<String, Value>) {
        if let Some(&id) = self.by_id.get(face_id) {
            if let Some(s) = self.faces[id as usize].as_mut() {
                s.face.external_image_id = external_image_id.to_string();
                s.face.fields = fields;
            }
        }
    }

    /// Runs `scan` over pieces, split across threads when there are many rows; merges the results.
    fn scan_pieces<'f>(
        &self,
        pieces: Vec<Piece>,
        fresh: impl Fn() -> TopN<'f> + Sync,
        scan: impl Fn(&Piece, &mut TopN<'f>) + Sync,
    ) -> TopN<'f> {
        let rows: usize = pieces.iter().map(|p| p.1.len()).sum();
        let threads = if rows >= PARALLEL_FROM {
            std::thread::available_parallelism()
                .map(std::num::NonZero::get)
                .unwrap_or(1)
                .min(8)
        } else {
            1
        };
        let mut top = fresh();
        if threads <= 1 {
            for p in &pieces {
                scan(p, &mut top);
            }
            return top;
        }
        let mut shares: Vec<Vec<Piece>> = vec![vec![]; threads];
        for (i, p) in pieces.into_iter().enumerate() {
            shares[i % threads].push(p);
        }
        let (fresh, scan) = (&fresh, &scan);
        let parts: Vec<TopN> = std::thread::scope(|s| {
            let handles: Vec<_> = shares
                .into_iter()
                .map(|share| {
                    s.spawn(move || {
                        let mut t = fresh();
                        for p in &share {
                            scan(p, &mut t);
                        }
                        t
                    })
                })
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        for p in parts {
            top.merge(p);
        }
        top
    }

    fn finish(top: TopN) -> Vec<Hit> {
        let mut out: Vec<Hit> = top
            .heap
            .into_iter()
            .map(|MinHit(s, i)| Hit {
                index: i as usize,
                similarity: s,
            })
            .collect();
        out.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.index.cmp(&b.index))
        });
        out
    }

    /// The `top_n` most similar faces at or above `threshold` that pass `filter`, best first, on
    /// the set's model's similarity scale.
    pub fn search(
        &self,
        query: &[f32],
        top_n: usize,
        threshold: f32,
        filter: Option<&Filter>,
    ) -> Vec<Hit> {
        if self.centroids.is_empty() {
            return self.search_exact(query, top_n, threshold, filter);
        }
        if query.len() != self.dim || top_n == 0 || self.is_empty() {
            return vec![];
        }
        let mut order: Vec<(f32, usize)> = self
            .centroids
            .chunks_exact(self.dim)
            .enumerate()
            .map(|(i, c)| (dot(query, c), i))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut qc = Vec::with_capacity(self.dim);
        let qs = quantize(query, &mut qc);
        let q_sq = dot(query, query);
        // Candidates by int8 score, then re-ranked on the full vectors.
        let cap = top_n * 3 + 20;
        let fresh = || TopN::new(cap, threshold - CODE_SLACK, filter);
        let scan = |(list, rows): &Piece, top: &mut TopN| {
            let l = &self.lists[*list];
            let d = self.dim;
            for row in rows.clone() {
                let s = dot_i8(&qc, &l.codes[row * d..(row + 1) * d]) as f32 * qs * l.scales[row];
                let slot = l.slots[row];
                top.offer(self.similarity(s, q_sq, slot as usize), slot, self);
            }
        };
        let whole = |l: usize| (l, 0..self.lists[l].slots.len());
        let probe = self.probe();
        let mut top = self.scan_pieces(
            order.iter().take(probe).map(|&(_, l)| whole(l)).collect(),
            fresh,
            scan,
        );
        if filter.is_some() {
            // A selective filter may leave the nearest lists short: widen until full.
            for &(_, l) in order.iter().skip(probe) {
                if top.heap.len() >= top_n {
                    break;
                }
                scan(&whole(l), &mut top);
            }
        }
        let mut exact = TopN::new(top_n, threshold, None);
        for MinHit(_, slot) in top.heap {
            let s = slot as usize;
            exact.offer(
                self.similarity(dot(query, self.vector(s)), q_sq, s),
                slot,
                self,
            );
        }
        Self::finish(exact)
    }

    /// Scans every face's full vector, whatever the partition (also the reference for recall).
    pub fn search_exact(
        &self,
        query: &[f32],
        top_n: usize,
        threshold: f32,
        filter: Option<&Filter>,
    ) -> Vec<Hit> {
        if query.len() != self.dim || top_n == 0 || self.is_empty() {
            return vec![];
        }
        let n = self.faces.len();
        let step = PARALLEL_FROM / 2;
        let pieces = (0..n.div_ceil(step))
            .map(|i| (0, i * step..((i + 1) * step).min(n)))
            .collect();
        let q_sq = dot(query, query);
        let fresh = || TopN::new(top_n, threshold, filter);
        let scan = |(_, rows): &Piece, top: &mut TopN| {
            for slot in rows.clone() {
                if self.faces[slot].is_some() {
                    top.offer(
                        self.similarity(dot(query, self.vector(slot)), q_sq, slot),
                        slot as u32,
                        self,
                    );
                }
            }
        };
        Self::finish(self.scan_pieces(pieces, fresh, scan))
    }
}

#[cfg(test)]
mod tests;
