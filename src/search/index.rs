//! Cosine search over one face set.
//!
//! Small sets are scanned exactly (one contiguous matrix, split across threads when large): at
//! that size a scan is as fast as any index and always right. From [`IndexSettings::graph_from`]
//! faces the set also gets a graph index (`graph.rs`, usearch's HNSW) that proposes candidates,
//! re-ranked here on the full vectors. Adds and removes update both in place. Filters never
//! starve the result: a filtered query walks the graph with the filter, and when the graph
//! cannot find enough faces that pass, the answer comes from an exact scan.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::path::PathBuf;

use serde_json::{Map, Value};

use super::filter::Filter;
use super::graph::{key_of, Graph, GraphSettings, Opened};
use super::store::FaceRecord;
use super::vector::dot;
use crate::config::EmbedderKind;

pub struct IndexedFace {
    pub face_id: String,
    pub external_image_id: String,
    pub fields: Map<String, Value>,
    pub user_id: Option<String>,
    pub bbox: crate::base::geometry::BoundingBox,
}

/// When a set gets its graph, and how the graph is built and searched.
#[derive(Debug, Clone, Copy)]
pub struct IndexSettings {
    /// Sets with at least this many faces get the graph index; smaller ones are only scanned.
    pub graph_from: usize,
    pub graph: GraphSettings,
    /// Build a new graph on a thread of its own while the set is searched exactly (a daemon's
    /// first start on a large set must not stall its searches for minutes); off in benchmarks
    /// and tests that time or inspect the build.
    pub build_in_background: bool,
    /// A search with a threshold that finds no face at or above it through the graph looks again
    /// this wide (candidates kept, usearch's beam); 0: never. A group of faces unlike the rest of
    /// the set (one population among a million) is where the graph misses a match
    /// (docs/facesets.md, "Real faces among a million").
    pub retry_breadth: usize,
}

impl Default for IndexSettings {
    fn default() -> Self {
        Self {
            // An exact scan of 50 000 faces takes ~1 ms here and is always right; a graph of
            // that size answers in ~0.2 ms but misses the best face for ~1 % of queries.
            graph_from: 50_000,
            graph: GraphSettings::default(),
            build_in_background: true,
            retry_breadth: 256,
        }
    }
}

struct Slot {
    face: IndexedFace,
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
    /// Full-precision vectors by slot: exact scans and the re-ranking of graph candidates.
    vectors: Vec<f32>,
    /// Each slot's squared length (the Euclidean metric needs it).
    sq_norms: Vec<f32>,
    free: Vec<u32>,
    by_id: HashMap<String, u32>,
    /// The graph (large sets), its keys' slots, and faces it could not take (a key shared by two
    /// face ids, a refused add): those are scanned exactly on every query.
    graph: Option<Graph>,
    by_key: HashMap<u64, u32>,
    outside: Vec<u32>,
    /// Where the graph is saved (none: never saved, e.g. in tests and benchmarks).
    graph_file: Option<PathBuf>,
    opened: Option<Opened>,
    /// A graph being built on its own thread, and what changed since its snapshot.
    building: Option<Building>,
    /// Searches that looked again wider (`IndexSettings::retry_breadth`).
    retries: std::sync::atomic::AtomicU64,
}

/// A graph under construction: it arrives on `done`; `log` holds the adds and removals made
/// since its snapshot, replayed onto it when it is installed.
struct Building {
    done: crossbeam_channel::Receiver<Result<Graph, super::graph::GraphError>>,
    log: Vec<(u64, Option<Vec<f32>>)>,
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
            graph: None,
            by_key: HashMap::new(),
            outside: vec![],
            graph_file: None,
            opened: None,
            building: None,
            retries: Default::default(),
        }
    }

    /// The index of `records`, with its graph when the set is large enough (loaded from
    /// `graph_file` when a saved one fits, else built and saved there).
    pub fn from_records(
        model: EmbedderKind,
        dim: usize,
        records: Vec<FaceRecord>,
        settings: IndexSettings,
        graph_file: Option<PathBuf>,
    ) -> Self {
        let t = std::time::Instant::now();
        let mut ix = Self::new(dim, model, settings);
        ix.graph_file = graph_file;
        // Sized once: at 10⁶ faces growing the maps and vectors step by step cost seconds.
        ix.vectors.reserve(records.len() * dim);
        ix.sq_norms.reserve(records.len());
        ix.faces.reserve(records.len());
        ix.by_id.reserve(records.len());
        for r in records.into_iter().filter(|r| r.vector.len() == dim) {
            ix.place(r);
        }
        tracing::debug!(
            faces = ix.len(),
            ms = t.elapsed().as_millis() as u64,
            "face set placed"
        );
        if ix.len() >= settings.graph_from.max(1) {
            ix.opened = ix.build_graph();
        }
        ix
    }

    /// Gives the set its graph: the saved one when it fits ([`Graph::saved`]), else a new one
    /// (on its own thread when `build_in_background`; exact search until it is installed). On
    /// failure the set stays exact.
    fn build_graph(&mut self) -> Option<Opened> {
        self.by_key.clear();
        self.by_key.reserve(self.len());
        self.outside.clear();
        let mut faces: Vec<(u64, &[f32])> = Vec::with_capacity(self.len());
        for (slot, f) in self.faces.iter().enumerate() {
            let Some(f) = f else { continue };
            let key = key_of(&f.face.face_id);
            if let std::collections::hash_map::Entry::Vacant(e) = self.by_key.entry(key) {
                e.insert(slot as u32);
            } else {
                // Two face ids with one key: the later one is scanned exactly instead.
                self.outside.push(slot as u32);
                continue;
            }
            let d = self.dim;
            faces.push((key, &self.vectors[slot * d..(slot + 1) * d]));
        }
        let (dim, euclidean, gs) = (
            self.dim,
            self.metric == Metric::Euclidean,
            self.settings.graph,
        );
        if let Some((g, opened)) = self
            .graph_file
            .as_deref()
            .and_then(|f| Graph::saved(&faces, dim, euclidean, gs, f))
        {
            tracing::debug!(faces = g.len(), ?opened, "face-set graph loaded");
            self.graph = Some(g);
            return Some(opened);
        }
        if self.settings.build_in_background {
            let keys: Vec<u64> = faces.iter().map(|(k, _)| *k).collect();
            let flat: Vec<f32> = faces.iter().flat_map(|(_, v)| v.iter().copied()).collect();
            let (tx, done) = crossbeam_channel::bounded(1);
            let file = self.graph_file.clone();
            let spawned = std::thread::Builder::new()
                .name("graph-build".into())
                .spawn(move || {
                    let faces: Vec<(u64, &[f32])> =
                        keys.iter().copied().zip(flat.chunks_exact(dim)).collect();
                    let t = std::time::Instant::now();
                    let g = Graph::build(&faces, dim, euclidean, gs, file);
                    tracing::info!(
                        faces = faces.len(),
                        s = t.elapsed().as_secs(),
                        "face-set graph built"
                    );
                    let _ = tx.send(g);
                });
            if spawned.is_ok() {
                self.building = Some(Building { done, log: vec![] });
                return None;
            }
        }
        match Graph::build(&faces, dim, euclidean, gs, self.graph_file.clone()) {
            Ok(g) => {
                self.graph = Some(g);
                Some(Opened::Built)
            }
            Err(e) => {
                tracing::warn!(error = %e, "face-set graph unavailable; searching exactly");
                self.by_key.clear();
                self.outside.clear();
                None
            }
        }
    }

    /// True when a graph built in the background is ready to be installed.
    pub fn graph_ready(&self) -> bool {
        self.building.as_ref().is_some_and(|b| !b.done.is_empty())
    }

    /// Installs a graph built in the background, replaying what changed meanwhile; `wait`
    /// blocks until it is built. A failed build leaves the set exact.
    pub fn install_graph(&mut self, wait: bool) {
        let Some(b) = self.building.take() else {
            return;
        };
        let got = if wait {
            b.done
                .recv()
                .map_err(|_| crossbeam_channel::TryRecvError::Disconnected)
        } else {
            b.done.try_recv()
        };
        match got {
            Ok(Ok(mut g)) => {
                for (key, change) in b.log {
                    match change {
                        Some(v) => {
                            if !g.add(key, &v) {
                                if let Some(slot) = self.by_key.remove(&key) {
                                    self.outside.push(slot);
                                }
                            }
                        }
                        None => g.remove(key),
                    }
                }
                self.graph = Some(g);
                self.opened = Some(Opened::Built);
            }
            Err(crossbeam_channel::TryRecvError::Empty) => self.building = Some(b),
            Ok(Err(_)) | Err(crossbeam_channel::TryRecvError::Disconnected) => {
                tracing::warn!("face-set graph build failed; searching exactly");
                self.by_key.clear();
                self.outside.clear();
            }
        }
    }

    /// "exact" or the graph in use, for logs and benchmarks.
    pub fn describe(&self) -> String {
        match &self.graph {
            None if self.building.is_some() => "exact while its graph is built".into(),
            None => "exact".into(),
            Some(g) => format!(
                "graph (usearch HNSW {} {}, M {}, ef {}), {} faces, {} scanned beside it",
                g.scalar(),
                g.acceleration(),
                self.settings.graph.connectivity,
                g.breadth(),
                g.len(),
                self.outside.len()
            ),
        }
    }

    /// True when the set has its graph.
    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// Changes the graph's search breadth (ef), e.g. for a benchmark's sweep.
    pub fn set_search_breadth(&mut self, ef: usize) {
        self.settings.graph.expansion_search = ef;
        if let Some(g) = self.graph.as_mut() {
            g.set_expansion_search(ef);
        }
    }

    /// How the graph was opened: built, or loaded and brought in step (None without a graph).
    pub fn graph_opened(&self) -> Option<Opened> {
        self.opened
    }

    /// What moving the graph to huge pages did (waiting for it); None without a graph or when
    /// not asked for.
    pub fn graph_huge_pages(&mut self) -> Option<super::huge_pages::Collapsed> {
        self.graph.as_mut()?.huge_pages().cloned()
    }

    /// How many times the graph's memory was moved to huge pages (0 without a graph).
    pub fn graph_page_moves(&self) -> u32 {
        self.graph.as_ref().map_or(0, Graph::page_moves)
    }

    /// Whether the graph's memory is being moved to huge pages right now.
    pub fn graph_pages_moving(&self) -> bool {
        self.graph.as_ref().is_some_and(Graph::pages_moving)
    }

    /// Bytes the graph holds (0 without one).
    pub fn graph_bytes(&self) -> usize {
        self.graph.as_ref().map_or(0, Graph::memory_bytes)
    }

    /// Forgets the saved graph (its set was deleted): removes the files and never saves again.
    pub fn discard_saved_graph(&mut self) {
        if let Some(path) = self.graph_file.take() {
            for p in [path.clone(), path.with_extension("keys")] {
                let _ = std::fs::remove_file(p);
            }
        }
        if let Some(g) = self.graph.as_mut() {
            g.forget_file();
        }
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

    /// True when a set without its graph has grown to need one (the caller reloads it), or a set
    /// with one shrank to a quarter of the size that calls for it.
    pub fn needs_rebuild(&self) -> bool {
        let n = self.len();
        if self.graph.is_none() && self.building.is_none() {
            n >= self.settings.graph_from.max(1)
        } else {
            n < self.settings.graph_from / 4
        }
    }

    /// Handles [`Self::needs_rebuild`] in place when it can: an exact set that grew gets its
    /// graph. False: the caller reloads the set (one that shrank).
    pub fn rebuild_in_place(&mut self) -> bool {
        if self.graph.is_none() && self.building.is_none() {
            self.opened = self.build_graph();
            true
        } else {
            false
        }
    }

    /// Adds (or replaces, by face id) one face. A vector of another length is refused.
    pub fn insert(&mut self, r: FaceRecord) -> bool {
        if self.is_empty() && r.vector.len() != self.dim && self.graph.is_none() {
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
        let slot = self.place(r);
        if self.graph.is_some() || self.building.is_some() {
            self.link(slot);
        }
        true
    }

    /// Puts a slot's face into the graph (or beside it when the graph cannot take it).
    fn link(&mut self, slot: u32) {
        let Some(face) = self.face(slot as usize) else {
            return;
        };
        let key = key_of(&face.face_id);
        let taken = self.by_key.contains_key(&key);
        let d = self.dim;
        let s = slot as usize;
        let vector = &self.vectors[s * d..(s + 1) * d];
        let added = !taken
            && match (self.graph.as_mut(), self.building.as_mut()) {
                (Some(g), _) => g.add(key, vector),
                (None, Some(b)) => {
                    b.log.push((key, Some(vector.to_vec())));
                    true
                }
                (None, None) => false,
            };
        if added {
            self.by_key.insert(key, slot);
        } else {
            self.outside.push(slot);
        }
    }

    /// Stores a face and its vector in a free slot; returns the slot.
    fn place(&mut self, r: FaceRecord) -> u32 {
        let slot = Slot {
            face: IndexedFace {
                face_id: r.face_id.clone(),
                external_image_id: r.external_image_id,
                fields: r.external_fields,
                user_id: r.user_id,
                bbox: r.bounding_box,
            },
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

    /// Removes a face by id; false when it is not in the index.
    pub fn remove(&mut self, face_id: &str) -> bool {
        let Some(id) = self.by_id.remove(face_id) else {
            return false;
        };
        if self
            .faces
            .get_mut(id as usize)
            .and_then(Option::take)
            .is_none()
        {
            return false;
        }
        self.free.push(id);
        if let Some(pos) = self.outside.iter().position(|&s| s == id) {
            self.outside.swap_remove(pos);
        } else {
            let key = key_of(face_id);
            if self.by_key.get(&key) == Some(&id) {
                self.by_key.remove(&key);
                match (self.graph.as_mut(), self.building.as_mut()) {
                    (Some(g), _) => g.remove(key),
                    (None, Some(b)) => b.log.push((key, None)),
                    (None, None) => {}
                }
            }
        }
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
        let Some(graph) = &self.graph else {
            return self.search_exact(query, top_n, threshold, filter);
        };
        if query.len() != self.dim || top_n == 0 || self.is_empty() {
            return vec![];
        }
        // Some slack over top_n: the graph ranks on i8/f16 copies, the answer on full vectors.
        let want = top_n + top_n.div_ceil(2) + 8;
        let hits = self.through_graph(graph, query, want, top_n, threshold, filter);
        // Nothing at the threshold: a miss of the graph's, or a stranger. Asking for more
        // candidates widens usearch's beam to that many (it keeps max(ef, count)).
        let wide = self.settings.retry_breadth;
        if hits.as_ref().is_some_and(Vec::is_empty)
            && threshold > 0.0
            && wide > want.max(graph.breadth())
        {
            self.retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // A filter that leaves the wider look short keeps the first answer: scanning every
            // face (25 ms at 10⁶) for a stranger is what the graph is there to avoid.
            return self
                .through_graph(graph, query, wide, top_n, threshold, filter)
                .unwrap_or_default();
        }
        hits.unwrap_or_else(|| self.search_exact(query, top_n, threshold, filter))
    }

    /// How wide a search with no face at its threshold looks again (0: never).
    pub fn retry_breadth(&self) -> usize {
        self.settings.retry_breadth
    }

    /// Changes how wide a search with no face at its threshold looks again (0: never).
    pub fn set_retry_breadth(&mut self, candidates: usize) {
        self.settings.retry_breadth = candidates;
    }

    /// How many searches looked again wider ([`IndexSettings::retry_breadth`]).
    pub fn retries(&self) -> u64 {
        self.retries.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The top `top_n` of `want` graph candidates re-ranked on full vectors (with the faces kept
    /// outside the graph); None when a filter left the graph short (the exact scan answers).
    fn through_graph(
        &self,
        graph: &Graph,
        query: &[f32],
        want: usize,
        top_n: usize,
        threshold: f32,
        filter: Option<&Filter>,
    ) -> Option<Vec<Hit>> {
        let passes = |key: u64| {
            self.by_key
                .get(&key)
                .and_then(|&slot| self.face(slot as usize))
                .is_some_and(|f| filter.is_none_or(|flt| flt.matches(&f.fields)))
        };
        let keys = graph.candidates(
            query,
            want,
            filter.is_some().then_some(&passes as &dyn Fn(u64) -> bool),
        );
        // A filter the graph could not satisfy (few faces pass it, or they sit far from the
        // query): the exact scan is the answer, never a short list.
        if filter.is_some() && keys.len() < want {
            return None;
        }
        let q_sq = dot(query, query);
        // The walk already applied the filter to the graph's candidates; only the faces
        // scanned beside the graph still need it.
        let mut top = TopN::new(top_n, threshold, None);
        let score = |s: usize| self.similarity(dot(query, self.vector(s)), q_sq, s);
        for slot in keys.iter().filter_map(|k| self.by_key.get(k).copied()) {
            if self.faces[slot as usize].is_some() {
                top.offer(score(slot as usize), slot, self);
            }
        }
        top.filter = filter;
        for &slot in &self.outside {
            if self.faces[slot as usize].is_some() {
                top.offer(score(slot as usize), slot, self);
            }
        }
        Some(Self::finish(top))
    }

    /// Scans every face's full vector, whatever the graph (also the reference for recall).
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
