//! Lasting ids for unknown faces (`[unknown]`): how often two strangers share an id (merge) and how
//! often one stranger gets several (split), measured on the gallery's real photos at several
//! thresholds; naming a stranger; "not this person" rejections.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use facestream::analyze::Embedding;
use facestream::config::{EmbedderKind, UnknownConfig};
use facestream::search::strangers::Strangers;
use facestream::search::FaceSets;

/// Every gallery photo's embedding with its person, in arrival order: people interleaved (one
/// photo of each in turn), as strangers would pass cameras.
fn arrivals() -> Vec<(String, Embedding)> {
    let media = common::media();
    let mut an = common::analyzer();
    let mut people: Vec<(String, Vec<Embedding>)> = std::fs::read_dir(media.join("gallery"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let embs = common::images_in(&p)
                .iter()
                .filter_map(|f| common::largest_embedded(&mut an, &common::load(f)).map(|x| x.1))
                .collect();
            (name, embs)
        })
        .collect();
    people.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = vec![];
    let most = people.iter().map(|p| p.1.len()).max().unwrap_or(0);
    for i in 0..most {
        for (who, embs) in &people {
            if let Some(e) = embs.get(i) {
                out.push((who.clone(), e.clone()));
            }
        }
    }
    out
}

#[derive(Debug)]
struct Rates {
    /// Pairs of photos of different people given the same id / all such pairs.
    merged_pairs: f64,
    /// Pairs of photos of the same person given different ids / all such pairs.
    split_pairs: f64,
    /// Ids covering more than one person / ids.
    ids_merged: f64,
    /// People (with ≥ 2 photos) given more than one id / such people.
    people_split: f64,
    ids: usize,
}

/// The ids given to each arrival, in order.
fn given(threshold: f32, arrivals: &[(String, Embedding)]) -> Vec<(String, String)> {
    let dir = std::env::temp_dir().join(format!(
        "fs-strangers-{}-{}",
        std::process::id(),
        (threshold * 100.0) as u32
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let sets = FaceSets::open(&dir).unwrap();
    let s = Strangers::new(
        &UnknownConfig {
            threshold,
            ..Default::default()
        },
        EmbedderKind::Mobilefacenet,
    );
    let given = arrivals
        .iter()
        .map(|(who, e)| {
            (
                who.clone(),
                s.identify(&sets, std::slice::from_ref(e)).unwrap().id,
            )
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    given
}

/// Merge and split rates of `given`, over the people `within` accepts.
fn rates(given: &[(String, String)], within: impl Fn(&str) -> bool) -> Rates {
    let given: Vec<(String, String)> = given.iter().filter(|g| within(&g.0)).cloned().collect();
    let (mut same, mut split, mut diff, mut merged) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..given.len() {
        for j in i + 1..given.len() {
            if given[i].0 == given[j].0 {
                same += 1;
                split += u64::from(given[i].1 != given[j].1);
            } else {
                diff += 1;
                merged += u64::from(given[i].1 == given[j].1);
            }
        }
    }
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut by_person: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (who, id) in &given {
        by_id.entry(id).or_default().insert(who);
        by_person.entry(who).or_default().insert(id);
    }
    let photos = |p: &str| given.iter().filter(|g| g.0 == p).count();
    let multi: Vec<_> = by_person.iter().filter(|(p, _)| photos(p) >= 2).collect();
    Rates {
        merged_pairs: merged as f64 / diff.max(1) as f64,
        split_pairs: split as f64 / same.max(1) as f64,
        ids_merged: by_id.values().filter(|p| p.len() > 1).count() as f64 / by_id.len() as f64,
        people_split: multi.iter().filter(|(_, ids)| ids.len() > 1).count() as f64
            / multi.len().max(1) as f64,
        ids: by_id.len(),
    }
}

#[test]
fn stranger_ids_on_the_gallery_merge_rarely_and_split_where_photos_differ() {
    let arrivals = arrivals();
    let people: BTreeSet<&str> = arrivals.iter().map(|a| a.0.as_str()).collect();
    println!(
        "{} photos of {} people arrive one at a time, people interleaved",
        arrivals.len(),
        people.len()
    );
    println!(
        "threshold | ids | merged pairs | split pairs | ids holding >1 person | people with >1 id"
    );
    let default = UnknownConfig::default().threshold;
    let mut at_default = None;
    let mut by_group = vec![];
    for t in [0.35f32, 0.40, 0.45, 0.50, 0.55, 0.60] {
        let g = given(t, &arrivals);
        let r = rates(&g, |_| true);
        // The five Johns: ~150 px crops of five different men, the hard negatives; the rest.
        by_group.push((
            t,
            rates(&g, |p| p.starts_with("John_S")),
            rates(&g, |p| !p.starts_with("John_S")),
        ));
        println!(
            "{t:.2} | {} | {:.4} | {:.3} | {:.3} | {:.3}",
            r.ids, r.merged_pairs, r.split_pairs, r.ids_merged, r.people_split
        );
        if (t - default).abs() < 1e-6 {
            at_default = Some(r);
        }
    }
    println!("by group: threshold | five Johns (150 px crops): merged pairs, split pairs | everyone else: merged, split");
    for (t, j, o) in &by_group {
        println!(
            "{t:.2} | {:.4} {:.3} | {:.4} {:.3}",
            j.merged_pairs, j.split_pairs, o.merged_pairs, o.split_pairs
        );
    }
    let r = at_default.expect("the default threshold is among those measured");
    // Merging two strangers is the costly error (one name would then cover two people): rare.
    // Measured at 0.55: no merged pair, 1.5 % of same-person pairs split (1 of 34 people).
    assert!(r.merged_pairs <= 0.001, "{r:?}");
    assert!(r.ids_merged <= 0.03, "{r:?}");
    // A split only costs a second name for the same person; photos years apart split more than
    // a camera's tracks minutes apart.
    assert!(r.split_pairs <= 0.05, "{r:?}");
    assert!(r.people_split <= 0.1, "{r:?}");
}

/// A stranger's id is kept by the store: a restarted daemon (a new `FaceSets` on the same SQLite
/// folder) and another daemon of a pool (on the same PostgreSQL database) give the same face the
/// same id; naming moves its faces into a person and the id is gone.
#[test]
fn stranger_ids_survive_a_restart_and_are_shared_by_a_pool() {
    let arrivals = arrivals();
    let (who, first) = &arrivals[0];
    let again = arrivals
        .iter()
        .skip(1)
        .find(|(w, _)| w == who)
        .map(|(_, e)| e.clone())
        .expect("a second photo of the first person");
    let other = arrivals.iter().find(|(w, _)| w != who).unwrap().1.clone();
    let s = Strangers::new(&UnknownConfig::default(), EmbedderKind::Mobilefacenet);
    let dir = std::env::temp_dir().join(format!("fs-strangers-restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let url = common::services::Postgres::shared().database("strangers_pool");
    let pg = || {
        FaceSets::open_storage(&facestream::config::StorageConfig {
            url: url.clone(),
            ..Default::default()
        })
        .unwrap()
    };
    for (backend, a, b) in [
        (
            "sqlite",
            FaceSets::open(&dir).unwrap(),
            FaceSets::open(&dir).unwrap(),
        ),
        ("postgres", pg(), pg()),
    ] {
        let id = s.identify(&a, std::slice::from_ref(first)).unwrap();
        assert!(id.new, "{backend}");
        drop(a);
        let seen = s.identify(&b, std::slice::from_ref(&again)).unwrap();
        assert_eq!(
            (seen.id.as_str(), seen.new),
            (id.id.as_str(), false),
            "{backend}: {seen:?}"
        );
        let stranger = s.identify(&b, std::slice::from_ref(&other)).unwrap();
        assert_ne!(
            stranger.id, id.id,
            "{backend}: another person is another stranger"
        );
        // Naming: the faces become the person's, the stranger id is no more.
        let moved = s.name(&b, &id.id, "people", "Named").unwrap();
        assert_eq!(moved, 2, "{backend}");
        assert_eq!(b.user_faces("people", "Named").unwrap().len(), 2);
        let err = s.name(&b, &id.id, "people", "Twice").unwrap_err();
        assert_eq!(
            err.kind(),
            facestream::base::error::ErrorKind::StrangerNotFound,
            "{backend}"
        );
        // "Not this person": the rejected face no longer counts for them.
        s.reject(&b, "people", "Named", std::slice::from_ref(&again))
            .unwrap();
        b.refresh().unwrap();
        assert_eq!(
            s.rejected_for(&b, &again, 0.55),
            vec!["people/Named".to_string()]
        );
        assert!(s.rejected_for(&b, &other, 0.55).is_empty());
    }
}
