//! `facestream bench-search`: exact search latency at several set sizes of synthetic 192-d vectors,
//! with memory per face. (No approximate index yet: recall is 1 by construction.)

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use crate::api::shapes::BoundingBox;
use crate::search::index::SetIndex;
use crate::search::store::FaceRecord;

#[derive(Debug, Args)]
pub struct BenchSearchArgs {
    /// Set sizes, comma separated.
    #[arg(long, default_value = "10000,100000,1000000")]
    pub sizes: String,
    #[arg(long, default_value_t = 200)]
    pub queries: usize,
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 20_000) as f32 / 10_000.0 - 1.0
    }
    fn unit(&mut self, d: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..d).map(|_| self.next()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(a: BenchSearchArgs) -> anyhow::Result<ExitCode> {
    let dim = 192;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    println!(
        "bench-search: exact cosine, {dim}-d, {} queries per size, {} threads",
        a.queries,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    for size in a
        .sizes
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let records = (0..size).map(|i| FaceRecord {
            face_id: format!("{i}"),
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
            model: "m".into(),
            vector: rng.unit(dim),
        });
        let t = Instant::now();
        let ix = SetIndex::from_records("m".into(), dim, records.collect());
        let build = t.elapsed();
        let mut lat = vec![];
        for _ in 0..a.queries {
            let q = rng.unit(dim);
            let t = Instant::now();
            let hits = ix.search(&q, 10, 0.0, None);
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(hits.len(), 10);
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "{size:>9} faces: p50 {:.2} ms  p99 {:.2} ms  (load {:.2} s; {} bytes/face of vector in memory, plus its id and fields)",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            build.as_secs_f64(),
            ix.bytes_per_face()
        );
    }
    println!(
        "recall@1 and @10: 1.000 (exact search); an approximate index (HNSW) is not built yet"
    );
    Ok(ExitCode::SUCCESS)
}
