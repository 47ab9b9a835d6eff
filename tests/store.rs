//! The face-set store on both backends — SQLite (the embedded default) and PostgreSQL (a server
//! this test starts) — with the same expectations: one transaction per write, capacities, the
//! change feed, the embedder recorded per set, and refusals that leave nothing half-written.

mod common;

use common::services::Postgres;
use facestream::base::geometry::BoundingBox;
use facestream::config::{EmbedderKind, StorageConfig};
use facestream::search::fields::Schema;
use facestream::search::store::database::Database;
use facestream::search::store::postgres::PgStore;
use facestream::search::store::{NewFace, Selector, SqliteStore, Store};
use facestream::search::SetError;
use serde_json::Map;

/// A store of each backend, and a way to run raw SQL on its database (to play a hostile editor).
struct Backend {
    name: &'static str,
    store: Box<dyn Store>,
    raw: Box<dyn Fn(&str)>,
    _dir: Option<tempfile::TempDir>,
}

fn backends(test: &str) -> Vec<Backend> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("facesets.db");
    let sqlite = Backend {
        name: "sqlite",
        store: Box::new(SqliteStore::open(dir.path()).expect("sqlite")),
        raw: Box::new(move |sql: &str| {
            rusqlite::Connection::open(&path)
                .expect("raw sqlite")
                .execute_batch(sql)
                .expect("raw sql");
        }),
        _dir: Some(dir),
    };
    let url = Postgres::shared().database(test);
    let raw_url = url.clone();
    let pg = Backend {
        name: "postgres",
        store: Box::new(PgStore::open(&pg_storage(&url)).expect("postgres")),
        raw: Box::new(move |sql: &str| {
            postgres::Client::connect(&raw_url, postgres::NoTls)
                .expect("raw postgres")
                .batch_execute(sql)
                .expect("raw sql");
        }),
        _dir: None,
    };
    vec![sqlite, pg]
}

fn pg_storage(url: &str) -> StorageConfig {
    StorageConfig {
        url: url.into(),
        ..Default::default()
    }
}

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

#[test]
fn sets_are_created_once_and_found_by_name() {
    for Backend {
        name, mut store, ..
    } in backends("sets_once")
    {
        let s = &mut store;
        let info = s
            .create_set("staff", 10, &Schema::new(), EmbedderKind::Dlib)
            .expect("create");
        assert_eq!(
            (info.face_set_capacity, info.model),
            (10, EmbedderKind::Dlib),
            "{name}"
        );
        assert!(
            matches!(
                s.create_set("staff", 10, &Schema::new(), EmbedderKind::Dlib),
                Err(SetError::SetExists(_))
            ),
            "{name}"
        );
        assert!(
            matches!(s.get_set("nobody"), Err(SetError::SetNotFound(_))),
            "{name}"
        );
        assert!(
            matches!(s.delete_set("nobody"), Err(SetError::SetNotFound(_))),
            "{name}"
        );
        assert_eq!(s.list_sets().expect("list").len(), 1, "{name}");
        s.delete_set("staff").expect("delete");
        assert!(s.list_sets().expect("list").is_empty(), "{name}");
    }
}

#[test]
fn a_batch_over_capacity_writes_nothing() {
    for Backend {
        name, mut store, ..
    } in backends("capacity")
    {
        let s = &mut store;
        s.create_set("s", 3, &Schema::new(), EmbedderKind::Mobilefacenet)
            .expect("create");
        let ids = s
            .add_faces("s", vec![face("a", 0.1), face("b", 0.2)])
            .expect("two fit");
        assert_eq!(ids.len(), 2, "{name}");
        let before = s.last_change().expect("seq");
        let r = s.add_faces("s", vec![face("c", 0.3), face("d", 0.4)]);
        assert!(
            matches!(r, Err(SetError::CapacityExceeded { capacity: 3, .. })),
            "{name}: {r:?}"
        );
        assert_eq!(
            s.all_faces("s").expect("faces").len(),
            2,
            "{name}: none of the batch"
        );
        assert_eq!(
            s.last_change().expect("seq"),
            before,
            "{name}: no change recorded"
        );
        assert_eq!(s.get_set("s").expect("set").face_number, 2, "{name}");
    }
}

#[test]
fn faces_read_back_as_written_in_insertion_order() {
    for Backend {
        name, mut store, ..
    } in backends("read_back")
    {
        let s = &mut store;
        s.create_set("s", 5, &Schema::new(), EmbedderKind::Mobilefacenet)
            .expect("create");
        let mut with_user = face("a", 0.25);
        with_user.user_id = Some("u1".into());
        with_user.fields = serde_json::json!({"level": 3})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let id = s.add_faces("s", vec![with_user]).expect("add")[0].clone();
        s.add_faces("s", vec![face("b", 0.5), face("c", 0.75)])
            .expect("add");
        let f = s.face("s", &id).expect("face");
        assert_eq!(f.external_image_id, "a", "{name}");
        assert_eq!(f.vector, vec![0.25, 0.75, 0.5], "{name}");
        assert_eq!(f.model, EmbedderKind::Mobilefacenet, "{name}");
        assert_eq!(
            (f.bounding_box.width, f.bounding_box.height),
            (30, 40),
            "{name}"
        );
        assert_eq!(f.external_fields["level"], 3, "{name}");
        assert_eq!(s.user_groups("u1").expect("groups"), vec!["s"], "{name}");
        assert!(
            matches!(s.face("s", "nope"), Err(SetError::FaceNotFound(_))),
            "{name}"
        );
        let order: Vec<String> = s
            .faces("s", 1, 5)
            .expect("page")
            .into_iter()
            .map(|f| f.external_image_id)
            .collect();
        assert_eq!(order, vec!["b", "c"], "{name}: pages in insertion order");
        let up = s
            .update_face(
                "s",
                &id,
                Some("a2"),
                serde_json::json!({"vip": true}).as_object(),
            )
            .expect("update");
        assert_eq!(up.external_image_id, "a2", "{name}");
        assert_eq!(
            (
                up.external_fields["level"].clone(),
                up.external_fields["vip"].clone()
            ),
            (3.into(), true.into()),
            "{name}"
        );
    }
}

#[test]
fn the_change_feed_brings_a_reader_up_to_date_or_says_reload() {
    for Backend {
        name, mut store, ..
    } in backends("feed")
    {
        let s = &mut store;
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
            ],
            "{name}"
        );
        assert!(feed.windows(2).all(|w| w[0].seq < w[1].seq), "{name}");
        assert!(
            s.changes_since(start, 2).expect("feed").is_none(),
            "{name}: too many pending"
        );
        s.prune_changes(1).expect("prune");
        assert!(
            s.changes_since(start, 100).expect("feed").is_none(),
            "{name}: pruned past"
        );
        let last = s.last_change().expect("seq");
        assert!(
            s.changes_since(last, 100)
                .expect("feed")
                .is_some_and(|v| v.is_empty()),
            "{name}"
        );
        assert!(
            s.changes_since(last + 5, 100).expect("feed").is_none(),
            "{name}: reader ahead"
        );
        // Deleting a set records the removal of each of its faces.
        let before = s.last_change().expect("seq");
        s.delete_set("s").expect("delete set");
        let feed = s
            .changes_since(before, 100)
            .expect("feed")
            .expect("in reach");
        assert_eq!(feed.len(), 1, "{name}");
        assert!(feed[0].removed && feed[0].face_id == ids[1], "{name}");
    }
}

#[test]
fn an_unknown_stored_model_is_a_storage_error_not_a_default() {
    for Backend {
        name,
        mut store,
        raw,
        ..
    } in backends("unknown_model")
    {
        store
            .create_set("s", 10, &Schema::new(), EmbedderKind::Mobilefacenet)
            .expect("create");
        store.add_faces("s", vec![face("a", 0.1)]).expect("add");
        raw("UPDATE face_sets SET model = 'arcface-512'");
        let e = store.get_set("s").expect_err("unknown model");
        assert!(matches!(e, SetError::Storage(_)), "{name}: {e:?}");
        assert!(e.to_string().contains("arcface-512"), "{name}: {e}");
    }
}

#[test]
fn re_embedding_must_cover_every_face_or_changes_nothing() {
    for Backend {
        name, mut store, ..
    } in backends("reembed")
    {
        let s = &mut store;
        s.create_set("s", 10, &Schema::new(), EmbedderKind::Mobilefacenet)
            .expect("create");
        let ids = s
            .add_faces("s", vec![face("a", 0.1), face("b", 0.2)])
            .expect("add");
        let partial = vec![(ids[0].clone(), vec![1.0, 2.0])];
        assert!(
            matches!(
                s.replace_vectors("s", EmbedderKind::Dlib, &partial),
                Err(SetError::Storage(_))
            ),
            "{name}"
        );
        assert_eq!(
            s.get_set("s").expect("set").model,
            EmbedderKind::Mobilefacenet,
            "{name}"
        );
        assert_eq!(
            s.face("s", &ids[0]).expect("face").vector,
            vec![0.1, 0.9, 0.5],
            "{name}"
        );
        let full: Vec<_> = ids.iter().map(|i| (i.clone(), vec![1.0, 2.0])).collect();
        s.replace_vectors("s", EmbedderKind::Dlib, &full)
            .expect("replace");
        assert_eq!(
            s.get_set("s").expect("set").model,
            EmbedderKind::Dlib,
            "{name}"
        );
        assert_eq!(
            s.face("s", &ids[1]).expect("face").model,
            EmbedderKind::Dlib,
            "{name}"
        );
    }
}

#[test]
fn users_move_between_groups_with_their_info() {
    for Backend {
        name, mut store, ..
    } in backends("users")
    {
        let s = &mut store;
        for g in ["a", "b"] {
            s.create_set(g, 10, &Schema::new(), EmbedderKind::Mobilefacenet)
                .expect("create");
        }
        let mut f = face("x", 0.3);
        f.user_id = Some("ann".into());
        s.add_faces("a", vec![f]).expect("add");
        s.set_user_info("a", "ann", "engineer").expect("info");
        assert_eq!(s.copy_user("ann", "a", "b").expect("copy"), 1, "{name}");
        assert_eq!(
            s.user_info("b", "ann").expect("info").as_deref(),
            Some("engineer"),
            "{name}"
        );
        assert_eq!(
            s.user_groups("ann").expect("groups"),
            vec!["a", "b"],
            "{name}"
        );
        assert_eq!(
            s.group_users("b", 0, 10).expect("users"),
            vec!["ann"],
            "{name}"
        );
        assert!(
            matches!(
                s.copy_user("bob", "a", "b"),
                Err(SetError::UserNotFound { .. })
            ),
            "{name}"
        );
        let gone = s
            .delete_faces("a", &Selector::User("ann".into()))
            .expect("delete");
        assert_eq!(gone.len(), 1, "{name}");
        assert_eq!(s.user_groups("ann").expect("groups"), vec!["b"], "{name}");
    }
}

/// Benchmark (figures, no timing assertion): enrolment one face per call and 1:N search on a
/// 2000-face set, SQLite vs PostgreSQL, through `FaceSets` as the API uses it.
#[test]
fn enrolment_and_search_throughput_on_both_backends() {
    use facestream::analyze::Embedding;
    use facestream::search::{FaceSets, SearchParams};
    use std::time::{Duration, Instant};
    const FACES: usize = 2000;
    const SEARCHES: usize = 500;
    let synth = |seed: u64| {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut v: Vec<f32> = (0..192)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= n);
        Embedding {
            model: EmbedderKind::Mobilefacenet,
            vector: v,
        }
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let url = Postgres::shared().database("bench");
    let backends = [
        ("sqlite", FaceSets::open(dir.path()).expect("sqlite")),
        (
            "postgres",
            FaceSets::open_storage(&facestream::config::StorageConfig {
                url,
                ..Default::default()
            })
            .expect("postgres"),
        ),
    ];
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() - 1) as f64 * p) as usize]
    };
    for (name, sets) in backends {
        sets.create_set("bench", 100_000, Schema::new(), EmbedderKind::Mobilefacenet)
            .expect("create");
        let bbox = BoundingBox {
            top_left_x: 0,
            top_left_y: 0,
            width: 10,
            height: 10,
        };
        let mut enrol = Vec::with_capacity(FACES);
        let t = Instant::now();
        for i in 0..FACES as u64 {
            let s = Instant::now();
            sets.add_faces(
                "bench",
                vec![(bbox.clone(), synth(i))],
                None,
                &Map::new(),
                None,
            )
            .expect("add");
            enrol.push(s.elapsed());
        }
        let enrol_rate = FACES as f64 / t.elapsed().as_secs_f64();
        let mut search = Vec::with_capacity(SEARCHES);
        let p = SearchParams::new(0.9);
        let t = Instant::now();
        for i in 0..SEARCHES as u64 {
            let s = Instant::now();
            let hits = sets.search("bench", &synth(i * 3), &p).expect("search");
            assert_eq!(hits.len(), 1, "{name}: the enrolled face is found");
            search.push(s.elapsed());
        }
        let search_rate = SEARCHES as f64 / t.elapsed().as_secs_f64();
        println!(
            "{name:>8}: enrol {enrol_rate:.0}/s (p50 {:?}, p99 {:?}); search over {FACES} {search_rate:.0}/s (p50 {:?}, p99 {:?})",
            pct(&mut enrol, 0.5),
            pct(&mut enrol, 0.99),
            pct(&mut search, 0.5),
            pct(&mut search, 0.99)
        );
    }
}

/// `storage.tls`: a server that takes TCP only over TLS is reached with its CA, refused in
/// plain, and refused with a clear message when its certificate is not trusted.
#[test]
fn postgres_over_tls_verifies_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let certs = common::tls::self_signed(dir.path(), "pg");
    let pg = Postgres::start_tls(&certs.cert, &certs.key);
    let url = pg.database("tls_store");

    let plain = Database::open(&pg_storage(&url)).and_then(|db| db.connect().map(|_| ()));
    let e = plain
        .expect_err("plain TCP is refused by a hostssl-only server")
        .to_string();
    assert!(e.contains("storage.url") && e.contains("pg_hba"), "{e}");

    let untrusted = StorageConfig {
        tls: true,
        ..pg_storage(&url)
    };
    let e = Database::open(&untrusted)
        .and_then(|db| db.connect().map(|_| ()))
        .expect_err("a self-signed server certificate is not trusted by default")
        .to_string();
    assert!(
        e.contains("certificate") || e.contains("UnknownIssuer"),
        "{e}"
    );

    let trusted = StorageConfig {
        tls: true,
        tls_ca_file: Some(certs.cert.clone()),
        ..pg_storage(&url)
    };
    let mut store = PgStore::open(&trusted).expect("TLS with the server's CA");
    store
        .create_set("tls", 10, &Schema::new(), EmbedderKind::Mobilefacenet)
        .expect("a write over TLS");
    store
        .add_faces("tls", vec![face("a", 0.5)])
        .expect("faces over TLS");
    assert_eq!(store.get_set("tls").expect("read back").face_number, 1);
    // sslmode=require in the URL turns TLS on as well.
    let by_url = StorageConfig {
        tls_ca_file: Some(certs.cert.clone()),
        ..pg_storage(&format!("{url}?sslmode=require"))
    };
    let db = Database::open(&by_url).expect("open");
    db.connect().expect("sslmode=require uses TLS");
}

/// The pool replaces connections a database restart broke: the first call after the restart
/// succeeds instead of failing on a dead connection, and the pool never holds more than
/// `storage.pool_size` connections however many threads call at once.
#[test]
fn the_connection_pool_survives_a_restart_and_stays_bounded() {
    let pg = Postgres::start();
    let url = pg.database("pool_store");
    let storage = StorageConfig {
        pool_size: 3,
        ..pg_storage(&url)
    };
    let db = Database::shared(&storage).expect("open and migrate");
    let store = std::sync::Arc::new(PgStore::new(db.clone()).expect("store"));
    std::thread::scope(|s| {
        for _ in 0..8 {
            let store = store.clone();
            s.spawn(move || {
                for _ in 0..20 {
                    store.last_change().expect("a read under contention");
                }
            });
        }
    });
    assert!(db.connections() <= 3, "{} connections", db.connections());
    pg.restart();
    let n = store.last_change().expect("the first call after a restart");
    assert_eq!(n, 0);
}

/// The event history on each backend: kept once, filtered, paged, tenant-scoped, pruned by age
/// and size (the SQLite unit tests in src/history/tests.rs hold the same expectations).
#[test]
fn event_history_on_both_backends() {
    use facestream::config::EventsConfig;
    use facestream::history::{EventLog, EventQuery, NewEvent, StoredEvent};
    let dir = tempfile::tempdir().unwrap();
    let url = Postgres::shared().database("event_history");
    let logs = [
        (
            "sqlite",
            EventLog::open(&StorageConfig {
                dir: dir.path().into(),
                ..Default::default()
            })
            .unwrap(),
        ),
        ("postgres", EventLog::open(&pg_storage(&url)).unwrap()),
    ];
    let ev = |id: &str, kind: &str, person: Option<&str>, set: Option<&str>, t: i64| NewEvent {
        event: StoredEvent {
            event_id: id.into(),
            kind: kind.into(),
            camera: "door".into(),
            track_id: Some(1),
            person: person.map(String::from),
            face_set: set.map(String::from),
            wall_time_ms: t,
            has_snapshot: true,
            payload: serde_json::json!({"event_id": id}),
        },
        snapshot: Some(vec![0xFF, 0xD8, 0, 0]),
    };
    for (name, log) in &logs {
        let mut batch: Vec<NewEvent> = (0..40)
            .map(|i| {
                ev(
                    &format!("u{i:02}"),
                    "unknown",
                    Some("unknown-1"),
                    None,
                    1000 + i,
                )
            })
            .collect();
        batch.push(ev("m1", "match", Some("ann"), Some("t--staff"), 5000));
        log.insert(&batch).unwrap();
        log.insert(&batch[..3]).unwrap();
        let q = |f: &dyn Fn(&mut EventQuery)| {
            let mut q = EventQuery {
                limit: 10,
                ..Default::default()
            };
            f(&mut q);
            log.query(&q).unwrap()
        };
        assert_eq!(q(&|_| {}).events[0].event_id, "m1", "{name}");
        assert_eq!(
            q(&|q| q.person = Some("unknown-1".into())).events.len(),
            10,
            "{name}"
        );
        let page = q(&|q| {
            q.kind = Some("unknown".into());
            q.offset = 30;
        });
        assert_eq!((page.events.len(), page.next_offset), (10, None), "{name}");
        assert_eq!(
            q(&|q| q.tenant_sets = Some("t".into())).events.len(),
            1,
            "{name}"
        );
        assert_eq!(
            q(&|q| q.tenant_sets = Some("x".into())).events.len(),
            0,
            "{name}"
        );
        assert_eq!(
            log.snapshot("m1").unwrap(),
            vec![0xFF, 0xD8, 0, 0],
            "{name}"
        );
        assert_eq!(log.rename_person("unknown-1", "bob").unwrap(), 40, "{name}");
        let p = log
            .prune(
                &EventsConfig {
                    retention_days: 3650.0,
                    ..Default::default()
                },
                1000 + 3650 * 86_400_000 + 20,
            )
            .unwrap();
        assert_eq!(p.by_age, 20, "{name}: {p:?}");
        let each = batch[0].bytes();
        let p = log
            .prune(
                &EventsConfig {
                    retention_days: 3650.0,
                    max_bytes: (each * 5) as u64,
                    ..Default::default()
                },
                0,
            )
            .unwrap();
        assert_eq!(p.by_size, 16, "{name}: {p:?}");
        let left = q(&|q| q.limit = 100);
        assert_eq!(left.events.len(), 5, "{name}");
        assert_eq!(left.events[0].event_id, "m1", "{name}: the newest are kept");
    }
}
