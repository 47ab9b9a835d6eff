//! 1:1 verification over every pair of gallery photos: ROC AUC, the calibrated threshold and the
//! false accept / false reject rates at it. The five men called John are the hard negatives.

mod common;

use facestream::analyze::Embedding;
use facestream::config::{Config, EmbedderKind};

struct Scored {
    sim: f32,
    same: bool,
    johns: bool,
}

fn auc(scores: &[Scored]) -> f64 {
    // Probability that a random same-person pair outscores a random different-person pair (ties count half).
    let pos: Vec<f32> = scores.iter().filter(|s| s.same).map(|s| s.sim).collect();
    let neg: Vec<f32> = scores.iter().filter(|s| !s.same).map(|s| s.sim).collect();
    let mut sorted_neg = neg.clone();
    sorted_neg.sort_by(f32::total_cmp);
    let mut wins = 0f64;
    for p in &pos {
        let below = sorted_neg.partition_point(|n| n < p);
        let equal = sorted_neg[below..].partition_point(|n| n <= p);
        wins += below as f64 + 0.5 * equal as f64;
    }
    wins / (pos.len() as f64 * neg.len() as f64)
}

fn rates(scores: &[Scored], t: f32) -> (f64, f64) {
    let pos = scores.iter().filter(|s| s.same).count() as f64;
    let neg = scores.iter().filter(|s| !s.same).count() as f64;
    let fa = scores.iter().filter(|s| !s.same && s.sim >= t).count() as f64;
    let fr = scores.iter().filter(|s| s.same && s.sim < t).count() as f64;
    (fa / neg, fr / pos)
}

fn run(kind: EmbedderKind, min_auc: f64) -> (f64, f32) {
    let media = common::media();
    let mut cfg = Config::default();
    cfg.models.embedder = kind;
    let mut an = facestream::analyze::Analyzer::open(&cfg).unwrap();
    let mut people: Vec<(String, Option<Embedding>)> = vec![];
    let mut missing = vec![];
    let mut dirs: Vec<_> = std::fs::read_dir(media.join("gallery"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    dirs.sort();
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let who = dir.file_name().unwrap().to_string_lossy().into_owned();
        for p in common::images_in(dir) {
            let e = common::largest_embedded(&mut an, &common::load(&p)).map(|(_, e)| e);
            if e.is_none() {
                missing.push(p.display().to_string());
            }
            people.push((who.clone(), e));
        }
    }
    let mut scores = vec![];
    for i in 0..people.len() {
        for j in i + 1..people.len() {
            // A photo without a detected face is kept: it scores 0 against everything.
            let sim = match (&people[i].1, &people[j].1) {
                (Some(a), Some(b)) => a.similarity(b).unwrap(),
                _ => 0.0,
            };
            let johns = people[i].0.starts_with("John_S") && people[j].0.starts_with("John_S");
            scores.push(Scored {
                sim,
                same: people[i].0 == people[j].0,
                johns,
            });
        }
    }
    let a = auc(&scores);
    // Threshold that minimises FAR + FRR over the gallery.
    let mut best = (f64::MAX, 0.0f32);
    for k in 0..=1000 {
        let t = k as f32 / 1000.0;
        let (fa, fr) = rates(&scores, t);
        if fa + fr < best.0 {
            best = (fa + fr, t);
        }
    }
    let configured = cfg.compare.threshold_for(kind);
    let pos = scores.iter().filter(|s| s.same).count();
    println!("{kind:?}: {} photos ({} without a face: {:?}), {} same-person pairs, {} different-person pairs", people.len(), missing.len(), missing, pos, scores.len() - pos);
    println!("{kind:?}: ROC AUC {a:.6}");
    let (fa, fr) = rates(&scores, best.1);
    println!(
        "{kind:?}: best threshold on this gallery {:.3}: FAR {:.4} FRR {:.4}",
        best.1, fa, fr
    );
    let (fa, fr) = rates(&scores, configured);
    println!("{kind:?}: configured threshold {configured:.3}: FAR {fa:.4} FRR {fr:.4}");
    for t in [0.35f32, 0.40, 0.45, 0.50, 0.55, 0.60] {
        let (fa, fr) = rates(&scores, t);
        println!("{kind:?}:   at {t:.2}: FAR {fa:.4} FRR {fr:.4}");
    }
    let johns: Vec<&Scored> = scores.iter().filter(|s| s.johns && !s.same).collect();
    let john_fa = johns.iter().filter(|s| s.sim >= configured).count();
    let john_max = johns.iter().map(|s| s.sim).fold(0.0f32, f32::max);
    println!("{kind:?}: Johns hard negatives: {} pairs, {john_fa} falsely accepted, max similarity {john_max:.3}", johns.len());
    assert!(a >= min_auc, "{kind:?}: ROC AUC {a:.4} < {min_auc}");
    (a, configured)
}

#[test]
fn mobilefacenet_roc_auc_at_least_099() {
    run(EmbedderKind::Mobilefacenet, 0.99);
}

#[test]
fn dlib_embedder_is_selectable_and_separates_people() {
    run(EmbedderKind::Dlib, 0.95);
}
