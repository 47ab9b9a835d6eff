//! `facestream bench-search`: face-set search at several sizes of synthetic 192-d vectors —
//! build time, memory per face, p50/p99 latency of the index the set would use and of exact
//! search, and the index's recall@1 / @10 against exact search, all measured in one run.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};

use crate::base::geometry::BoundingBox;
use crate::search::graph::{auto_breadth, Precision};
use crate::search::index::{IndexSettings, SetIndex};
use crate::search::store::FaceRecord;
use crate::search::vector::normalize;

use super::bench_search_real;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Data {
    /// Face-like: 256 population groups, identities spread around them, 4 faces per identity
    /// (same person ≈ 0.65 cosine, strangers ≈ 0.2, like real MobileFaceNet vectors); each query
    /// is a new photo of an enrolled identity.
    Clustered,
    /// Uniformly random unit vectors and queries: no structure at all, the worst case for any
    /// approximate index (every neighbour is about as far as any other).
    Uniform,
}

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// Set sizes, comma separated.
    #[arg(long, default_value = "10000,100000,1000000")]
    pub sizes: String,
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
    #[arg(long, value_enum, default_value = "clustered")]
    pub data: Data,
    /// Set size from which the graph index is used.
    #[arg(long, default_value_t = IndexSettings::default().graph_from)]
    pub graph_from: usize,
    /// Links per graph node (HNSW's M).
    #[arg(long, default_value_t = IndexSettings::default().graph.connectivity)]
    pub connectivity: usize,
    /// How the graph stores vectors (f16 or i8).
    #[arg(long, default_value = "f16", value_parser = ["f16", "i8"])]
    pub precision: String,
    /// Also build the graph in the other precision on the same faces and time both, query by
    /// query in turn (a same-moment comparison on this shared machine).
    #[arg(long)]
    pub versus: bool,
    /// Also load the same saved graph a second time on small pages and time both, query by
    /// query in turn (what `--huge-pages` gains, at one moment of this shared machine).
    #[arg(long, conflicts_with = "versus")]
    pub versus_small_pages: bool,
    /// Candidates kept while linking a face (efConstruction).
    #[arg(long, default_value_t = IndexSettings::default().graph.expansion_add)]
    pub expansion_add: usize,
    /// Also enrol the set into a SQLite store (in a temporary folder) and time what a daemon's
    /// restart costs: reading every face back, loading the saved graph, the first search.
    #[arg(long)]
    pub store: bool,
    /// Only the SQLite restart measurement of `--store` (skips the in-memory one and its build).
    #[arg(long)]
    pub store_only: bool,
    /// Move the graph's memory to huge pages (`storage.graph_huge_pages`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub huge_pages: bool,
    /// Keep the saved graphs in this folder and load them in later runs instead of building
    /// them again (the faces are the same: they are generated from a fixed seed).
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
    /// Also enrol the real faces of the photos in this folder's sub-folders (one a person, e.g.
    /// ../shared/media/gallery; the largest face of each photo, embedded by the configured
    /// embedder) into each set in place, then search with each of them: how the graph finds real
    /// vectors among the synthetic ones, against exact search.
    #[arg(long)]
    pub real: Option<std::path::PathBuf>,
    /// After the restart, add this many new faces in place (enough, a twentieth of the set, makes
    /// the graph move its grown memory to huge pages again) and time searches while that move
    /// runs and after it; the added faces are removed again at the end.
    #[arg(long, default_value_t = 0)]
    pub grow: usize,
    /// Time each query this many times in turn and also print the percentiles of each query's
    /// quickest run: a slow query that is slow every time is the graph's, one that is slow once
    /// is the machine's.
    #[arg(long, default_value_t = 1)]
    pub repeat: usize,
    /// Search breadths (ef) to measure on the same graph, comma separated; the first is the
    /// set's setting (default: the face sets' own, by the set's size).
    #[arg(long)]
    pub ef: Option<String>,
}

/// One index's latencies and recalls over the queries at one breadth.
#[derive(Default)]
struct Tally {
    lat: Vec<f64>,
    /// Each query's quickest of its `--repeat` runs.
    best: Vec<f64>,
    r1: usize,
    r10: usize,
    found: usize,
    there: usize,
}

struct Rng(u64);
impl Rng {
    /// Uniform in [-1, 1).
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 20_000) as f32 / 10_000.0 - 1.0
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.next() + 1.0) * 0.5 * n as f32) as usize % n.max(1)
    }
    fn around(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        // Uniform noise has σ = 1/√3 per coordinate; scale so the whole offset has norm `spread`.
        let k = spread * 3f32.sqrt() / (centre.len() as f32).sqrt();
        let mut v: Vec<f32> = centre.iter().map(|c| c + k * self.next()).collect();
        normalize(&mut v);
        v
    }
    fn unit(&mut self, d: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..d).map(|_| self.next()).collect();
        normalize(&mut v);
        v
    }
}

pub(super) const DIM: usize = 192;
const FACES_PER_ID: usize = 4;

/// The vectors of a set of `size` faces plus a query generator.
struct Synthetic {
    identities: Vec<Vec<f32>>,
    data: Data,
}

impl Synthetic {
    fn new(data: Data, size: usize, rng: &mut Rng) -> Self {
        let groups: Vec<Vec<f32>> = (0..256).map(|_| rng.unit(DIM)).collect();
        let identities = (0..size.div_ceil(FACES_PER_ID))
            .map(|_| {
                let g = &groups[rng.below(groups.len())];
                rng.around(g, 2.0)
            })
            .collect();
        Self { identities, data }
    }
    fn face(&self, i: usize, rng: &mut Rng) -> Vec<f32> {
        match self.data {
            Data::Clustered => rng.around(&self.identities[i / FACES_PER_ID], 0.73),
            Data::Uniform => rng.unit(DIM),
        }
    }
    fn query(&self, rng: &mut Rng) -> Vec<f32> {
        match self.data {
            Data::Clustered => {
                let id = rng.below(self.identities.len());
                rng.around(&self.identities[id], 0.73)
            }
            Data::Uniform => rng.unit(DIM),
        }
    }
}

pub(super) fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub(super) fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

/// How long one top-10 search takes (ms).
fn search_ms(ix: &SetIndex, q: &[f32]) -> f64 {
    timed(|| {
        ix.search(q, 10, 0.0, None)
            .iter()
            .map(|h| h.index)
            .collect()
    })
    .0
}

fn timed(f: impl FnOnce() -> Vec<usize>) -> (f64, Vec<usize>) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64() * 1000.0, out)
}

pub(super) fn records(vectors: &[Vec<f32>]) -> Vec<FaceRecord> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut fields = serde_json::Map::new();
            fields.insert("tenant".into(), (i % 4).into());
            FaceRecord {
                face_id: format!("{i:016x}"),
                face_set_name: "bench".into(),
                external_image_id: String::new(),
                external_fields: fields,
                bounding_box: BoundingBox {
                    top_left_x: 0,
                    top_left_y: 0,
                    width: 0,
                    height: 0,
                },
                user_id: None,
                model: crate::config::EmbedderKind::Mobilefacenet,
                vector: v.clone(),
            }
        })
        .collect()
}

pub fn run(cfg: &crate::config::Config, a: BenchSearchArgs) -> anyhow::Result<ExitCode> {
    let real = match &a.real {
        Some(dir) => bench_search_real::real_faces(cfg, dir)?,
        None => vec![],
    };
    // Built in the foreground: the build is what is timed.
    let mut settings = IndexSettings {
        graph_from: a.graph_from,
        build_in_background: false,
        ..IndexSettings::default()
    };
    settings.graph.connectivity = a.connectivity;
    settings.graph.expansion_add = a.expansion_add;
    settings.graph.precision = Precision::from_name(&a.precision);
    settings.graph.huge_pages = a.huge_pages;
    let efs: Vec<usize> = match &a.ef {
        Some(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect(),
        None => vec![0],
    };
    if let Some(&ef) = efs.first() {
        settings.graph.expansion_search = ef;
    }
    println!(
        "bench-search: {DIM}-d {:?} data, {} queries per size, top 10, {} threads; graph from {} faces (M {}, ef_add {}, {:?})",
        a.data,
        a.queries,
        std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(1),
        settings.graph_from,
        settings.graph.connectivity,
        settings.graph.expansion_add,
        settings.graph.precision,
    );
    let dir = a.keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fs-bench-search-{}", std::process::id()))
    });
    for size in a
        .sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ size as u64);
        let synth = Synthetic::new(a.data, size, &mut rng);
        let vectors: Vec<Vec<f32>> = (0..size).map(|i| synth.face(i, &mut rng)).collect();
        let queries: Vec<Vec<f32>> = (0..a.queries).map(|_| synth.query(&mut rng)).collect();
        let restart_through_sqlite = || {
            store_restart(
                &dir.join(format!("store-{size}")),
                &vectors,
                &queries[0],
                settings,
            )
        };
        if a.store_only {
            restart_through_sqlite()?;
            let _ = std::fs::remove_dir_all(&dir);
            continue;
        }
        let file = dir.join(format!("bench-{size}.usearch"));
        let rss0 = rss_bytes();
        let t = Instant::now();
        let mut ix = SetIndex::from_records(
            crate::config::EmbedderKind::Mobilefacenet,
            DIM,
            records(&vectors),
            settings,
            Some(file.clone()),
        );
        let build = t.elapsed().as_secs_f64();
        let per_face = rss_bytes().saturating_sub(rss0) as f64 / size as f64;
        let pages = match ix.graph_huge_pages() {
            Some(c) => match c.unsupported {
                Some(why) => format!("huge pages refused: {why}"),
                None => format!("{} MiB moved to huge pages in {} ms", c.bytes >> 20, c.ms),
            },
            None => "small pages".into(),
        };
        println!(
            "{size:>9} faces [{}]: {} {build:.1} s (saved included) | {per_face:.0} bytes/face resident \
             (vector {} + graph {:.0} + id, fields, maps) | {pages}",
            ix.describe(),
            match ix.graph_opened() {
                Some(crate::search::graph::Opened::Loaded { .. }) => "loaded (--keep)",
                _ => "build",
            },
            DIM * 4,
            ix.graph_bytes() as f64 / size as f64,
        );
        if !real.is_empty() {
            bench_search_real::real_recall(&mut ix, &real, size);
        }
        let mut other = (a.versus || a.versus_small_pages).then(|| {
            let mut o = settings;
            let file = if a.versus_small_pages {
                o.graph.huge_pages = false;
                file.clone()
            } else {
                o.graph.precision = match settings.graph.precision {
                    Precision::F16 => Precision::I8,
                    Precision::I8 => Precision::F16,
                };
                dir.join(format!("bench-{size}-versus.usearch"))
            };
            let rss0 = rss_bytes();
            let t = Instant::now();
            let ix = SetIndex::from_records(
                crate::config::EmbedderKind::Mobilefacenet,
                DIM,
                records(&vectors),
                o,
                Some(file),
            );
            println!(
                "{size:>9} faces [versus: {}{}]: {} {:.1} s | {:.0} bytes/face resident",
                ix.describe(),
                if a.versus_small_pages {
                    ", small pages"
                } else {
                    ""
                },
                if ix.graph_opened() == Some(crate::search::graph::Opened::Built) {
                    "build"
                } else {
                    "loaded"
                },
                t.elapsed().as_secs_f64(),
                rss_bytes().saturating_sub(rss0) as f64 / size as f64,
            );
            ix
        });
        // Per query: the exact top 10, and every face at or above the match threshold (the same
        // person's other photos) for the above-threshold recall.
        let ids = |h: Vec<crate::search::index::Hit>| -> Vec<usize> {
            h.iter().map(|h| h.index).collect()
        };
        let mut lat_exact = vec![];
        let (mut truth, mut above) = (vec![], vec![]);
        for q in &queries {
            let (ms, t10) = timed(|| ids(ix.search_exact(q, 10, 0.0, None)));
            lat_exact.push(ms);
            truth.push(t10);
            above.push(ids(ix.search_exact(q, 64, THRESHOLD, None)));
        }
        lat_exact.sort_by(f64::total_cmp);
        for &ef in &efs {
            let mut tally = [Tally::default(), Tally::default()];
            let mut both: Vec<&mut SetIndex> =
                std::iter::once(&mut ix).chain(other.as_mut()).collect();
            for ix in both.iter_mut() {
                ix.set_search_breadth(ef);
                // One pass to warm the caches, then the measured one.
                for q in &queries {
                    let _ = ix.search(q, 10, 0.0, None);
                }
            }
            for ((q, t10), at) in queries.iter().zip(&truth).zip(&above) {
                // Query by query in turn, so both see the same moment of this shared machine.
                for (ix, t) in both.iter().zip(tally.iter_mut()) {
                    let (ms, got) = timed(|| ids(ix.search(q, 10, 0.0, None)));
                    t.lat.push(ms);
                    let mut best = ms;
                    for _ in 1..a.repeat {
                        let ms = search_ms(ix, q);
                        t.lat.push(ms);
                        best = best.min(ms);
                    }
                    t.best.push(best);
                    t.r1 += usize::from(got.first() == t10.first());
                    t.r10 += got.iter().filter(|i| t10.contains(i)).count();
                    let mine = ids(ix.search(q, at.len().max(10), THRESHOLD, None));
                    t.found += at.iter().filter(|i| mine.contains(i)).count();
                    t.there += at.len();
                }
            }
            for (k, t) in tally.iter_mut().enumerate().take(both.len()) {
                t.lat.sort_by(f64::total_cmp);
                t.best.sort_by(f64::total_cmp);
                println!(
                    "{size:>9} faces [{}ef {}]: p50 {:.3} ms  p99 {:.3} ms | exact p50 {:.2} ms  p99 {:.2} ms | \
                     recall@1 {:.3}  recall@10 {:.3} | above-threshold (≥ {THRESHOLD}) recall {:.3} ({}/{})",
                    if k == 0 { "" } else { "versus, " },
                    if ef == 0 { format!("{} (by size)", crate::search::graph::auto_breadth(size)) } else { ef.to_string() },
                    pct(&t.lat, 0.5),
                    pct(&t.lat, 0.99),
                    pct(&lat_exact, 0.5),
                    pct(&lat_exact, 0.99),
                    t.r1 as f64 / a.queries as f64,
                    t.r10 as f64 / (10 * a.queries) as f64,
                    t.found as f64 / t.there.max(1) as f64,
                    t.found,
                    t.there,
                );
                if a.repeat > 1 {
                    println!(
                        "{size:>9} faces [{}ef {}]: each query's quickest of {} runs: p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
                        if k == 0 { "" } else { "versus, " },
                        if ef == 0 { auto_breadth(size) } else { ef },
                        a.repeat,
                        pct(&t.best, 0.5),
                        pct(&t.best, 0.99),
                        pct(&t.best, 1.0),
                    );
                }
            }
        }
        drop(other);
        ix.set_search_breadth(settings.graph.expansion_search);
        strangers(&mut ix, &mut rng, a.queries, size);
        // A filter keeping one face in four (a tenant's): still a full top 10?
        let filter = crate::search::filter::Filter::Eq("tenant".into(), 1.into());
        let t = Instant::now();
        let full = queries
            .iter()
            .filter(|q| {
                let h = ix.search(q, 10, 0.0, Some(&filter));
                h.len() == 10 && h.iter().all(|h| h.index % 4 == 1)
            })
            .count();
        let filtered_ms = t.elapsed().as_secs_f64() * 1000.0 / queries.len().max(1) as f64;
        // In place: 1000 removals and 1000 additions.
        let mut extra = records(&vectors[..1000.min(size)]);
        let t = Instant::now();
        for r in &extra {
            ix.remove(&r.face_id);
        }
        let remove_ms = t.elapsed().as_secs_f64() * 1000.0 / extra.len().max(1) as f64;
        let t = Instant::now();
        for r in extra.drain(..) {
            ix.insert(r);
        }
        let add_ms = t.elapsed().as_secs_f64() * 1000.0 / 1000.0f64.min(size as f64).max(1.0);
        // A restart: the set's faces come back and the saved graph is loaded, not rebuilt.
        drop(ix);
        let disk = [file.clone(), file.with_extension("keys")]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum::<u64>();
        let again = records(&vectors);
        let t = Instant::now();
        let ix = SetIndex::from_records(
            crate::config::EmbedderKind::Mobilefacenet,
            DIM,
            again,
            settings,
            Some(file.clone()),
        );
        let restart = t.elapsed().as_secs_f64();
        println!(
            "{size:>9} faces: filtered (1 in 4 kept) {full}/{} full top 10, {filtered_ms:.3} ms mean | \
             in place: remove {remove_ms:.3} ms, add {add_ms:.3} ms a face | restart {restart:.2} s ({:?}) | \
             {:.0} bytes/face on disk",
            queries.len(),
            ix.graph_opened(),
            disk as f64 / size as f64,
        );
        if a.grow > 0 && size > 0 {
            grow(ix, &synth, &mut rng, size, a.grow, &queries);
        } else {
            drop(ix);
        }
        if a.store {
            restart_through_sqlite()?;
        }
        if a.keep.is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a search costs someone who is not in the set (random unit vectors: nothing at the match
/// threshold), through the graph alone and looking again wider (`storage.graph_retry_breadth`),
/// query by query in turn.
fn strangers(ix: &mut SetIndex, rng: &mut Rng, queries: usize, size: usize) {
    if !ix.has_graph() {
        return;
    }
    let wide = ix.retry_breadth();
    let qs: Vec<Vec<f32>> = (0..queries).map(|_| rng.unit(DIM)).collect();
    let (mut lat, mut matched) = ([vec![], vec![]], 0);
    for q in &qs {
        for (j, retry) in [0, wide].into_iter().enumerate() {
            ix.set_retry_breadth(retry);
            let t = Instant::now();
            matched += usize::from(!ix.search(q, 10, THRESHOLD, None).is_empty());
            lat[j].push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    ix.set_retry_breadth(wide);
    for l in &mut lat {
        l.sort_by(f64::total_cmp);
    }
    println!(
        "{size:>9} faces: strangers (random unit vectors; {matched} of {} searches found a face ≥ {THRESHOLD}): \
         graph alone p50 {:.3} / p99 {:.3} ms, looking again at {wide} when nothing is found p50 {:.3} / p99 {:.3} ms",
        2 * queries,
        pct(&lat[0], 0.5),
        pct(&lat[0], 0.99),
        pct(&lat[1], 0.5),
        pct(&lat[1], 0.99),
    );
}

/// A daemon's view of a large set: enrolled into SQLite, searched once by one process (which
/// builds and saves the graph), then by a fresh one (a restart: faces read back, graph loaded).
fn store_restart(
    dir: &std::path::Path,
    vectors: &[Vec<f32>],
    query: &[f32],
    settings: IndexSettings,
) -> anyhow::Result<()> {
    use crate::search::store::{NewFace, Store};
    use crate::search::{FaceSets, SearchParams};
    let model = crate::config::EmbedderKind::Mobilefacenet;
    let t = Instant::now();
    {
        let mut st = crate::search::store::SqliteStore::open(dir)?;
        st.create_set("bench", vectors.len() + 1, &Default::default(), model)?;
        for chunk in vectors.chunks(10_000) {
            let faces = chunk
                .iter()
                .map(|v| NewFace {
                    external_image_id: String::new(),
                    fields: Default::default(),
                    bbox: BoundingBox {
                        top_left_x: 0,
                        top_left_y: 0,
                        width: 0,
                        height: 0,
                    },
                    user_id: None,
                    model,
                    vector: v.clone(),
                    picture: None,
                })
                .collect();
            st.add_faces("bench", faces)?;
        }
    }
    let enrol = t.elapsed().as_secs_f64();
    let q = crate::analyze::Embedding {
        model,
        vector: query.to_vec(),
    };
    let p = SearchParams::new(0.0);
    let open_and_search = || -> anyhow::Result<(f64, Option<crate::search::graph::Opened>)> {
        let t = Instant::now();
        let sets = FaceSets::open(dir)?.with_index_settings(settings);
        sets.search("bench", &q, &p)?;
        Ok((t.elapsed().as_secs_f64(), sets.graph_opened("bench")))
    };
    let (first, how_first) = open_and_search()?;
    let (again, how_again) = open_and_search()?;
    println!(
        "{:>9} faces in SQLite: enrolled in {enrol:.1} s | first start + search {first:.1} s ({how_first:?}) | \
         restart + search {again:.2} s ({how_again:?})",
        vectors.len()
    );
    Ok(())
}

/// The similarity at which a face matches (MobileFaceNet's track threshold): what "the same
/// person's other photos" means for the above-threshold recall.
pub(super) const THRESHOLD: f32 = 0.46;

/// `--grow`: `n` new faces added in place to the restarted set, then searches timed while the
/// graph's grown memory moves to huge pages (on its own thread) and after; the faces go again.
fn grow(
    mut ix: SetIndex,
    synth: &Synthetic,
    rng: &mut Rng,
    size: usize,
    n: usize,
    queries: &[Vec<f32>],
) {
    // The restart's own move first.
    let first = ix.graph_huge_pages().map_or("none".into(), |c| {
        format!("{} MiB, {} ms", c.bytes >> 20, c.ms)
    });
    let moves = ix.graph_page_moves();
    let mut added = records(
        &(0..n)
            .map(|i| synth.face(i % size.max(1), rng))
            .collect::<Vec<_>>(),
    );
    for (i, r) in added.iter_mut().enumerate() {
        r.face_id = format!("grown-{i:016x}");
    }
    let ids: Vec<String> = added.iter().map(|r| r.face_id.clone()).collect();
    // Added until the graph starts moving again, so the searches below meet the move.
    let t = Instant::now();
    let mut count = 0;
    for r in added {
        ix.insert(r);
        count += 1;
        if ix.graph_page_moves() > moves {
            break;
        }
    }
    let add_ms = t.elapsed().as_secs_f64() * 1000.0 / count.max(1) as f64;
    // Searches while the move runs, then as many after it.
    let (mut during, mut after) = (vec![], vec![]);
    let t = Instant::now();
    let mut q = queries.iter().cycle();
    while ix.graph_pages_moving() {
        let Some(query) = q.next() else { break };
        during.push(search_ms(&ix, query));
    }
    let moving_s = t.elapsed().as_secs_f64();
    let moved = ix.graph_huge_pages();
    for query in queries.iter().cycle().take(during.len().max(queries.len())) {
        after.push(search_ms(&ix, query));
    }
    during.sort_by(f64::total_cmp);
    after.sort_by(f64::total_cmp);
    let p = |v: &[f64], q: f64| if v.is_empty() { 0.0 } else { pct(v, q) };
    println!(
        "{size:>9} faces + {count} added in place: add {add_ms:.3} ms a face | moves to huge pages {} → {} \
         (the restart's: {first}) | during the move ({moving_s:.2} s, {}): {} searches p50 {:.3} ms p99 {:.3} ms | \
         after: p50 {:.3} ms p99 {:.3} ms",
        moves,
        ix.graph_page_moves(),
        moved.map_or("none".into(), |c| format!("{} MiB in huge pages, {} ms", c.bytes >> 20, c.ms)),
        during.len(),
        p(&during, 0.5),
        p(&during, 0.99),
        p(&after, 0.5),
        p(&after, 0.99),
    );
    for id in ids.iter().take(count) {
        ix.remove(id);
    }
}
