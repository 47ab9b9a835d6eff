//! Tencent IAI actions with TC3 signatures.

use super::*;

/// Headers of a Tencent Cloud API 3.0 call signed with TC3-HMAC-SHA256, written from Tencent's
/// published algorithm (independently of the server's code).
fn tc3_headers(id: &str, key: &str, action: &str, ts: i64, body: &[u8]) -> Vec<(String, String)> {
    tc3_signed(id, key, action, ts, body, false)
}

/// As [`tc3_headers`]; `sign_action` also signs `x-tc-action`, its value lower-cased in the
/// canonical headers as Tencent's API 3.0 signature documentation shows.
fn tc3_signed(
    id: &str,
    key: &str,
    action: &str,
    ts: i64,
    body: &[u8],
    sign_action: bool,
) -> Vec<(String, String)> {
    use hmac::{Hmac, Mac};
    use sha2::{Digest, Sha256};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let mac = |k: &[u8], m: &[u8]| {
        let mut h = <Hmac<Sha256> as Mac>::new_from_slice(k).unwrap();
        h.update(m);
        h.finalize().into_bytes().to_vec()
    };
    let ctype = "application/json; charset=utf-8";
    let (headers, signed) = if sign_action {
        (
            format!(
                "content-type:{ctype}\nhost:localhost\nx-tc-action:{}\n",
                action.to_ascii_lowercase()
            ),
            "content-type;host;x-tc-action",
        )
    } else {
        (
            format!("content-type:{ctype}\nhost:localhost\n"),
            "content-type;host",
        )
    };
    let canonical = format!(
        "POST\n/\n\n{headers}\n{signed}\n{}",
        hex(&Sha256::digest(body))
    );
    // The credential date is the UTC day (the `time` crate, not the server's own date code).
    let day = time::OffsetDateTime::from_unix_timestamp(ts)
        .unwrap()
        .date();
    let date = format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    );
    let scope = format!("{date}/iai/tc3_request");
    let to_sign = format!(
        "TC3-HMAC-SHA256\n{ts}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k = mac(
        &mac(
            &mac(format!("TC3{key}").as_bytes(), date.as_bytes()),
            b"iai",
        ),
        b"tc3_request",
    );
    let sig = hex(&mac(&k, to_sign.as_bytes()));
    vec![
        ("Content-Type".into(), ctype.into()),
        ("X-TC-Action".into(), action.into()),
        ("X-TC-Version".into(), "2020-03-03".into()),
        ("X-TC-Timestamp".into(), ts.to_string()),
        (
            "Authorization".into(),
            format!(
                "TC3-HMAC-SHA256 Credential={id}/{scope}, SignedHeaders={signed}, Signature={sig}"
            ),
        ),
    ]
}

pub(super) const TENCENT_KEYS: &str = "rate_per_second = 0.0\n[[api.keys]]\nkey = \"AKID-tencent-client\"\ntenant = \"t\"\nsecret = \"tc3-secret-key-value\"";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// One Tencent action signed with TC3 by the `TENCENT_KEYS` client; the `Response` object. The
/// action is signed: these tests send one body to several actions within a second, which an
/// unsigned action cannot do (its signature is bound to its first action).
pub(super) fn tencent(port: u16, action: &str, body: Value) -> Value {
    let raw = body.to_string();
    let h = tc3_signed(
        "AKID-tencent-client",
        "tc3-secret-key-value",
        action,
        unix_now(),
        raw.as_bytes(),
        true,
    );
    let (s, _, v) = call_full(port, "POST", "/", &h, raw.as_bytes());
    assert_eq!(s, 200, "{action}: {v}");
    assert!(v["Response"]["RequestId"].is_string(), "{v}");
    v["Response"].clone()
}

/// The error code of a Tencent response, "" on success.
pub(super) fn tc_error(r: &Value) -> String {
    r["Error"]["Code"].as_str().unwrap_or("").to_string()
}

#[test]
fn tencent_actions_with_tc3_signatures() {
    let media = common::media();
    let srv = start(TENCENT_KEYS);
    let p = srv.port;
    let now = unix_now;
    let tc = |action: &str, body: Value| tencent(p, action, body);
    let error = tc_error;
    let img = |rel: &str| b64(&media.join(rel));
    let obama1 = img("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = img("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let biden = img("gallery/Joe_Biden/face_recognition_biden2.jpg");

    assert_eq!(
        error(&tc(
            "CreateGroup",
            json!({"GroupId": "office", "GroupName": "Office"})
        )),
        ""
    );
    assert_eq!(
        error(&tc(
            "CreateGroup",
            json!({"GroupId": "office", "GroupName": "Office"})
        )),
        "InvalidParameterValue.GroupIdAlreadyExist"
    );
    let r = tc(
        "CreatePerson",
        json!({"GroupId": "office", "PersonId": "obama", "PersonName": "Barack Obama", "Image": obama1}),
    );
    assert!(
        r["FaceId"].is_string() && r["FaceRect"]["Width"].as_i64().unwrap() > 40,
        "{r}"
    );
    assert_eq!(
        error(&tc(
            "CreatePerson",
            json!({"GroupId": "office", "PersonId": "obama", "PersonName": "x", "Image": obama1})
        )),
        "InvalidParameterValue.PersonIdAlreadyExist"
    );
    assert_eq!(
        error(&tc(
            "CreatePerson",
            json!({"GroupId": "office", "PersonId": "biden", "PersonName": "Joe Biden", "Image": biden})
        )),
        ""
    );
    let r = tc(
        "SearchFaces",
        json!({"GroupIds": ["office"], "Image": obama2, "MaxPersonNum": 3}),
    );
    let c = &r["Results"][0]["Candidates"];
    assert_eq!(
        (c[0]["PersonId"].as_str(), c[0]["PersonName"].as_str()),
        (Some("obama"), Some("Barack Obama")),
        "{r}"
    );
    assert!(c[0]["Score"].as_f64().unwrap() > 46.0, "{r}");
    assert_eq!(
        tc("VerifyFace", json!({"PersonId": "obama", "Image": obama2}))["IsMatch"],
        true
    );
    assert_eq!(
        tc("VerifyFace", json!({"PersonId": "biden", "Image": obama2}))["IsMatch"],
        false
    );
    let s = tc("CompareFace", json!({"ImageA": obama1, "ImageB": obama2}))["Score"]
        .as_f64()
        .unwrap();
    let d = tc("CompareFace", json!({"ImageA": obama1, "ImageB": biden}))["Score"]
        .as_f64()
        .unwrap();
    assert!(s > 46.0 && d < 46.0, "{s} {d}");
    let r = tc(
        "DetectFace",
        json!({"Image": obama1, "NeedFaceAttributes": 1, "NeedQualityDetection": 1}),
    );
    let f = &r["FaceInfos"][0];
    assert!(r["ImageWidth"].as_u64().unwrap() > 0, "{r}");
    assert!(
        f["FaceAttributesInfo"]["Gender"].as_i64().unwrap() >= 50,
        "male: {r}"
    );
    assert_eq!(f["FaceAttributesInfo"]["Mask"], false);
    assert!(
        f["FaceQualityInfo"]["Score"].is_number() && f["FaceAttributesInfo"]["Yaw"].is_number(),
        "{r}"
    );
    assert_eq!(tc("GetGroupList", json!({}))["GroupNum"], 1);
    assert_eq!(error(&tc("DeletePerson", json!({"PersonId": "obama"}))), "");
    assert_eq!(
        error(&tc(
            "VerifyFace",
            json!({"PersonId": "obama", "Image": obama2})
        )),
        "InvalidParameterValue.PersonIdNotExist"
    );
    assert_eq!(error(&tc("DeleteGroup", json!({"GroupId": "office"}))), "");
    assert_eq!(
        error(&tc("DeleteGroup", json!({"GroupId": "office"}))),
        "InvalidParameterValue.GroupIdNotExist"
    );
    // Bad input.
    assert_eq!(error(&tc("DetectFace", json!({}))), "MissingParameter");
    assert_eq!(
        error(&tc("DetectFace", json!({"Image": "@@@"}))),
        "FailedOperation.ImageDecodeFailed"
    );
    assert_eq!(
        error(&tc(
            "DetectFace",
            json!({"Image": img("negatives/dlib_dogs.jpg")})
        )),
        "InvalidParameterValue.NoFaceInPhoto"
    );
    assert_eq!(
        error(&tc(
            "DetectFace",
            json!({"Image": obama1, "MaxFaceNum": 500})
        )),
        "InvalidParameterValue"
    );
    assert_eq!(error(&tc("FlyToTheMoon", json!({}))), "InvalidAction");
    // Signatures: a tampered body, an old timestamp, an unknown SecretId. (TC3 has no nonce: a repeat
    // within the window is accepted, as by Tencent.)
    let raw = json!({}).to_string();
    let mut h = tc3_headers(
        "AKID-tencent-client",
        "tc3-secret-key-value",
        "GetGroupList",
        now(),
        raw.as_bytes(),
    );
    let (s, _, v) = call_full(p, "POST", "/", &h, b"{\"Offset\":1}");
    assert_eq!(
        (s, v["Response"]["Error"]["Code"].as_str()),
        (403, Some("AuthFailure.SignatureFailure")),
        "{v}"
    );
    let (s, _, _) = call_full(p, "POST", "/", &h, raw.as_bytes());
    assert_eq!(s, 200);
    h = tc3_headers(
        "AKID-tencent-client",
        "tc3-secret-key-value",
        "GetGroupList",
        now() - 3600,
        raw.as_bytes(),
    );
    let (s, _, v) = call_full(p, "POST", "/", &h, raw.as_bytes());
    assert_eq!(
        (s, v["Response"]["Error"]["Code"].as_str()),
        (403, Some("AuthFailure.SignatureExpire")),
        "{v}"
    );
    h = tc3_headers("AKID-nobody", "x", "GetGroupList", now(), raw.as_bytes());
    let (s, _, v) = call_full(p, "POST", "/", &h, raw.as_bytes());
    assert_eq!(
        (s, v["Response"]["Error"]["Code"].as_str()),
        (403, Some("AuthFailure.SecretIdNotFound")),
        "{v}"
    );
    // The tenant's groups are its own: another key's token sees none of them.
    let h = vec![
        ("X-Auth-Token".to_string(), KEY_A.to_string()),
        ("X-TC-Action".to_string(), "GetGroupList".to_string()),
    ];
    let (s, _, v) = call_full(p, "POST", "/", &h, b"{}");
    assert_eq!((s, &v["Response"]["GroupNum"]), (200, &json!(0)), "{v}");
}

#[test]
fn tencent_persons_their_faces_groups_and_passive_liveness() {
    tencent_persons_their_faces_groups_and_passive_liveness_on("");
}

/// The same Tencent calls with the groups and persons in PostgreSQL: the same answers.
#[test]
fn tencent_persons_their_faces_groups_and_passive_liveness_on_postgres() {
    let url = common::services::Postgres::shared().database("tencent_persons");
    tencent_persons_their_faces_groups_and_passive_liveness_on(&format!("url = \"{url}\""));
}

fn tencent_persons_their_faces_groups_and_passive_liveness_on(storage: &str) {
    let media = common::media();
    let srv = start_full(TENCENT_KEYS, None, storage);
    let tc = |action: &str, body: Value| tencent(srv.port, action, body);
    let ok = |action: &str, body: Value| {
        let r = tc(action, body);
        assert_eq!(tc_error(&r), "", "{action}: {r}");
        r
    };
    let img = |rel: &str| b64(&media.join(rel));
    let obama1 = img("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = img("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let dogs = img("negatives/dlib_dogs.jpg");
    for g in ["office", "lab"] {
        ok("CreateGroup", json!({"GroupId": g, "GroupName": g}));
    }
    let f1 = ok(
        "CreatePerson",
        json!({"GroupId": "office", "PersonId": "obama", "PersonName": "Barack Obama", "Image": obama1}),
    )["FaceId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(f1.len(), 19, "Tencent-style face id: {f1}");

    // CreateFace: each image on its own; a photo without a face is reported, not fatal.
    let r = ok(
        "CreateFace",
        json!({"PersonId": "obama", "Images": [obama2, dogs]}),
    );
    assert_eq!(r["SucFaceNum"], 1, "{r}");
    assert_eq!(r["RetCode"], json!([0, -1101]), "{r}");
    assert_eq!(r["SucIndexes"], json!([0]), "{r}");
    let f2 = r["SucFaceIds"][0].as_str().unwrap().to_string();
    let info = ok("GetPersonBaseInfo", json!({"PersonId": "obama"}));
    assert_eq!(info["PersonName"], "Barack Obama");
    assert_eq!(info["FaceIds"], json!([f1, f2]), "{info}");

    // CopyPerson: into lab (office is skipped: already there); search finds him in lab.
    let r = ok(
        "CopyPerson",
        json!({"PersonId": "obama", "GroupIds": ["lab", "office"]}),
    );
    assert_eq!(
        (r["SucGroupNum"].as_u64(), &r["SucGroupIds"]),
        (Some(1), &json!(["lab"])),
        "{r}"
    );
    let r = ok("GetPersonGroupInfo", json!({"PersonId": "obama"}));
    assert_eq!(r["GroupNum"], 2, "{r}");
    let r = ok("SearchFaces", json!({"GroupIds": ["lab"], "Image": obama2}));
    assert_eq!(r["Results"][0]["Candidates"][0]["PersonId"], "obama", "{r}");
    let r = ok(
        "SearchPersons",
        json!({"GroupIds": ["lab", "office"], "Image": obama2}),
    );
    let c = &r["Results"][0]["Candidates"];
    assert_eq!(
        (c[0]["PersonId"].as_str(), r["PersonNum"].as_u64()),
        (Some("obama"), Some(1)),
        "one person, though in two groups: {r}"
    );
    assert_eq!(
        c[0]["PersonGroupInfos"].as_array().map(Vec::len),
        Some(2),
        "{r}"
    );
    assert_eq!(
        ok(
            "VerifyPerson",
            json!({"PersonId": "obama", "Image": obama2})
        )["IsMatch"],
        true
    );
    let r = ok("GetPersonList", json!({"GroupId": "lab"}));
    assert_eq!(
        (r["PersonNum"].as_u64(), r["FaceNum"].as_u64()),
        (Some(1), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["PersonInfos"][0]["FaceIds"],
        json!([f1, f2]),
        "same face ids in every group: {r}"
    );

    // One name per person, in every group.
    ok(
        "ModifyPersonBaseInfo",
        json!({"PersonId": "obama", "PersonName": "B. Obama"}),
    );
    let r = ok("GetPersonList", json!({"GroupId": "lab"}));
    assert_eq!(r["PersonInfos"][0]["PersonName"], "B. Obama", "{r}");

    // DeleteFace removes the face from every group; the last face stays.
    let r = ok("DeleteFace", json!({"PersonId": "obama", "FaceIds": [f1]}));
    assert_eq!(
        (r["SucDeletedNum"].as_u64(), &r["SucFaceIds"]),
        (Some(1), &json!([f1])),
        "{r}"
    );
    assert_eq!(
        ok("GetPersonBaseInfo", json!({"PersonId": "obama"}))["FaceIds"],
        json!([f2])
    );
    assert_eq!(ok("GetPersonList", json!({"GroupId": "lab"}))["FaceNum"], 1);
    assert_eq!(
        tc_error(&tc(
            "DeleteFace",
            json!({"PersonId": "obama", "FaceIds": [f2]})
        )),
        "InvalidParameterValue.DeleteFaceNumExceed"
    );
    let six = vec![obama1.clone(); 6];
    assert_eq!(
        tc_error(&tc(
            "CreateFace",
            json!({"PersonId": "obama", "Images": six})
        )),
        "InvalidParameterValue.LimitExceed"
    );
    let five = vec![obama1.clone(); 5];
    assert_eq!(
        tc_error(&tc(
            "CreateFace",
            json!({"PersonId": "obama", "Images": five})
        )),
        "InvalidParameterValue.PersonFaceNumExceed"
    );
    assert_eq!(
        ok("GetPersonBaseInfo", json!({"PersonId": "obama"}))["FaceIds"],
        json!([f2])
    );

    // Person ids are unique: CreatePerson in another group is refused (CopyPerson does that).
    assert_eq!(
        tc_error(&tc(
            "CreatePerson",
            json!({"GroupId": "lab", "PersonId": "obama", "PersonName": "x", "Image": obama1})
        )),
        "InvalidParameterValue.PersonIdAlreadyExist"
    );
    // Leaving groups: out of lab, not in lab again, out of office = gone.
    ok(
        "DeletePersonFromGroup",
        json!({"PersonId": "obama", "GroupId": "lab"}),
    );
    assert_eq!(
        tc_error(&tc(
            "DeletePersonFromGroup",
            json!({"PersonId": "obama", "GroupId": "lab"})
        )),
        "FailedOperation.GroupPersonMapNotExist"
    );
    assert_eq!(
        ok("GetPersonGroupInfo", json!({"PersonId": "obama"}))["GroupNum"],
        1
    );
    ok(
        "DeletePersonFromGroup",
        json!({"PersonId": "obama", "GroupId": "office"}),
    );
    assert_eq!(
        tc_error(&tc("GetPersonBaseInfo", json!({"PersonId": "obama"}))),
        "InvalidParameterValue.PersonIdNotExist"
    );
    let r = ok("GetGroupInfo", json!({"GroupId": "office"}));
    assert_eq!(r["GroupId"], "office", "{r}");
    assert_eq!(
        tc_error(&tc("GetGroupInfo", json!({"GroupId": "nowhere"}))),
        "InvalidParameterValue.GroupIdNotExist"
    );
    assert_eq!(
        tc_error(&tc("GetPersonList", json!({"GroupId": "nowhere"}))),
        "InvalidParameterValue.GroupIdNotExist"
    );
    assert_eq!(
        tc_error(&tc(
            "CopyPerson",
            json!({"PersonId": "ghost", "GroupIds": ["lab"]})
        )),
        "InvalidParameterValue.PersonIdNotExist"
    );
    assert_eq!(
        tc_error(&tc(
            "CreateFace",
            json!({"PersonId": "ghost", "Images": [obama1]})
        )),
        "InvalidParameterValue.PersonIdNotExist"
    );

    // DetectLiveFace: the anti-spoof model's score for the largest face.
    for (rel, live) in [
        (
            "gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg",
            true,
        ),
        ("gallery/Joe_Biden/face_recognition_biden2.jpg", true),
        ("spoof/minivision_image_T1.jpg", true),
        ("spoof/liveportrait_s11_printed_photo_in_hand.jpg", false),
        ("spoof/minivision_image_F1.jpg", false),
        ("spoof/minivision_image_F2.jpg", false),
    ] {
        let r = ok("DetectLiveFace", json!({"Image": img(rel)}));
        println!(
            "DetectLiveFace {rel}: Score {} IsLiveness {}",
            r["Score"], r["IsLiveness"]
        );
        assert_eq!(r["IsLiveness"], live, "{rel}: {r}");
    }
    assert_eq!(
        tc_error(&tc("DetectLiveFace", json!({"Image": dogs}))),
        "InvalidParameterValue.NoFaceInPhoto"
    );
    // Every action the spec lists is answered (an empty body: a parameter error, or the empty group
    // list), never InvalidAction.
    for action in facestream::api::tencent::ACTIONS {
        let code = tc_error(&tc(action, json!({})));
        assert!(
            code.starts_with("MissingParameter")
                || code.starts_with("InvalidParameter")
                || *action == "GetGroupList",
            "{action}: {code}"
        );
    }
}

/// Captured headers with `X-TC-Action` changed to `action`.
fn re_aimed(h: &[(String, String)], action: &str) -> Vec<(String, String)> {
    h.iter()
        .map(|(k, v)| match k.as_str() {
            "X-TC-Action" => (k.clone(), action.to_string()),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

/// A captured signed `GetGroupList` re-sent with `X-TC-Action: DeleteGroup` used to delete the
/// group (the action was not signed). Now a signature that leaves the action unsigned is bound to
/// the action it came with; a client that signs `x-tc-action` (lower-cased, as documented) is
/// verified and accepted (it used to get "signature mismatch").
#[test]
fn tc3_signatures_cannot_be_re_aimed_at_another_action() {
    let srv = start(TENCENT_KEYS);
    let p = srv.port;
    let (id, key) = ("AKID-tencent-client", "tc3-secret-key-value");
    let send = |h: &[(String, String)], body: &[u8]| {
        let (s, _, v) = call_full(p, "POST", "/", h, body);
        (s, v["Response"].clone())
    };
    // Signing x-tc-action as Tencent documents it.
    let body = json!({"GroupId": "kept", "GroupName": "Kept"}).to_string();
    let h = tc3_signed(id, key, "CreateGroup", unix_now(), body.as_bytes(), true);
    let (s, r) = send(&h, body.as_bytes());
    assert_eq!(
        (s, tc_error(&r)),
        (200, String::new()),
        "signed x-tc-action: {r}"
    );
    // A signed action cannot be swapped.
    let swapped = re_aimed(&h, "DeleteGroup");
    let (_, r) = send(&swapped, body.as_bytes());
    assert_eq!(tc_error(&r), "AuthFailure.SignatureFailure", "{r}");

    // The official SDK's way: only content-type and host signed.
    let list = json!({"Offset": 0, "Limit": 10}).to_string();
    let h = tc3_signed(id, key, "GetGroupList", unix_now(), list.as_bytes(), false);
    let (s, r) = send(&h, list.as_bytes());
    assert_eq!((s, tc_error(&r)), (200, String::new()), "{r}");
    // An identical request again is fine (two identical reads in one second are legitimate).
    let (_, r) = send(&h, list.as_bytes());
    assert_eq!(tc_error(&r), "", "{r}");
    // The captured request re-aimed at DeleteGroup is refused, and the group survives.
    let aimed = re_aimed(&h, "DeleteGroup");
    let (s, r) = send(&aimed, list.as_bytes());
    println!("re-aimed GetGroupList → DeleteGroup: {s} {r}");
    assert!(tc_error(&r).starts_with("AuthFailure"), "{r}");
    let groups = tencent(p, "GetGroupList", json!({}));
    assert!(
        groups["GroupInfos"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["GroupId"] == "kept"),
        "{groups}"
    );
}

/// Tencent's 429 carried no Retry-After (the FRS and Baidu ones did).
#[test]
fn tencent_rate_limit_says_when_to_retry() {
    let srv = start("rate_per_second = 1.0\nburst = 1.0\n[[api.keys]]\nkey = \"AKID-tencent-client\"\ntenant = \"t\"\nsecret = \"tc3-secret-key-value\"");
    let raw = json!({}).to_string();
    let mut got = vec![];
    for _ in 0..3 {
        let h = tc3_signed(
            "AKID-tencent-client",
            "tc3-secret-key-value",
            "GetGroupList",
            unix_now(),
            raw.as_bytes(),
            true,
        );
        let (s, head, v) = call_full(srv.port, "POST", "/", &h, raw.as_bytes());
        got.push((s, head.contains("retry-after:"), tc_error(&v["Response"])));
    }
    println!("3 Tencent calls at 1/s, burst 1: {got:?}");
    assert!(
        got.iter()
            .any(|(s, ra, code)| *s == 429 && *ra && code == "RequestLimitExceeded"),
        "{got:?}"
    );
}
