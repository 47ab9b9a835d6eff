//! Baidu Face v3 paths over the face-set model, one concern per test.

use super::*;

/// A Baidu client on one server (`access_token` in the query, as Baidu's SDK sends it).
struct Baidu {
    srv: Server,
}

impl Baidu {
    fn call(&self, op: &str, key: &str, body: &Value) -> (u16, Value) {
        call_raw(
            self.srv.port,
            "POST",
            &format!("/rest/2.0/face/v3/{op}?access_token={key}"),
            None,
            body.to_string().as_bytes(),
        )
    }

    /// Tenant a's call that must succeed; its `result`.
    fn ok(&self, op: &str, body: Value) -> Value {
        let (s, v) = self.call(op, KEY_A, &body);
        assert_eq!((s, &v["error_code"]), (200, &json!(0)), "{op}: {v}");
        assert!(v["log_id"].is_u64(), "{v}");
        v["result"].clone()
    }

    /// Tenant a's call that must fail in Baidu's shape (HTTP 200); its `error_code`.
    fn fails(&self, op: &str, body: Value) -> i64 {
        let (s, v) = self.call(op, KEY_A, &body);
        assert_eq!(s, 200, "{op}: {v}");
        assert!(v["result"].is_null(), "{v}");
        v["error_code"].as_i64().unwrap_or(-1)
    }
}

struct Photos {
    obama1: String,
    obama2: String,
    biden: String,
    amy: String,
}

fn setup() -> (Baidu, Photos, std::path::PathBuf) {
    setup_on("")
}

/// As `setup`, with `storage` added to the server's `[storage]` (a PostgreSQL url).
fn setup_on(storage: &str) -> (Baidu, Photos, std::path::PathBuf) {
    let media = common::media();
    let img = |rel: &str| b64(&media.join(rel));
    let amy = common::images_in(&media.join("gallery/Amy_Adams"));
    let photos = Photos {
        obama1: img("gallery/Barack_Obama/face_recognition_obama_small.jpg"),
        obama2: img("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"),
        biden: img("gallery/Joe_Biden/face_recognition_biden2.jpg"),
        amy: b64(&amy[0]),
    };
    (
        Baidu {
            srv: start_full("", None, storage),
        },
        photos,
        media,
    )
}

/// Obama in `staff` (with user_info) and `visitors`, Biden in `visitors`.
fn enrol(c: &Baidu, ph: &Photos) -> String {
    let r = c.ok(
        "faceset/user/add",
        json!({"image": ph.obama1, "image_type": "BASE64", "group_id": "staff", "user_id": "obama", "user_info": "president 44"}),
    );
    c.ok(
        "faceset/user/add",
        json!({"image": ph.biden, "image_type": "BASE64", "group_id": "visitors", "user_id": "biden"}),
    );
    c.ok(
        "faceset/user/add",
        json!({"image": ph.obama1, "image_type": "BASE64", "group_id": "visitors", "user_id": "obama"}),
    );
    r["face_token"].as_str().unwrap_or_default().to_string()
}

#[test]
fn groups_users_search_and_user_records() {
    groups_users_search_and_user_records_on("");
}

/// The same Baidu calls with the groups and users in PostgreSQL: the same answers.
#[test]
fn groups_users_search_and_user_records_on_postgres() {
    let url = common::services::Postgres::shared().database("baidu_groups_users_search_and_user_r");
    groups_users_search_and_user_records_on(&format!("url = \"{url}\""));
}

fn groups_users_search_and_user_records_on(storage: &str) {
    let (c, ph, _media) = setup_on(storage);
    let Photos {
        obama1,
        obama2,
        biden,
        amy,
    } = &ph;
    // Groups.
    c.ok("faceset/group/add", json!({"group_id": "staff"}));
    assert_eq!(
        c.fails("faceset/group/add", json!({"group_id": "staff"})),
        223101
    );
    assert_eq!(
        c.fails("faceset/group/add", json!({"group_id": "bad id"})),
        222006
    );
    assert_eq!(c.fails("faceset/group/add", json!({})), 222001);
    // Users: add to an existing group and to one created on the fly.
    let r = c.ok(
        "faceset/user/add",
        json!({"image": obama1, "image_type": "BASE64", "group_id": "staff", "user_id": "obama", "user_info": "president 44"}),
    );
    let token = r["face_token"].as_str().unwrap().to_string();
    assert!(r["location"]["width"].as_f64().unwrap() > 40.0, "{r}");
    c.ok(
        "faceset/user/add",
        json!({"image": biden, "image_type": "BASE64", "group_id": "visitors", "user_id": "biden"}),
    );
    c.ok(
        "faceset/user/add",
        json!({"image": obama1, "image_type": "BASE64", "group_id": "visitors", "user_id": "obama"}),
    );
    let groups = c.ok("faceset/group/getlist", json!({}));
    assert_eq!(groups["group_id_list"], json!(["staff", "visitors"]));
    assert_eq!(
        c.ok("faceset/group/getusers", json!({"group_id": "visitors"}))["user_id_list"],
        json!(["biden", "obama"])
    );
    assert_eq!(
        c.ok(
            "faceset/group/getusers",
            json!({"group_id": "visitors", "start": 1, "length": 1})
        )["user_id_list"],
        json!(["obama"])
    );
    // Search: another photo of Obama over both groups finds him, score on Baidu's 0..100 scale.
    let r = c.ok(
        "search",
        json!({"image": obama2, "image_type": "BASE64", "group_id_list": "staff,visitors", "max_user_num": 3}),
    );
    let users = r["user_list"].as_array().unwrap();
    assert_eq!(users[0]["user_id"], "obama", "{r}");
    assert!(users[0]["score"].as_f64().unwrap() > 46.0, "{r}");
    assert!(
        users.iter().all(|u| u["user_id"] == "obama"),
        "Biden must stay below the threshold: {r}"
    );
    assert_eq!(
        users[0]["user_info"]
            .as_str()
            .map(|s| s == "president 44" || s.is_empty()),
        Some(true)
    );
    // 1:1 verification against a named user, and a stranger.
    assert_eq!(
        c.ok(
            "search",
            json!({"image": obama2, "group_id_list": "staff", "user_id": "obama"})
        )["user_list"][0]["user_id"],
        "obama"
    );
    assert_eq!(
        c.fails(
            "search",
            json!({"image": obama2, "group_id_list": "visitors", "user_id": "biden"})
        ),
        222207
    );
    assert_eq!(
        c.fails(
            "search",
            json!({"image": amy, "group_id_list": "staff,visitors"})
        ),
        222207
    );
    assert_eq!(
        c.fails(
            "search",
            json!({"image": obama2, "group_id_list": "staff", "match_threshold": 101})
        ),
        222023
    );
    assert_eq!(
        c.fails(
            "search",
            json!({"image": obama2, "group_id_list": "nosuch"})
        ),
        223100
    );
    // M:N over a photo with one enrolled face.
    let r = c.ok(
        "multi-search",
        json!({"image": obama2, "group_id_list": "visitors", "max_face_num": 5}),
    );
    assert_eq!(r["face_list"][0]["user_list"][0]["user_id"], "obama", "{r}");
    // User records.
    let r = c.ok(
        "faceset/user/get",
        json!({"user_id": "obama", "group_id": "@ALL"}),
    );
    assert_eq!(r["user_list"].as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r["user_list"][0]["user_info"], "president 44");
    let r = c.ok(
        "faceset/face/getlist",
        json!({"user_id": "obama", "group_id": "staff"}),
    );
    assert_eq!(r["face_list"][0]["face_token"], token.as_str());
    assert_eq!(
        r["face_list"][0]["ctime"].as_str().map(str::len),
        Some(19),
        "{r}"
    );
    assert_eq!(
        c.fails(
            "faceset/face/delete",
            json!({"user_id": "obama", "group_id": "staff", "face_token": "nope"})
        ),
        223106
    );
}

#[test]
fn users_are_copied_updated_and_deleted() {
    users_are_copied_updated_and_deleted_on("");
}

/// The same Baidu calls with the groups and users in PostgreSQL: the same answers.
#[test]
fn users_are_copied_updated_and_deleted_on_postgres() {
    let url = common::services::Postgres::shared().database("baidu_users_are_copied_updated_and_d");
    users_are_copied_updated_and_deleted_on(&format!("url = \"{url}\""));
}

fn users_are_copied_updated_and_deleted_on(storage: &str) {
    let (c, ph, _media) = setup_on(storage);
    let Photos { obama2, .. } = &ph;
    enrol(&c, &ph);
    // Copy, update, delete.
    c.ok("faceset/group/add", json!({"group_id": "third"}));
    c.ok(
        "faceset/user/copy",
        json!({"user_id": "biden", "src_group_id": "visitors", "dst_group_id": "third"}),
    );
    assert_eq!(
        c.ok("faceset/group/getusers", json!({"group_id": "third"}))["user_id_list"],
        json!(["biden"])
    );
    assert_eq!(
        c.fails(
            "faceset/user/update",
            json!({"image": obama2, "group_id": "third", "user_id": "obama"})
        ),
        223103
    );
    let r = c.ok(
        "faceset/user/update",
        json!({"image": obama2, "group_id": "staff", "user_id": "obama"}),
    );
    let faces = c.ok(
        "faceset/face/getlist",
        json!({"user_id": "obama", "group_id": "staff"}),
    );
    assert_eq!(faces["face_list"].as_array().unwrap().len(), 1);
    assert_eq!(faces["face_list"][0]["face_token"], r["face_token"]);
    c.ok(
        "faceset/face/delete",
        json!({"user_id": "obama", "group_id": "staff", "face_token": r["face_token"]}),
    );
    assert_eq!(
        c.fails(
            "faceset/user/get",
            json!({"user_id": "obama", "group_id": "staff"})
        ),
        223103
    );
    c.ok(
        "faceset/user/delete",
        json!({"user_id": "biden", "group_id": "third"}),
    );
    assert_eq!(
        c.fails(
            "faceset/user/delete",
            json!({"user_id": "biden", "group_id": "third"})
        ),
        223103
    );
    c.ok("faceset/group/delete", json!({"group_id": "third"}));
    assert_eq!(
        c.fails("faceset/group/delete", json!({"group_id": "third"})),
        223100
    );
}

#[test]
fn detect_and_match_with_baidus_fields() {
    let (c, ph, _media) = setup();
    let Photos {
        obama1,
        obama2,
        biden,
        ..
    } = &ph;
    let p = c.srv.port;
    // Detect with Baidu's fields, and match.
    let r = c.ok(
        "detect",
        json!({"image": obama1, "image_type": "BASE64", "face_field": "age,gender,mask,quality,landmark,angle"}),
    );
    let f = &r["face_list"][0];
    assert_eq!(r["face_num"], 1);
    assert_eq!(f["gender"]["type"], "male", "{r}");
    assert_eq!(f["mask"]["type"], 0, "{r}");
    assert!(
        f["age"].as_f64().is_some()
            && f["angle"]["yaw"].is_number()
            && f["quality"]["blur"].is_number(),
        "{r}"
    );
    assert_eq!(f["landmark"].as_array().map(Vec::len), Some(4));
    let (s, v) = call_raw(p, "POST", &format!("/rest/2.0/face/v3/match?access_token={KEY_A}"), None, json!([{"image": obama1, "image_type": "BASE64"}, {"image": obama2, "image_type": "BASE64"}]).to_string().as_bytes());
    assert_eq!(s, 200);
    let same = v["result"]["score"].as_f64().unwrap();
    let (_, v) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/match?access_token={KEY_A}"),
        None,
        json!([{"image": obama1}, {"image": biden}])
            .to_string()
            .as_bytes(),
    );
    let diff = v["result"]["score"].as_f64().unwrap();
    println!("baidu match: Obama/Obama {same}, Obama/Biden {diff}");
    assert!(same > 46.0 && diff < 46.0, "{same} {diff}");
    let (_, v) = call_raw(
        p,
        "POST",
        &format!("/rest/2.0/face/v3/match?access_token={KEY_A}"),
        None,
        json!([{"image": obama1}]).to_string().as_bytes(),
    );
    assert_eq!(v["error_code"], 222208);
}

#[test]
fn image_and_method_errors() {
    let (c, ph, media) = setup();
    let Photos { obama1, .. } = &ph;
    // Errors on images and methods.
    assert_eq!(
        c.fails(
            "detect",
            json!({"image": obama1, "image_type": "FACE_TOKEN"})
        ),
        222015
    );
    assert_eq!(
        c.fails(
            "detect",
            json!({"image": b64(&media.join("negatives/dlib_dogs.jpg"))})
        ),
        222202
    );
    assert_eq!(
        c.fails("detect", json!({"image": "bm90IGFuIGltYWdl"})),
        222203
    );
    assert_eq!(c.fails("detect", json!({"image_type": "BASE64"})), 222001);
    assert_eq!(c.fails("faceset/user/fly", json!({})), 3);
}

#[test]
fn authentication_in_baidus_shape_and_tenants_apart() {
    let (c, ph, _media) = setup();
    let p = c.srv.port;
    enrol(&c, &ph);
    // Authentication in Baidu's shape; tenants stay apart.
    let (s, v) = call_raw(
        p,
        "POST",
        "/rest/2.0/face/v3/faceset/group/getlist",
        None,
        b"{}",
    );
    assert_eq!((s, v["error_code"].as_i64()), (401, Some(110)), "{v}");
    let (s, v) = c.call("faceset/group/getlist", "wrong-key", &json!({}));
    assert_eq!((s, v["error_code"].as_i64()), (403, Some(110)), "{v}");
    let (_, v) = c.call("faceset/group/getlist", KEY_B, &json!({}));
    assert_eq!(v["result"]["group_id_list"], json!([]), "{v}");
    let (_, v) = c.call(
        "faceset/user/get",
        KEY_B,
        &json!({"user_id": "obama", "group_id": "visitors"}),
    );
    assert_eq!(v["error_code"], 223100, "{v}");
}
