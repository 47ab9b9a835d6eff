use super::*;
use crate::search::fields::FieldType;
use crate::search::graph::Precision;

/// xorshift: reproducible test data without a dependency.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

fn rec(id: &str, v: Vec<f32>, age: i64) -> FaceRecord {
    let mut v = v;
    crate::search::vector::normalize(&mut v);
    FaceRecord {
        face_id: id.into(),
        face_set_name: "s".into(),
        external_image_id: id.into(),
        external_fields: serde_json::json!({ "age": age })
            .as_object()
            .cloned()
            .unwrap_or_default(),
        bounding_box: crate::base::geometry::BoundingBox {
            top_left_x: 0,
            top_left_y: 0,
            width: 1,
            height: 1,
        },
        user_id: None,
        model: crate::config::EmbedderKind::Mobilefacenet,
        vector: v,
    }
}

fn ids(ix: &SetIndex, hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            ix.face(h.index)
                .map(|f| f.face_id.clone())
                .unwrap_or_default()
        })
        .collect()
}

fn age_filter(text: &str) -> Filter {
    let schema = [("age".to_string(), FieldType::Integer)]
        .into_iter()
        .collect();
    Filter::parse(text, &schema).unwrap()
}

#[test]
fn best_first_with_threshold_and_filter_applied_during_the_scan() {
    let recs = (0..100)
        .map(|i| rec(&format!("f{i}"), vec![1.0, i as f32 / 100.0, 0.0], i))
        .collect();
    let ix = SetIndex::from_records(
        crate::config::EmbedderKind::Mobilefacenet,
        3,
        recs,
        IndexSettings::default(),
        None,
    );
    assert_eq!(ix.describe(), "exact");
    let q = [1.0, 0.0, 0.0];
    let hits = ix.search(&q, 5, 0.0, None);
    assert_eq!(ids(&ix, &hits), ["f0", "f1", "f2", "f3", "f4"]);
    assert!(hits.windows(2).all(|w| w[0].similarity >= w[1].similarity));
    // Only faces with age >= 90 qualify: the filter must not leave the top-5 short.
    let f = age_filter("age:[90 TO 100]");
    let hits = ix.search(&q, 5, 0.0, Some(&f));
    assert_eq!(hits.len(), 5);
    assert_eq!(ids(&ix, &hits)[0], "f90");
    // A threshold above every similarity gives nothing.
    assert!(ix.search(&q, 5, 0.9999, Some(&f)).is_empty());
}

/// 40 identities in 16-d, 30 noisy faces each: the clustered shape of real face embeddings.
fn clustered(rng: &mut Rng) -> (Vec<Vec<f32>>, Vec<FaceRecord>) {
    let mut centers = vec![];
    let mut recs = vec![];
    let mut r = || (rng.below(2001) as f32 - 1000.0) / 1000.0;
    for p in 0..40 {
        let c: Vec<f32> = (0..16).map(|_| r()).collect();
        for j in 0..30 {
            let v: Vec<f32> = c.iter().map(|x| x + 0.15 * r()).collect();
            recs.push(rec(&format!("p{p}-{j}"), v, j));
        }
        centers.push(c);
    }
    (centers, recs)
}

fn graph_from(n: usize) -> IndexSettings {
    IndexSettings {
        graph_from: n,
        build_in_background: false,
        ..IndexSettings::default()
    }
}

/// The 16-d test set's index, with its graph from 500 faces, not saved.
fn with_graph(recs: Vec<FaceRecord>) -> SetIndex {
    with_graph_in(recs, Precision::default())
}

fn with_graph_in(recs: Vec<FaceRecord>, precision: Precision) -> SetIndex {
    let mut settings = graph_from(500);
    settings.graph.precision = precision;
    SetIndex::from_records(
        crate::config::EmbedderKind::Mobilefacenet,
        16,
        recs,
        settings,
        None,
    )
}

#[test]
fn graph_index_agrees_with_exact_search_and_updates_in_place() {
    graph_agrees_with_exact_search(Precision::F16);
}

#[test]
fn a_graph_of_bytes_agrees_with_exact_search_and_updates_in_place() {
    graph_agrees_with_exact_search(Precision::I8);
}

fn graph_agrees_with_exact_search(precision: Precision) {
    let mut rng = Rng(99);
    let (centers, recs) = clustered(&mut rng);
    let mut ix = with_graph_in(recs, precision);
    assert_eq!(ix.len(), 1200);
    assert!(
        ix.describe().contains(match precision {
            Precision::F16 => "HNSW f16",
            Precision::I8 => "HNSW i8",
        }),
        "{}",
        ix.describe()
    );
    assert!(ix.has_graph(), "{}", ix.describe());
    assert_eq!(ix.graph_opened(), Some(Opened::Built));
    let mut agree = 0;
    for c in &centers {
        let mut q = c.clone();
        crate::search::vector::normalize(&mut q);
        let a = ids(&ix, &ix.search(&q, 10, 0.0, None));
        let e = ids(&ix, &ix.search_exact(&q, 10, 0.0, None));
        agree += a.iter().filter(|x| e.contains(x)).count();
    }
    assert!(agree >= 390, "recall@10 {agree}/400");

    // Remove every face of person 0 but one; the survivors are still found, the removed never.
    let mut q = centers[0].clone();
    crate::search::vector::normalize(&mut q);
    for j in 1..30 {
        assert!(ix.remove(&format!("p0-{j}")));
    }
    assert!(!ix.remove("p0-1"), "a second removal finds nothing");
    assert_eq!(ix.len(), 1171);
    let hits = ix.search(&q, 3, 0.0, None);
    assert_eq!(ids(&ix, &hits)[0], "p0-0");
    assert!(ids(&ix, &ix.search_exact(&q, 1200, 0.0, None))
        .iter()
        .all(|id| !id.starts_with("p0-") || id == "p0-0"));

    // A new face is linked into the graph and found first; slots are reused.
    assert!(ix.insert(rec("new", q.clone(), 500)));
    assert_eq!(ids(&ix, &ix.search(&q, 1, 0.0, None)), ["new"]);
    // Replacing by the same id keeps one copy.
    assert!(ix.insert(rec("new", q.clone(), 501)));
    assert_eq!(ix.len(), 1172);
    // A vector of the wrong length is refused.
    assert!(!ix.insert(rec("bad", vec![1.0; 8], 0)));

    // A filter matching only one face far from the query is still found (the graph cannot
    // fill the list, the exact scan answers).
    let f = age_filter("age:501");
    let mut far = centers[7].iter().map(|x| -x).collect::<Vec<f32>>();
    crate::search::vector::normalize(&mut far);
    assert_eq!(ids(&ix, &ix.search(&far, 1, 0.0, Some(&f))), ["new"]);

    // In-place metadata update is what the filter sees.
    ix.update(
        "new",
        "eid",
        serde_json::json!({"age": 7})
            .as_object()
            .cloned()
            .unwrap_or_default(),
    );
    assert!(ix.search(&far, 1, 0.0, Some(&f)).is_empty());
}

#[test]
fn rebuild_is_asked_for_when_the_set_outgrows_its_index() {
    let settings = graph_from(50);
    let mut ix = SetIndex::new(0, crate::config::EmbedderKind::Mobilefacenet, settings);
    for i in 0..49 {
        assert!(ix.insert(rec(&format!("{i}"), vec![1.0, i as f32, 2.0], i)));
    }
    assert!(!ix.needs_rebuild());
    ix.insert(rec("49", vec![0.0, 1.0, 0.0], 0));
    assert!(
        ix.needs_rebuild(),
        "an exact set at graph_from faces should get its graph"
    );
    let recs = (0..60)
        .map(|i| rec(&format!("{i}"), vec![1.0, i as f32, 2.0], i))
        .collect();
    let mut ix = SetIndex::from_records(
        crate::config::EmbedderKind::Mobilefacenet,
        3,
        recs,
        settings,
        None,
    );
    assert!(ix.has_graph());
    assert!(!ix.needs_rebuild());
    for i in 0..50 {
        ix.remove(&format!("{i}"));
    }
    assert!(ix.needs_rebuild(), "shrunk to a quarter of graph_from");
}

/// The graph is saved beside the store and loaded at the next start, brought in step with what
/// changed meanwhile (here: faces removed and added by "another process" while it was closed);
/// a file out of step or damaged never gives a wrong answer.
#[test]
fn a_saved_graph_is_loaded_and_reconciled_not_rebuilt() {
    let dir = std::env::temp_dir().join(format!("fs-graph-test-{}", std::process::id()));
    let file = dir.join("set.usearch");
    let mut rng = Rng(7);
    let (centers, recs) = clustered(&mut rng);
    let open = |recs: Vec<FaceRecord>| {
        SetIndex::from_records(
            crate::config::EmbedderKind::Mobilefacenet,
            16,
            recs,
            graph_from(500),
            Some(file.clone()),
        )
    };
    let mut ix = open(recs.clone());
    assert_eq!(ix.graph_opened(), Some(Opened::Built));
    assert!(file.is_file() && file.with_extension("keys").is_file());
    // Changed while loaded: saved when dropped.
    ix.remove("p3-0");
    drop(ix);
    let ix = open(
        recs.iter()
            .filter(|r| r.face_id != "p3-0")
            .cloned()
            .collect(),
    );
    assert_eq!(
        ix.graph_opened(),
        Some(Opened::Loaded {
            added: 0,
            removed: 0
        })
    );
    drop(ix);
    // Changed elsewhere while closed: 30 faces gone, one new.
    let mut q = centers[5].clone();
    crate::search::vector::normalize(&mut q);
    let mut now: Vec<FaceRecord> = recs
        .iter()
        .filter(|r| !r.face_id.starts_with("p2-") && r.face_id != "p3-0")
        .cloned()
        .collect();
    now.push(rec("newcomer", q.clone(), 900));
    let ix = open(now.clone());
    assert_eq!(
        ix.graph_opened(),
        Some(Opened::Loaded {
            added: 1,
            removed: 30
        })
    );
    assert_eq!(ids(&ix, &ix.search(&q, 1, 0.0, None)), ["newcomer"]);
    let mut q2 = centers[2].clone();
    crate::search::vector::normalize(&mut q2);
    assert!(ids(&ix, &ix.search(&q2, 20, 0.0, None))
        .iter()
        .all(|id| !id.starts_with("p2-")));
    drop(ix);
    // A damaged file: rebuilt, and right.
    std::fs::write(&file, b"not a graph").unwrap();
    let ix = open(now.clone());
    assert_eq!(ix.graph_opened(), Some(Opened::Built));
    assert_eq!(ids(&ix, &ix.search(&q, 1, 0.0, None)), ["newcomer"]);
    // Saved for other settings (another M): rebuilt.
    drop(ix);
    let mut other = graph_from(500);
    other.graph.connectivity = 8;
    let ix = SetIndex::from_records(
        crate::config::EmbedderKind::Mobilefacenet,
        16,
        now.clone(),
        other,
        Some(file.clone()),
    );
    assert_eq!(ix.graph_opened(), Some(Opened::Built));
    drop(ix);
    // Saved with another precision: rebuilt.
    let mut other = graph_from(500);
    other.graph.precision = match other.graph.precision {
        Precision::F16 => Precision::I8,
        Precision::I8 => Precision::F16,
    };
    let ix = SetIndex::from_records(
        crate::config::EmbedderKind::Mobilefacenet,
        16,
        now,
        other,
        Some(file.clone()),
    );
    assert_eq!(ix.graph_opened(), Some(Opened::Built));
    drop(ix);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two face ids whose graph keys collide: the second is scanned beside the graph, both found.
#[test]
fn faces_the_graph_cannot_take_are_still_searched() {
    let mut rng = Rng(3);
    let (_, mut recs) = clustered(&mut rng);
    recs.truncate(600);
    let mut ix = with_graph(recs);
    // Simulate a collision: take a key the graph already holds for another face.
    let q: Vec<f32> = (0..16).map(|i| if i == 3 { 1.0 } else { 0.0 }).collect();
    let slot_of_p0 = ix.by_id["p0-0"];
    ix.by_key.insert(key_of("lonely"), slot_of_p0);
    assert!(ix.insert(rec("lonely", q.clone(), 1)));
    assert_eq!(ix.outside.len(), 1);
    assert_eq!(ids(&ix, &ix.search(&q, 1, 0.0, None)), ["lonely"]);
    assert!(ix.remove("lonely"));
    assert!(ix.outside.is_empty());
    assert!(!ids(&ix, &ix.search(&q, 5, 0.0, None)).contains(&"lonely".to_string()));
}

/// A set given its graph on a thread of its own is searched exactly meanwhile, and the adds and
/// removals made during the build reach the graph when it is installed.
#[test]
fn a_graph_built_in_the_background_takes_the_changes_made_meanwhile() {
    let mut rng = Rng(11);
    let (centers, recs) = clustered(&mut rng);
    let settings = IndexSettings {
        build_in_background: true,
        ..graph_from(500)
    };
    let mut ix = SetIndex::from_records(
        crate::config::EmbedderKind::Mobilefacenet,
        16,
        recs,
        settings,
        None,
    );
    assert!(!ix.has_graph());
    assert_eq!(ix.describe(), "exact while its graph is built");
    assert!(
        !ix.needs_rebuild(),
        "a build under way is not started again"
    );
    let mut q = centers[9].clone();
    crate::search::vector::normalize(&mut q);
    // Meanwhile: person 9's faces leave, a new one arrives; searches are exact and right.
    for j in 0..30 {
        assert!(ix.remove(&format!("p9-{j}")));
    }
    assert!(ix.insert(rec("arrived", q.clone(), 1)));
    assert_eq!(ids(&ix, &ix.search(&q, 1, 0.0, None)), ["arrived"]);
    ix.install_graph(true);
    assert!(ix.has_graph(), "{}", ix.describe());
    assert_eq!(ix.graph_opened(), Some(Opened::Built));
    let hits = ids(&ix, &ix.search(&q, 10, 0.0, None));
    assert_eq!(hits[0], "arrived");
    assert!(hits.iter().all(|id| !id.starts_with("p9-")), "{hits:?}");
    // And after the install, changes go straight to the graph.
    assert!(ix.remove("arrived"));
    assert!(!ids(&ix, &ix.search(&q, 10, 0.0, None)).contains(&"arrived".to_string()));
}

/// A graph big enough to span whole 2 MiB blocks (20 000 faces, 64-d: ~12 MB of links and
/// vectors), loaded from its file with and without huge pages: the move happens, and the same
/// queries find the same faces in the same order.
#[test]
fn a_graph_moved_to_huge_pages_answers_as_before() {
    let dir = std::env::temp_dir().join(format!("fs-graph-huge-{}", std::process::id()));
    let file = dir.join("set.usearch");
    let mut rng = Rng(11);
    let mut r = || (rng.below(2001) as f32 - 1000.0) / 1000.0;
    // 500 people, 40 faces each.
    let centers: Vec<Vec<f32>> = (0..500).map(|_| (0..64).map(|_| r()).collect()).collect();
    let recs: Vec<FaceRecord> = (0..20_000)
        .map(|i| {
            let v = centers[i % 500].iter().map(|c| c + 0.3 * r()).collect();
            rec(&format!("f{i}"), v, 0)
        })
        .collect();
    let queries: Vec<Vec<f32>> = recs.iter().step_by(997).map(|f| f.vector.clone()).collect();
    let open = |huge: bool| {
        let mut s = graph_from(500);
        s.graph.huge_pages = huge;
        SetIndex::from_records(
            crate::config::EmbedderKind::Mobilefacenet,
            64,
            recs.clone(),
            s,
            Some(file.clone()),
        )
    };
    let answers = |ix: &SetIndex| -> Vec<Vec<String>> {
        queries
            .iter()
            .map(|q| ids(ix, &ix.search(q, 10, 0.0, None)))
            .collect()
    };
    let mut built = open(false);
    assert_eq!(built.graph_opened(), Some(Opened::Built));
    assert!(built.graph_huge_pages().is_none());
    let small = answers(&built);
    drop(built);
    let mut loaded = open(true);
    assert!(matches!(loaded.graph_opened(), Some(Opened::Loaded { .. })));
    let moved = loaded.graph_huge_pages().expect("asked for");
    assert!(moved.unsupported.is_none(), "{moved:?}");
    assert!(moved.bytes >= 4 << 20, "{moved:?}");
    assert_eq!(answers(&loaded), small);
    // Each query finds itself first.
    assert!(small
        .iter()
        .zip(recs.iter().step_by(997))
        .all(|(a, f)| a.first() == Some(&f.face_id)));
    // Faces added in place land on memory the graph maps as it grows: moved as well once
    // enough of them came (before, they stayed on small pages for the life of the process).
    assert_eq!(loaded.graph_page_moves(), 1);
    for i in 0..16_000 {
        let v = centers[i % 500].iter().map(|c| c + 0.3 * r()).collect();
        assert!(loaded.insert(rec(&format!("g{i}"), v, 0)));
    }
    let again = loaded.graph_huge_pages().expect("asked for");
    let moves = loaded.graph_page_moves();
    println!("first move {moved:?}; after 16 000 faces added, move {moves}: {again:?}");
    assert!(moves >= 2, "{moves} moves");
    assert!(again.bytes > moved.bytes, "{moved:?} then {again:?}");
    drop(loaded);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A search that finds no face at its threshold through the graph looks again wider (a match the
/// graph's beam missed, or a stranger); one that finds a match does not, nor one without a
/// threshold; `retry_breadth` 0 never does. The answer stays exact search's where both agree.
#[test]
fn a_search_with_no_match_looks_again_wider() {
    let mut rng = Rng(7);
    let (centers, recs) = clustered(&mut rng);
    let mut ix = with_graph(recs);
    assert!(ix.has_graph());
    assert_eq!(ix.retry_breadth(), 256);
    // A member's centre: a match at 0.9.
    let hits = ix.search(&centers[3], 5, 0.9, None);
    assert!(!hits.is_empty());
    assert_eq!(ix.retries(), 0);
    // A stranger (the opposite of a centre nobody is near): nothing at 0.9, looked again once,
    // still nothing.
    let stranger: Vec<f32> = centers
        .iter()
        .map(|c| c.iter().map(|x| -x).collect::<Vec<f32>>())
        .find(|v| ix.search_exact(v, 5, 0.9, None).is_empty())
        .expect("a direction with no face near it");
    assert!(ix.search(&stranger, 5, 0.9, None).is_empty());
    assert_eq!(ix.retries(), 1);
    // No threshold: the top 5 as found, no second look.
    assert_eq!(ix.search(&stranger, 5, 0.0, None).len(), 5);
    assert_eq!(ix.retries(), 1);
    ix.set_retry_breadth(0);
    assert!(ix.search(&stranger, 5, 0.9, None).is_empty());
    assert_eq!(ix.retries(), 1);
}
