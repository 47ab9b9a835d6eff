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
    for k in 0..real.len() {
        ix.remove(&id(k));
    }
}
