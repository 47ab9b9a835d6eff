//! `bench-search --real`: real faces (a folder a person) enrolled in place among the synthetic
//! ones and searched with, through the set's index and exactly — how the graph finds vectors
//! unlike the synthetic mass (docs/facesets.md, "Real faces among a million").

use std::time::Instant;

use super::bench_search::{pct, records, DIM, THRESHOLD};
use crate::search::index::SetIndex;

/// (person, vector) of the largest face of every photo in `dir`'s sub-folders.
pub(super) fn real_faces(
    cfg: &crate::config::Config,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<(String, Vec<f32>)>> {
    let mut an = crate::analyze::Analyzer::open(cfg)?;
    let mut people: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut out = vec![];
    for person in people {
        let who = person
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let mut photos: Vec<_> = std::fs::read_dir(&person)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        photos.sort();
        for photo in photos {
            let Ok(frame) = crate::ingest::image::load_image(&photo, &cfg.images) else {
                continue;
            };
            if let Some((_, e)) = an.embed_faces(&frame, true)?.pop() {
                if e.vector.len() != DIM {
                    anyhow::bail!(
                        "--real needs a {DIM}-d embedder (models.embedder = \"mobilefacenet\")"
                    );
                }
                out.push((who.clone(), e.vector));
            }
        }
    }
    Ok(out)
}

/// Real faces among the set's: each searched through the index and exactly. Prints the share of
/// the faces at or above the threshold the index returns, and whether the best other face (not
/// the photo itself) is the exact one and the same person.
pub(super) fn real_recall(ix: &mut SetIndex, real: &[(String, Vec<f32>)], size: usize) {
    let id = |k: usize| format!("real:{k}");
    for (k, (who, v)) in real.iter().enumerate() {
        let mut r = records(std::slice::from_ref(v)).remove(0);
        r.face_id = id(k);
        r.external_image_id = who.clone();
        ix.insert(r);
    }
    let name = |ix: &SetIndex, h: &crate::search::index::Hit| {
        ix.face(h.index)
            .map(|f| f.face_id.clone())
            .unwrap_or_default()
    };
    let (mut found, mut there, mut same_best, mut person_ix, mut person_exact) = (0, 0, 0, 0, 0);
    let mut lat = vec![];
    let person_of = |face: &str| {
        face.strip_prefix("real:")
            .and_then(|k| k.parse::<usize>().ok())
            .map(|k| real[k].0.as_str())
    };
    for (k, (who, v)) in real.iter().enumerate() {
        let exact: Vec<String> = ix
            .search_exact(v, 64, THRESHOLD, None)
            .iter()
            .map(|h| name(ix, h))
            .collect();
        let t = Instant::now();
        let got: Vec<String> = ix
            .search(v, exact.len().max(10), THRESHOLD, None)
            .iter()
            .map(|h| name(ix, h))
            .collect();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        there += exact.len();
        found += exact.iter().filter(|f| got.contains(f)).count();
        let other = |list: &[String]| list.iter().find(|f| **f != id(k)).cloned();
        let (e, g) = (other(&exact), other(&got));
        same_best += usize::from(e == g);
        person_exact += usize::from(e.as_deref().and_then(person_of) == Some(who.as_str()));
        person_ix += usize::from(g.as_deref().and_then(person_of) == Some(who.as_str()));
    }
    lat.sort_by(f64::total_cmp);
    let n = real.len().max(1);
    println!(
        "{size:>9} faces + {} real faces of {} people: above-threshold recall {:.3} ({found}/{there}) | \
         best other face as exact {same_best}/{n} | best other face the same person: index {person_ix}/{n}, exact {person_exact}/{n} | \
         p50 {:.3} ms  p99 {:.3} ms",
        real.len(),
        real.iter().map(|(w, _)| w).collect::<std::collections::HashSet<_>>().len(),
        found as f64 / there.max(1) as f64,
        pct(&lat, 0.5),
        pct(&lat, 0.99),
    );
    // A new photo of someone enrolled: each real face taken out of the set in turn and searched
    // for (top 10 at the threshold); is the best face the same person? Exactly, through the
    // graph alone, and through the graph looking again wider when it finds nothing.
    let wide = ix.retry_breadth();
    let (mut named, mut lat) = ([0usize; 3], [vec![], vec![]]);
    let retries_before = ix.retries();
    for (k, (who, v)) in real.iter().enumerate() {
        ix.remove(&id(k));
        let best_is = |ix: &SetIndex, hits: Vec<crate::search::index::Hit>| {
            usize::from(
                hits.first()
                    .map(|h| name(ix, h))
                    .as_deref()
                    .and_then(person_of)
                    == Some(who.as_str()),
            )
        };
        named[0] += best_is(ix, ix.search_exact(v, 10, THRESHOLD, None));
        for (j, retry) in [0, wide].into_iter().enumerate() {
            ix.set_retry_breadth(retry);
            let t = Instant::now();
            let hits = ix.search(v, 10, THRESHOLD, None);
            lat[j].push(t.elapsed().as_secs_f64() * 1000.0);
            named[j + 1] += best_is(ix, hits);
        }
        let mut r = records(std::slice::from_ref(v)).remove(0);
        r.face_id = id(k);
        r.external_image_id = who.clone();
        ix.insert(r);
    }
    ix.set_retry_breadth(wide);
    for l in &mut lat {
        l.sort_by(f64::total_cmp);
    }
    println!(
        "{size:>9} faces, each real face searched for with itself taken out: best face the same person \
         exact {}/{n}, graph {}/{n} (p50 {:.3} / p99 {:.3} ms), graph looking again at {wide} when it finds \
         nothing {}/{n} (p50 {:.3} / p99 {:.3} ms; {} looked again)",
        named[0],
        named[1],
        pct(&lat[0], 0.5),
        pct(&lat[0], 0.99),
        named[2],
        pct(&lat[1], 0.5),
        pct(&lat[1], 0.99),
        ix.retries() - retries_before,
    );
    for k in 0..real.len() {
        ix.remove(&id(k));
    }
}
