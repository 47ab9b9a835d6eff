//! `facestream bench-search`: face-set search at several sizes of synthetic 192-d vectors —
//! build time, memory per face, p50/p99 latency of the index the set would use and of exact
//! search, and the index's recall@1 / @10 against exact search, all measured in one run.

use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, ValueEnum};

use crate::base::geometry::BoundingBox;
use crate::search::index::{IndexSettings, SetIndex};
use crate::search::store::FaceRecord;
use crate::search::vector::normalize;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Data {
    /// Face-like: 256 population groups, identities spread around them, 4 faces per identity
    /// (same person ≈ 0.65 cosine, strangers ≈ 0.2, like real MobileFaceNet vectors); each query
    /// is a new photo of an enrolled identity.
    Clustered,
    /// Uniformly random unit vectors and queries: no structure at all, the worst case for any
    /// partitioned index (every neighbour is about as far as any other).
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
    /// Share of the lists scanned per query once a set is partitioned, in percent.
    #[arg(long, default_value_t = IndexSettings::default().probe_percent)]
    pub probe_percent: f32,
    /// Set size from which the inverted-file index is used.
    #[arg(long, default_value_t = IndexSettings::default().ivf_from)]
    pub ivf_from: usize,
    /// Also build usearch's HNSW (f16, connectivity 16, expansion 128 / 64) on the same vectors
    /// and print its latency, recall, build, restart and memory beside the face sets' index.
    #[arg(long)]
    pub usearch: bool,
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

fn timed(f: impl FnOnce() -> Vec<usize>) -> (f64, Vec<usize>) {
    let t = Instant::now();
    let out = f();
    (t.elapsed().as_secs_f64() * 1000.0, out)
}

pub fn run(a: BenchSearchArgs) -> anyhow::Result<ExitCode> {
    let settings = IndexSettings {
        ivf_from: a.ivf_from,
        probe_percent: a.probe_percent,
    };
    println!(
        "bench-search: {DIM}-d {:?} data, {} queries per size, top 10, {} threads; index from {} faces, probe {} % of lists",
        a.data,
        a.queries,
        std::thread::available_parallelism().map(std::num::NonZero::get).unwrap_or(1),
        settings.ivf_from,
        settings.probe_percent,
    );
    for size in a
        .sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ size as u64);
        let synth = Synthetic::new(a.data, size, &mut rng);
        let vectors: Vec<Vec<f32>> = (0..size).map(|i| synth.face(i, &mut rng)).collect();
        let queries: Vec<Vec<f32>> = (0..a.queries).map(|_| synth.query(&mut rng)).collect();
        let rss0 = rss_bytes();
        let records: Vec<FaceRecord> = vectors
            .iter()
            .enumerate()
            .map(|(i, v)| FaceRecord {
                face_id: format!("{i:016x}"),
                face_set_name: "bench".into(),
                external_image_id: String::new(),
                external_fields: Default::default(),
                bounding_box: BoundingBox {
                    top_left_x: 0,
                    top_left_y: 0,
                    width: 0,
                    height: 0,
                },
                user_id: None,
                model: crate::config::EmbedderKind::Mobilefacenet,
                vector: v.clone(),
            })
            .collect();
        let t = Instant::now();
        let ix = SetIndex::from_records(
            crate::config::EmbedderKind::Mobilefacenet,
            DIM,
            records,
            settings,
        );
        let build = t.elapsed().as_secs_f64();
        let per_face = rss_bytes().saturating_sub(rss0) as f64 / size as f64;
        let (mut lat, mut lat_exact) = (vec![], vec![]);
        let (mut r1, mut r10) = (0usize, 0usize);
        // Per query: the faces at or above the match threshold (exact), for the ANN's
        // above-threshold recall; and the exact top 1.
        let mut above: Vec<Vec<usize>> = vec![];
        let (mut found_above, mut all_above) = (0usize, 0usize);
        for q in &queries {
            let ids = |h: Vec<crate::search::index::Hit>| h.iter().map(|h| h.index).collect();
            let (ms, got) = timed(|| ids(ix.search(q, 10, 0.0, None)));
            let (ms_exact, truth) = timed(|| ids(ix.search_exact(q, 10, 0.0, None)));
            lat.push(ms);
            lat_exact.push(ms_exact);
            r1 += usize::from(got.first() == truth.first());
            r10 += got.iter().filter(|i| truth.contains(i)).count();
            let at: Vec<usize> = ids(ix.search_exact(q, 64, THRESHOLD, None));
            let mine: Vec<usize> = ids(ix.search(q, at.len().max(10), THRESHOLD, None));
            found_above += at.iter().filter(|i| mine.contains(i)).count();
            all_above += at.len();
            above.push(at);
        }
        lat.sort_by(f64::total_cmp);
        lat_exact.sort_by(f64::total_cmp);
        let speedup = pct(&lat_exact, 0.5) / pct(&lat, 0.5).max(1e-9);
        println!(
            "{size:>9} faces [{}]: p50 {:.2} ms  p99 {:.2} ms | exact p50 {:.2} ms  p99 {:.2} ms | \
             speed-up {speedup:.1}x | recall@1 {:.3}  recall@10 {:.3} | build {build:.1} s | \
             {per_face:.0} bytes/face resident ({} of them the vector)",
            ix.describe(),
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            pct(&lat_exact, 0.5),
            pct(&lat_exact, 0.99),
            r1 as f64 / a.queries as f64,
            r10 as f64 / (10 * a.queries) as f64,
            DIM * 4,
        );
        println!(
            "{:>9}        above-threshold recall (faces ≥ {THRESHOLD} found / there): {:.3} ({found_above}/{all_above})",
            "",
            found_above as f64 / all_above.max(1) as f64
        );
        let truth1: Vec<Option<usize>> = queries
            .iter()
            .map(|q| ix.search_exact(q, 1, 0.0, None).first().map(|h| h.index))
            .collect();
        drop(ix);
        if a.usearch {
            super::bench_ann::usearch_row(size, &vectors, &queries, &truth1, &above, THRESHOLD)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The similarity at which a face matches (MobileFaceNet's track threshold): what "the same
/// person's other photos" means for the above-threshold recall.
const THRESHOLD: f32 = 0.46;
