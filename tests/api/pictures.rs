//! Enrolment through each API family (FRS, Baidu, Tencent) keeps a face picture exactly when
//! `storage.keep_face_images` is on, so such sets can later be re-embedded.

use super::tencent::{tc_error, tencent, TENCENT_KEYS};
use super::*;

const PICTURES_PER_SET: &str = "SELECT f.set_name, COUNT(p.face_id) FROM faces f LEFT JOIN face_pictures p USING(face_id) GROUP BY f.set_name ORDER BY f.set_name";

/// Kept pictures per face set in the server's database: its SQLite file, or PostgreSQL at `url`.
fn pictures(srv: &Server, url: Option<&str>) -> Vec<(String, i64)> {
    if let Some(url) = url {
        let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
        return c
            .query(PICTURES_PER_SET, &[])
            .unwrap()
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
    }
    let db = rusqlite::Connection::open(srv.data.join("facesets.db")).unwrap();
    let mut st = db.prepare(PICTURES_PER_SET).unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Enrols one face through each family; returns the face count per set.
fn enrol_everywhere(srv: &Server) {
    let media = common::media();
    let p = srv.port;
    let obama = b64(&media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg"));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "frs"})),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/frs/faces",
        Some(KEY_A),
        Some(&json!({"image_base64": obama, "single": true})),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/faceset/user/add?access_token={KEY_A}"),
        None,
        json!({"image": obama, "image_type": "BASE64", "group_id": "baidu", "user_id": "obama"})
            .to_string()
            .as_bytes(),
    );
    assert_eq!((s, &r["error_code"]), (200, &json!(0)), "{r}");
    let r = tencent(
        p,
        "CreateGroup",
        json!({"GroupId": "tencent", "GroupName": "T"}),
    );
    assert_eq!(tc_error(&r), "", "{r}");
    let r = tencent(
        p,
        "CreatePerson",
        json!({"GroupId": "tencent", "PersonId": "obama", "PersonName": "Barack Obama", "Image": obama}),
    );
    assert_eq!(tc_error(&r), "", "{r}");
}

#[test]
fn every_api_family_keeps_face_pictures_only_when_configured() {
    keeps_pictures_on(None, None);
}

#[test]
fn every_api_family_keeps_face_pictures_only_when_configured_on_postgres() {
    let pg = common::services::Postgres::shared();
    let (off, on) = (pg.database("pictures_off"), pg.database("pictures_on"));
    keeps_pictures_on(Some(&off), Some(&on));
}

/// `off` and `on`: the PostgreSQL databases of the two servers, or SQLite when `None`.
fn keeps_pictures_on(off: Option<&str>, on: Option<&str>) {
    let url = |u: Option<&str>| u.map(|u| format!("url = \"{u}\"\n")).unwrap_or_default();
    // KEY_A (tenant a) is configured by `start_full`; a second entry would be refused as a duplicate.
    let keys = TENCENT_KEYS.to_string();
    let plain = start_full(&keys, None, &url(off));
    enrol_everywhere(&plain);
    let counts = pictures(&plain, off);
    println!("keep_face_images off: {counts:?}");
    assert_eq!(counts.len(), 3, "three sets, one per family: {counts:?}");
    assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");

    let keeping = start_full(
        &keys,
        None,
        &format!("keep_face_images = true\n{}", url(on)),
    );
    enrol_everywhere(&keeping);
    let counts = pictures(&keeping, on);
    println!("keep_face_images on: {counts:?}");
    assert_eq!(counts.len(), 3, "{counts:?}");
    assert!(counts.iter().all(|(_, n)| *n == 1), "{counts:?}");
}
