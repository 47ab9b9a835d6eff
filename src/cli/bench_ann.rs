//! `bench-search --usearch`: usearch's HNSW graph (a maintained C++ library) on the same vectors
//! and queries as the face sets' own index, measured the same way in the same run (issue 17).
//! An evaluation only: the face sets do not use it yet.

use std::time::Instant;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::bench_search::{pct, rss_bytes};

fn options() -> IndexOptions {
    IndexOptions {
        dimensions: super::bench_search::DIM,
        metric: MetricKind::IP,
        quantization: ScalarKind::F16,
        connectivity: 16,
        expansion_add: 128,
        expansion_search: 64,
        multi: false,
    }
}

/// Builds the graph on `vectors` (2 threads), saves it, measures a restart (memory-mapped view
/// and full load), then per query: latency, recall@1 against `truth1`, and the share of `above`
/// (every face at or above `threshold`, exact) it returns.
pub fn usearch_row(
    size: usize,
    vectors: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth1: &[Option<usize>],
    above: &[Vec<usize>],
    threshold: f32,
) -> anyhow::Result<()> {
    let rss0 = rss_bytes();
    let t = Instant::now();
    let ix = Index::new(&options())?;
    ix.reserve_capacity_and_threads(size, 2)?;
    std::thread::scope(|s| {
        for part in 0..2 {
            let ix = &ix;
            s.spawn(move || {
                for (i, v) in vectors.iter().enumerate().skip(part).step_by(2) {
                    let _ = ix.add(i as u64, v.as_slice());
                }
            });
        }
    });
    let build = t.elapsed().as_secs_f64();
    let per_face = rss_bytes().saturating_sub(rss0) as f64 / size as f64;
    let file = std::env::temp_dir().join(format!("fs-usearch-{}-{size}.idx", std::process::id()));
    let path = file.display().to_string();
    ix.save(&path)?;
    drop(ix);
    let file_bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    let t = Instant::now();
    let loaded = Index::new(&options())?;
    loaded.load(&path)?;
    let load_s = t.elapsed().as_secs_f64();
    drop(loaded);
    let t = Instant::now();
    let ix = Index::new(&options())?;
    ix.view(&path)?;
    let view_s = t.elapsed().as_secs_f64();
    // The search breadth trades recall for time: each on the same graph.
    for ef in [64usize, 128, 256, 512] {
        ix.change_expansion_search(ef);
        let (mut lat, mut r1, mut found, mut there) = (vec![], 0usize, 0usize, 0usize);
        for ((q, t1), at) in queries.iter().zip(truth1).zip(above) {
            let k = at.len().max(10);
            let t = Instant::now();
            let r = ix.search(q, k)?;
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
            let got: Vec<usize> = r
                .keys
                .iter()
                .zip(&r.distances)
                // Inner-product distance is 1 − similarity.
                .filter(|(_, d)| 1.0 - **d >= threshold - 1e-3)
                .map(|(k, _)| *k as usize)
                .collect();
            r1 += usize::from(r.keys.first().map(|k| *k as usize) == *t1);
            found += at.iter().filter(|i| got.contains(i)).count();
            there += at.len();
        }
        lat.sort_by(f64::total_cmp);
        println!(
            "{size:>9} faces [usearch HNSW f16 M16 ef{ef}]: p50 {:.3} ms  p99 {:.3} ms | recall@1 {:.3} | \
             above-threshold recall {:.3} ({found}/{there})",
            pct(&lat, 0.5),
            pct(&lat, 0.99),
            r1 as f64 / queries.len().max(1) as f64,
            found as f64 / there.max(1) as f64,
        );
    }
    ix.change_expansion_search(64);
    // A filter that keeps a quarter of the faces (as a tenant's or a field's filter would):
    // does a filtered search still return its top 10?
    let mut full = 0usize;
    let t = Instant::now();
    for q in queries {
        let r = ix.filtered_search(q, 10, |key: u64| key.is_multiple_of(4))?;
        full += usize::from(r.keys.len() == 10 && r.keys.iter().all(|k| k.is_multiple_of(4)));
    }
    let filtered_ms = t.elapsed().as_secs_f64() * 1000.0 / queries.len().max(1) as f64;
    let _ = std::fs::remove_file(&file);
    println!(
        "{size:>9} faces [usearch]: build {build:.1} s (2 threads) | restart: view (mmap) {view_s:.3} s, \
         load {load_s:.2} s | {per_face:.0} bytes/face resident at build, {:.0} bytes/face on disk | \
         filtered (1 in 4 kept, ef 64): {full}/{} queries got a full top 10, {filtered_ms:.3} ms mean",
        file_bytes as f64 / size as f64,
        queries.len(),
    );
    Ok(())
}
