//! The history on SQLite: kept once, queried by every field, paged, pruned by age and size.
//! (tests/history.rs runs the same on PostgreSQL and through a daemon.)

use super::*;
use serde_json::json;

fn ev(
    id: &str,
    kind: &str,
    camera: &str,
    person: Option<&str>,
    set: Option<&str>,
    t: i64,
    snap: usize,
) -> NewEvent {
    NewEvent {
        event: StoredEvent {
            event_id: id.into(),
            kind: kind.into(),
            camera: camera.into(),
            track_id: Some(1),
            person: person.map(String::from),
            face_set: set.map(String::from),
            wall_time_ms: t,
            has_snapshot: snap > 0,
            payload: json!({"event_id": id, "camera": camera}),
        },
        snapshot: (snap > 0).then(|| vec![0xFF; snap]),
    }
}

fn log() -> (EventLog, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let storage = StorageConfig {
        dir: dir.path().into(),
        ..Default::default()
    };
    (EventLog::open(&storage).unwrap(), dir)
}

fn ids(p: &EventPage) -> Vec<&str> {
    p.events.iter().map(|e| e.event_id.as_str()).collect()
}

#[test]
fn events_are_kept_once_and_found_by_each_field() {
    let (log, _d) = log();
    let batch = vec![
        ev(
            "a",
            "match",
            "door",
            Some("ann"),
            Some("t--staff"),
            1000,
            10,
        ),
        ev("b", "unknown", "door", Some("unknown-1"), None, 2000, 0),
        ev("c", "face", "yard", None, None, 3000, 5),
    ];
    log.insert(&batch).unwrap();
    log.insert(&batch[..1]).unwrap(); // a redelivery changes nothing
    let q = |f: &dyn Fn(&mut EventQuery)| {
        let mut q = EventQuery {
            limit: 10,
            ..Default::default()
        };
        f(&mut q);
        log.query(&q).unwrap()
    };
    assert_eq!(ids(&q(&|_| {})), ["c", "b", "a"], "newest first");
    assert_eq!(ids(&q(&|q| q.camera = Some("door".into()))), ["b", "a"]);
    assert_eq!(ids(&q(&|q| q.person = Some("ann".into()))), ["a"]);
    assert_eq!(ids(&q(&|q| q.kind = Some("unknown".into()))), ["b"]);
    assert_eq!(
        ids(&q(&|q| {
            q.from_ms = Some(1500);
            q.to_ms = Some(3000);
        })),
        ["b"]
    );
    assert_eq!(ids(&q(&|q| q.tenant_sets = Some("t".into()))), ["a"]);
    assert_eq!(
        ids(&q(&|q| q.tenant_sets = Some("%".into()))),
        Vec::<&str>::new(),
        "LIKE wildcards are literal"
    );
    let page = q(&|q| q.limit = 2);
    assert_eq!((ids(&page), page.next_offset), (vec!["c", "b"], Some(2)));
    let page = q(&|q| {
        q.limit = 2;
        q.offset = 2;
    });
    assert_eq!((ids(&page), page.next_offset), (vec!["a"], None));
    assert_eq!(log.snapshot("a").unwrap(), vec![0xFF; 10]);
    assert_eq!(
        log.snapshot("b").unwrap_err().kind(),
        crate::base::error::ErrorKind::EventNotFound
    );
    assert_eq!(log.get("c").unwrap().payload["camera"], "yard");
    assert_eq!(log.rename_person("unknown-1", "bob").unwrap(), 1);
    assert_eq!(ids(&q(&|q| q.person = Some("bob".into()))), ["b"]);
    for bad in [
        EventQuery {
            limit: 0,
            ..Default::default()
        },
        EventQuery {
            limit: 501,
            ..Default::default()
        },
        EventQuery {
            limit: 1,
            kind: Some("status".into()),
            ..Default::default()
        },
    ] {
        assert_eq!(
            log.query(&bad).unwrap_err().kind(),
            crate::base::error::ErrorKind::BadParameter
        );
    }
}

#[test]
fn pruning_drops_old_events_then_the_oldest_over_the_size_limit() {
    let (log, _d) = log();
    let events: Vec<NewEvent> = (0..100)
        .map(|i| {
            ev(
                &format!("e{i:03}"),
                "face",
                "door",
                None,
                None,
                1_000_000 + i * 1000,
                1000,
            )
        })
        .collect();
    let each = events[0].bytes();
    log.insert(&events).unwrap();
    let day = 86_400_000.0;
    let cfg = EventsConfig {
        retention_days: 50_000.0 / day, // keeps the last 50 s
        max_bytes: u64::MAX / 2,
        ..Default::default()
    };
    let p = log.prune(&cfg, 1_000_000 + 99_000 + 1).unwrap();
    assert_eq!((p.by_age, p.by_size), (50, 0), "{p:?}");
    let cfg = EventsConfig {
        retention_days: 3650.0,
        max_bytes: (each * 20) as u64,
        ..Default::default()
    };
    let p = log.prune(&cfg, 1_000_000 + 99_000 + 1).unwrap();
    assert_eq!(p.by_size, 30, "{p:?}");
    assert!(p.bytes <= each * 20, "{p:?}");
    let left = log
        .query(&EventQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(left.events.len(), 20);
    assert_eq!(
        left.events.last().unwrap().event_id,
        "e080",
        "the newest are kept"
    );
}
