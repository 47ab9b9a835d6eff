//! The SQLite store on its own: one transaction per write, capacities, the change feed, the
//! embedder recorded per set, and refusals that leave nothing half-written.

use super::*;

fn face(eid: &str, v: f32) -> NewFace {
    NewFace {
        external_image_id: eid.into(),
        fields: Map::new(),
        bbox: BoundingBox {
            top_left_x: 1,
            top_left_y: 2,
            width: 30,
            height: 40,
        },
        user_id: None,
        model: EmbedderKind::Mobilefacenet,
        vector: vec![v, 1.0 - v, 0.5],
        picture: None,
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = Store::open(dir.path()).expect("open");
    (dir, s)
}

#[test]
fn sets_are_created_once_and_found_by_name() {
    let (_d, mut s) = store();
    let info = s
        .create_set("staff", 10, &Schema::new(), EmbedderKind::Dlib)
        .expect("create");
    assert_eq!(
        (info.face_set_capacity, info.model),
        (10, EmbedderKind::Dlib)
    );
    assert!(matches!(
        s.create_set("staff", 10, &Schema::new(), EmbedderKind::Dlib),
        Err(SetError::SetExists(_))
    ));
    assert!(matches!(s.get_set("nobody"), Err(SetError::SetNotFound(_))));
    assert!(matches!(
        s.delete_set("nobody"),
        Err(SetError::SetNotFound(_))
    ));
    assert_eq!(s.list_sets().expect("list").len(), 1);
}

#[test]
fn a_batch_over_capacity_writes_nothing() {
    let (_d, mut s) = store();
    s.create_set("s", 3, &Schema::new(), EmbedderKind::Mobilefacenet)
        .expect("create");
    let ids = s
        .add_faces("s", vec![face("a", 0.1), face("b", 0.2)])
        .expect("two fit");
    assert_eq!(ids.len(), 2);
    let before = s.last_change().expect("seq");
    let r = s.add_faces("s", vec![face("c", 0.3), face("d", 0.4)]);
    assert!(
        matches!(r, Err(SetError::CapacityExceeded { capacity: 3, .. })),
        "{r:?}"
    );
    assert_eq!(
        s.all_faces("s").expect("faces").len(),
        2,
        "none of the batch"
    );
    assert_eq!(s.last_change().expect("seq"), before, "no change recorded");
    assert_eq!(s.get_set("s").expect("set").face_number, 2);
}

#[test]
fn faces_read_back_as_written_and_survive_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let id = {
        let mut s = Store::open(dir.path()).expect("open");
        s.create_set("s", 5, &Schema::new(), EmbedderKind::Mobilefacenet)
            .expect("create");
        s.add_faces("s", vec![face("a", 0.25)]).expect("add")[0].clone()
    };
    let s = Store::open(dir.path()).expect("reopen");
    let f = s.face("s", &id).expect("face");
    assert_eq!(f.external_image_id, "a");
    assert_eq!(f.vector, vec![0.25, 0.75, 0.5]);
    assert_eq!(f.model, EmbedderKind::Mobilefacenet);
    assert_eq!((f.bounding_box.width, f.bounding_box.height), (30, 40));
    assert!(matches!(
        s.face("s", "nope"),
        Err(SetError::FaceNotFound(_))
    ));
}

#[test]
fn the_change_feed_brings_a_reader_up_to_date_or_says_reload() {
    let (_d, mut s) = store();
    s.create_set("s", 10, &Schema::new(), EmbedderKind::Mobilefacenet)
        .expect("create");
    let start = s.last_change().expect("seq");
    let ids = s
        .add_faces("s", vec![face("a", 0.1), face("b", 0.2)])
        .expect("add");
    s.delete_faces("s", &Selector::FaceId(ids[0].clone()))
        .expect("delete");
    let feed = s
        .changes_since(start, 100)
        .expect("feed")
        .expect("in reach");
    let got: Vec<(&str, bool)> = feed
        .iter()
        .map(|c| (c.face_id.as_str(), c.removed))
        .collect();
    assert_eq!(
        got,
        vec![
            (ids[0].as_str(), false),
            (ids[1].as_str(), false),
            (ids[0].as_str(), true)
        ]
    );
    assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq));
    // More pending than the reader takes at once: reload.
    assert!(s.changes_since(start, 2).expect("feed").is_none());
    // Pruned past the reader: reload; a reader at the end gets nothing.
    s.prune_changes(1).expect("prune");
    assert!(s.changes_since(start, 100).expect("feed").is_none());
    let last = s.last_change().expect("seq");
    assert!(s
        .changes_since(last, 100)
        .expect("feed")
        .is_some_and(|v| v.is_empty()));
    // A reader ahead of the database (restored from an older copy): reload.
    assert!(s.changes_since(last + 5, 100).expect("feed").is_none());
}

#[test]
fn an_unknown_stored_model_is_a_storage_error_not_a_default() {
    let (d, mut s) = store();
    s.create_set("s", 10, &Schema::new(), EmbedderKind::Mobilefacenet)
        .expect("create");
    s.add_faces("s", vec![face("a", 0.1)]).expect("add");
    let raw = rusqlite::Connection::open(d.path().join("facesets.db")).expect("raw");
    raw.execute("UPDATE face_sets SET model = 'arcface-512'", [])
        .expect("edit");
    let e = s.get_set("s").expect_err("unknown model");
    assert!(matches!(e, SetError::Storage(_)), "{e:?}");
    assert!(e.to_string().contains("arcface-512"), "{e}");
}

#[test]
fn re_embedding_must_cover_every_face_or_changes_nothing() {
    let (_d, mut s) = store();
    s.create_set("s", 10, &Schema::new(), EmbedderKind::Mobilefacenet)
        .expect("create");
    let ids = s
        .add_faces("s", vec![face("a", 0.1), face("b", 0.2)])
        .expect("add");
    let partial = vec![(ids[0].clone(), vec![1.0, 2.0])];
    assert!(matches!(
        s.replace_vectors("s", EmbedderKind::Dlib, &partial),
        Err(SetError::Storage(_))
    ));
    assert_eq!(
        s.get_set("s").expect("set").model,
        EmbedderKind::Mobilefacenet
    );
    assert_eq!(
        s.face("s", &ids[0]).expect("face").vector,
        vec![0.1, 0.9, 0.5]
    );
    let full: Vec<_> = ids.iter().map(|i| (i.clone(), vec![1.0, 2.0])).collect();
    s.replace_vectors("s", EmbedderKind::Dlib, &full)
        .expect("replace");
    assert_eq!(s.get_set("s").expect("set").model, EmbedderKind::Dlib);
    assert_eq!(
        s.face("s", &ids[1]).expect("face").model,
        EmbedderKind::Dlib
    );
}
