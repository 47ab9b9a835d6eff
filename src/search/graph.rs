//! The graph index of a large face set: usearch's HNSW (a maintained C++ library), kept in step
//! with the set face by face and saved beside the store, so a restart loads it instead of
//! rebuilding it (minutes at 10⁶ faces). Chosen over the inverted file this project wrote first
//! after measuring both on the same data in one run (docs/facesets.md): at 10⁶ faces it answered
//! several times faster at the same recall and holds a quarter of the memory.
//!
//! The graph only proposes candidates; the set's full-precision vectors re-rank them
//! (`index.rs`), so its i8 or f16 copies never decide between two close faces.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::huge_pages::{collapse_new, Collapsed, Mappings};

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GraphSettings {
    /// Links per node (HNSW's M). More: better recall at a given breadth, bigger and slower build.
    pub connectivity: usize,
    /// Candidates kept while linking a new face (efConstruction). 256 by default: against 128 it
    /// doubles the build (18 min at 10⁶ faces on two cores) and each add in place (1.8 ms), and
    /// links a graph whose searches find the same top 1 at a smaller breadth — at 10⁶, breadth 60
    /// finds 99.2 % of them where 128's graph needed 80 (docs/facesets.md, session 39).
    pub expansion_add: usize,
    /// Candidates kept while searching (ef): the recall/latency dial. 0: by the set's size
    /// ([`auto_breadth`]).
    pub expansion_search: usize,
    /// How the graph stores each vector (it only proposes candidates; full-precision vectors
    /// re-rank them).
    pub precision: Precision,
    /// Move the graph's memory to 2 MiB pages once it is read or built ([`super::huge_pages`]).
    pub huge_pages: bool,
}

/// The graph's copy of a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// Half floats: 2 bytes a dimension.
    #[default]
    F16,
    /// Bytes (each dimension × 127): half of f16's memory per hop. Only for unit-length
    /// vectors compared by angle (MobileFaceNet); distance-compared sets keep f16.
    I8,
}

impl Precision {
    /// From its name in `storage.graph_precision` and `bench-search --precision` ("f16", "i8");
    /// any other name is f16 (the configuration refuses one at start).
    pub fn from_name(name: &str) -> Self {
        if name == "i8" {
            Precision::I8
        } else {
            Precision::F16
        }
    }
}

impl Default for GraphSettings {
    fn default() -> Self {
        Self {
            connectivity: 32,
            expansion_add: 256,
            expansion_search: 0,
            precision: Precision::F16,
            huge_pages: true,
        }
    }
}

/// Why a saved graph could not be used (it is then rebuilt; nothing depends on the file).
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    #[error("usearch: {0}")]
    Library(String),
    #[error("{path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: saved for another model, size or settings")]
    Mismatch(PathBuf),
}

fn lib(e: impl std::fmt::Display) -> GraphError {
    GraphError::Library(e.to_string())
}

/// A face's key in the graph: a stable 64-bit hash of its id (FNV-1a), the same in every process
/// and after a restart, unlike the index's slots.
pub fn key_of(face_id: &str) -> u64 {
    face_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

pub struct Graph {
    index: Index,
    /// Keys in the graph (what the saved key list holds).
    keys: HashSet<u64>,
    settings: GraphSettings,
    dim: usize,
    euclidean: bool,
    /// Where it is saved, and whether it changed since.
    file: Option<PathBuf>,
    dirty: bool,
    pages: Pages,
    /// The process's mappings before the graph's memory existed (with huge pages on): what a
    /// move leaves alone.
    pages_before: Option<Mappings>,
    /// Faces added in place since the last move, and how many moves were made.
    added_since_move: usize,
    moves: u32,
}

/// Faces added in place land on memory usearch maps as the graph grows, on small pages: once a
/// twentieth of the set (and at least this many) was added since the last move, that memory is
/// moved too.
const MOVE_AGAIN_AFTER: usize = 4096;

/// Moving the graph's memory to huge pages (after it is read or built).
enum Pages {
    Untouched,
    /// On a thread of its own after a load, so the first search does not wait for it; the flag
    /// ends it early.
    Moving(std::thread::JoinHandle<Collapsed>, Arc<AtomicBool>),
    Moved(Collapsed),
}

fn options(dim: usize, euclidean: bool, s: GraphSettings) -> IndexOptions {
    let i8 = s.precision == Precision::I8 && !euclidean;
    IndexOptions {
        dimensions: dim,
        // dlib's vectors are compared by distance, MobileFaceNet's (unit length) by angle.
        metric: if euclidean {
            MetricKind::L2sq
        } else if i8 {
            // usearch scales unit vectors into bytes for the angle metric.
            MetricKind::Cos
        } else {
            MetricKind::IP
        },
        quantization: if i8 { ScalarKind::I8 } else { ScalarKind::F16 },
        connectivity: s.connectivity,
        expansion_add: s.expansion_add,
        expansion_search: s.expansion_search.max(64),
        multi: false,
    }
}

/// The key list saved beside the graph: a header naming what it was built for, then the keys.
const MAGIC: &[u8; 8] = b"FSGRAPH1";

impl Graph {
    fn empty(
        dim: usize,
        euclidean: bool,
        settings: GraphSettings,
        file: Option<PathBuf>,
    ) -> Result<Self, GraphError> {
        let index = Index::new(&options(dim, euclidean, settings)).map_err(lib)?;
        Ok(Self {
            index,
            keys: HashSet::new(),
            settings,
            dim,
            euclidean,
            file,
            dirty: false,
            pages: Pages::Untouched,
            pages_before: None,
            added_since_move: 0,
            moves: 0,
        })
    }

    /// The graph saved in `file`, when it holds a graph of the same model and settings not
    /// more than half out of step with `faces` (key, vector), brought in step: missing faces
    /// added, gone ones removed. None: build one ([`Graph::build`]).
    pub fn saved(
        faces: &[(u64, &[f32])],
        dim: usize,
        euclidean: bool,
        settings: GraphSettings,
        file: &Path,
    ) -> Option<(Self, Opened)> {
        let t = std::time::Instant::now();
        let before = settings.huge_pages.then(Mappings::now);
        let mut g = match Self::load(file, dim, euclidean, settings) {
            Ok(g) => g,
            Err(e) => {
                if file.exists() {
                    tracing::info!(error = %e, "saved face-set graph not used; rebuilding");
                }
                return None;
            }
        };
        tracing::debug!(
            faces = g.len(),
            ms = t.elapsed().as_millis() as u64,
            "saved face-set graph read"
        );
        let wanted: HashSet<u64> = faces.iter().map(|(k, _)| *k).collect();
        let gone: Vec<u64> = g
            .keys
            .iter()
            .copied()
            .filter(|k| !wanted.contains(k))
            .collect();
        let missing: Vec<(u64, &[f32])> = faces
            .iter()
            .copied()
            .filter(|(k, _)| !g.keys.contains(k))
            .collect();
        // Far out of step: building afresh is as fast and gives a better graph.
        if (gone.len() + missing.len()) * 2 > faces.len().max(1) {
            return None;
        }
        for k in &gone {
            g.remove(*k);
        }
        if let Err(e) = g.add_all(&missing) {
            tracing::info!(error = %e, "saved face-set graph not brought in step; rebuilding");
            return None;
        }
        if g.dirty {
            g.save();
        }
        g.pages_before = before;
        g.move_pages();
        let opened = Opened::Loaded {
            added: missing.len(),
            removed: gone.len(),
        };
        Some((g, opened))
    }

    /// A new graph of `faces`, linked on every core and saved to `file` (minutes at 10⁶ faces
    /// on two cores: the caller runs it off the search path).
    pub fn build(
        faces: &[(u64, &[f32])],
        dim: usize,
        euclidean: bool,
        settings: GraphSettings,
        file: Option<PathBuf>,
    ) -> Result<Self, GraphError> {
        let before = settings.huge_pages.then(Mappings::now);
        let mut g = Self::empty(dim, euclidean, settings, file)?;
        g.add_all(faces)?;
        g.save();
        if let Some(before) = &before {
            g.pages = Pages::Moved(logged(collapse_new(before, &AtomicBool::new(false))));
            g.moves = 1;
        }
        g.pages_before = before;
        Ok(g)
    }

    /// Moves the graph's memory to huge pages on a thread of its own (the first search does
    /// not wait for it), when asked for and no move is under way.
    fn move_pages(&mut self) {
        let Some(before) = self.pages_before.clone() else {
            return;
        };
        match &self.pages {
            Pages::Moving(h, _) if !h.is_finished() => return,
            _ => {}
        }
        let _ = self.huge_pages();
        let stop = Arc::new(AtomicBool::new(false));
        let told = stop.clone();
        let spawned = std::thread::Builder::new()
            .name("graph-pages".into())
            .spawn(move || logged(collapse_new(&before, &told)));
        if let Ok(h) = spawned {
            self.pages = Pages::Moving(h, stop);
            self.moves += 1;
            self.added_since_move = 0;
        }
    }

    /// Whether a move to huge pages is under way.
    pub fn pages_moving(&self) -> bool {
        matches!(&self.pages, Pages::Moving(h, _) if !h.is_finished())
    }

    /// How many times the graph's memory was moved to huge pages (the first after it was read
    /// or built, then after each [`MOVE_AGAIN_AFTER`]-or-more faces added in place).
    pub fn page_moves(&self) -> u32 {
        self.moves
    }

    /// What moving the graph to huge pages did, waiting for it if it is under way; None when
    /// it was not asked for.
    pub fn huge_pages(&mut self) -> Option<&Collapsed> {
        self.pages = match std::mem::replace(&mut self.pages, Pages::Untouched) {
            Pages::Moving(h, _) => Pages::Moved(h.join().unwrap_or_default()),
            done => done,
        };
        match &self.pages {
            Pages::Moved(c) => Some(c),
            _ => None,
        }
    }

    fn load(
        path: &Path,
        dim: usize,
        euclidean: bool,
        settings: GraphSettings,
    ) -> Result<Self, GraphError> {
        let file_err = |source| GraphError::File {
            path: path.to_path_buf(),
            source,
        };
        let mut raw = vec![];
        std::fs::File::open(keys_path(path))
            .and_then(|mut f| f.read_to_end(&mut raw))
            .map_err(file_err)?;
        let header = header(dim, euclidean, settings);
        if raw.len() < header.len() || raw[..header.len()] != header[..] {
            return Err(GraphError::Mismatch(path.to_path_buf()));
        }
        let keys: HashSet<u64> = raw[header.len()..]
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        let mut g = Self::empty(dim, euclidean, settings, Some(path.to_path_buf()))?;
        g.index.load(&path.display().to_string()).map_err(lib)?;
        // The graph and its key list are written one after the other: a crash between them
        // leaves sizes that disagree.
        if g.index.size() != keys.len() || g.index.dimensions() != dim {
            return Err(GraphError::Mismatch(path.to_path_buf()));
        }
        g.keys = keys;
        g.fit_breadth();
        Ok(g)
    }

    /// Adds faces on every core (usearch links them concurrently).
    fn add_all(&mut self, faces: &[(u64, &[f32])]) -> Result<(), GraphError> {
        if faces.is_empty() {
            return Ok(());
        }
        // A small graph is linked on one thread: faces linked at the same moment do not see each
        // other, and in a small graph that costs recall (a 1 200-face test set: recall@10 365–389
        // of 400 on two threads, varying run to run; 30/30 runs above 390 on one). It takes
        // milliseconds either way; from 10 000 faces the cores are worth it.
        let threads = if faces.len() < 10_000 {
            1
        } else {
            std::thread::available_parallelism()
                .map(std::num::NonZero::get)
                .unwrap_or(1)
                .min(8)
        };
        let want = self.index.size() + faces.len();
        if want > self.index.capacity() {
            self.index
                .reserve_capacity_and_threads(want, threads)
                .map_err(lib)?;
        }
        let index = &self.index;
        let failed: Vec<u64> = std::thread::scope(|s| {
            let parts: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        faces
                            .iter()
                            .skip(t)
                            .step_by(threads)
                            .filter(|(k, v)| index.add(*k, v).is_err())
                            .map(|(k, _)| *k)
                            .collect::<Vec<u64>>()
                    })
                })
                .collect();
            parts
                .into_iter()
                .flat_map(|p| p.join().unwrap_or_default())
                .collect()
        });
        if !failed.is_empty() {
            return Err(GraphError::Library(format!(
                "{} of {} faces could not be added",
                failed.len(),
                faces.len()
            )));
        }
        self.keys.extend(faces.iter().map(|(k, _)| *k));
        self.dirty = true;
        self.fit_breadth();
        Ok(())
    }

    /// Adds one face; false when the graph refused it (the caller scans it exactly instead).
    pub fn add(&mut self, key: u64, vector: &[f32]) -> bool {
        if self.keys.contains(&key) {
            self.remove(key);
        }
        if self.index.size() + 1 > self.index.capacity() {
            let grow = (self.index.capacity() * 2).max(1024);
            if self.index.reserve(grow).is_err() {
                return false;
            }
        }
        let ok = self.index.add(key, vector).is_ok();
        if ok {
            self.keys.insert(key);
            self.dirty = true;
            if self.keys.len().is_multiple_of(1024) {
                self.fit_breadth();
            }
            // Counted only when huge pages were asked for: otherwise nothing is ever moved.
            if self.pages_before.is_some() {
                self.added_since_move += 1;
                if self.added_since_move >= MOVE_AGAIN_AFTER.max(self.keys.len() / 20) {
                    self.move_pages();
                }
            }
        }
        ok
    }

    pub fn remove(&mut self, key: u64) {
        if self.keys.remove(&key) {
            let _ = self.index.remove(key);
            self.dirty = true;
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Up to `count` candidate keys nearest to `query` among those `keep` accepts.
    pub fn candidates(
        &self,
        query: &[f32],
        count: usize,
        keep: Option<&dyn Fn(u64) -> bool>,
    ) -> Vec<u64> {
        let found = match keep {
            None => self.index.search(query, count),
            Some(f) => self.index.filtered_search(query, count, f),
        };
        match found {
            Ok(m) => m.keys,
            Err(e) => {
                tracing::warn!(error = %e, "face-set graph search failed");
                vec![]
            }
        }
    }

    /// Changes the search breadth (ef) of this graph.
    pub fn set_expansion_search(&mut self, ef: usize) {
        self.settings.expansion_search = ef;
        self.fit_breadth();
    }

    /// The search breadth in use: the setting, or by size when it is 0.
    pub fn breadth(&self) -> usize {
        match self.settings.expansion_search {
            0 => auto_breadth(self.keys.len()),
            ef => ef,
        }
    }

    fn fit_breadth(&self) {
        let ef = self.breadth();
        if self.index.expansion_search() != ef {
            self.index.change_expansion_search(ef);
        }
    }

    /// Never saves again (the set is gone).
    pub fn forget_file(&mut self) {
        self.file = None;
        self.dirty = false;
    }

    /// The SIMD kernels usearch picked on this CPU (e.g. "haswell"; "serial" when none).
    pub fn acceleration(&self) -> String {
        self.index.hardware_acceleration()
    }

    /// How the graph stores vectors ("f16", "i8").
    pub fn scalar(&self) -> &'static str {
        if options(self.dim, self.euclidean, self.settings).quantization == ScalarKind::I8 {
            "i8"
        } else {
            "f16"
        }
    }

    /// Bytes the graph holds in memory (its own accounting).
    pub fn memory_bytes(&self) -> usize {
        self.index.memory_usage()
    }

    /// Saves the graph and then its key list next to it, each through a temporary file renamed
    /// into place, when it has a file and changed. A failure is logged: the store stays the
    /// truth and the next start rebuilds or reconciles.
    pub fn save(&mut self) {
        let Some(path) = self.file.clone() else {
            return;
        };
        if let Err(e) = self.write(&path) {
            tracing::warn!(error = %e, "cannot save the face-set graph");
        } else {
            self.dirty = false;
        }
    }

    fn write(&self, path: &Path) -> Result<(), GraphError> {
        let file_err = |source| GraphError::File {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(file_err)?;
        }
        let tmp = path.with_extension("tmp");
        self.index.save(&tmp.display().to_string()).map_err(lib)?;
        std::fs::rename(&tmp, path).map_err(file_err)?;
        let mut raw = header(self.dim, self.euclidean, self.settings);
        raw.reserve(self.keys.len() * 8);
        for k in &self.keys {
            raw.extend_from_slice(&k.to_le_bytes());
        }
        let keys_tmp = keys_path(path).with_extension("tmp");
        std::fs::File::create(&keys_tmp)
            .and_then(|mut f| f.write_all(&raw).and_then(|()| f.sync_all()))
            .map_err(file_err)?;
        std::fs::rename(&keys_tmp, keys_path(path)).map_err(file_err)
    }
}

impl Drop for Graph {
    /// A graph changed since it was saved is saved when the set's index is dropped (at shutdown,
    /// or when another process's changes make it reload), so the next start only reconciles.
    fn drop(&mut self) {
        if self.dirty {
            self.save();
        }
        // Its thread works on this graph's memory, freed right after: stopped and waited for
        // (one block, a few milliseconds; the whole move takes seconds at 10⁶ faces).
        if let Pages::Moving(_, stop) = &self.pages {
            stop.store(true, Ordering::Relaxed);
        }
        let _ = self.huge_pages();
    }
}

/// The search breadth for a graph of `faces` faces: 60 up to 10⁶, then growing with the square
/// root of the size. Measured on face-like vectors with 32 links a node and an efConstruction of
/// 256 (docs/facesets.md, session 39): at 10⁶ ef 60 finds the exact top 1 for 99.2 % of queries
/// and every stored face above the match threshold, p99 0.92–1.00 ms in a quiet hour (1.10–1.24
/// in a slower one); ef 56 99.0 %.
pub fn auto_breadth(faces: usize) -> usize {
    let ef = 60.0 * (faces as f64 / 1_000_000.0).sqrt();
    (ef.round() as usize).clamp(60, 512)
}

/// What opening a graph did (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    Built,
    Loaded { added: usize, removed: usize },
}

fn logged(c: Collapsed) -> Collapsed {
    match &c.unsupported {
        Some(why) => tracing::info!(why, "face-set graph stays on small pages"),
        None => tracing::debug!(
            mib = c.bytes >> 20,
            refused = c.refused,
            ms = c.ms,
            stopped = c.stopped,
            "face-set graph moved to huge pages"
        ),
    }
    c
}

fn keys_path(graph: &Path) -> PathBuf {
    graph.with_extension("keys")
}

fn header(dim: usize, euclidean: bool, s: GraphSettings) -> Vec<u8> {
    let mut h = MAGIC.to_vec();
    // f16 graphs keep the header they were first saved with (no rebuild after an upgrade).
    let i8 = (s.precision == Precision::I8 && !euclidean).then_some(8);
    for v in [dim, usize::from(euclidean), s.connectivity, s.expansion_add]
        .into_iter()
        .chain(i8)
    {
        h.extend_from_slice(&(v as u64).to_le_bytes());
    }
    h
}

/// The file of one set's graph under `dir`: its name made safe for a path, plus a hash of the
/// exact name so two names that clean up alike never share a file.
pub fn file_for(dir: &Path, set: &str) -> PathBuf {
    let clean: String = set
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    dir.join(format!("{clean}-{:016x}.usearch", key_of(set)))
}
