//! FRS v2 endpoints: success and error paths, tenants, limits, multipart uploads.

use super::*;

// The FRS endpoints one concern per test, so one failure does not hide the others.

#[test]
fn authentication_is_required_and_checked() {
    let srv = start("");
    let p = srv.port;
    let (s, e) = call(p, "GET", "/v2/p1/face-sets", None, None);
    assert_eq!((s, e["error_code"].as_str()), (401, Some("FRS.0002")));
    let (s, _) = call(
        p,
        "GET",
        "/v2/p1/face-sets",
        Some("wrong-key-0000000000"),
        None,
    );
    assert_eq!(s, 403);
}

#[test]
fn face_detect_answers_and_each_error_code() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let obama1 = media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg");

    // face-detect with attributes and quality (Tencent-style flags), by base64 and by permitted url.
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&obama1), "NeedFaceAttributes": true, "NeedQualityDetection": true}),
        ),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["faces"].as_array().unwrap().len(), 1);
    assert_eq!(r["faces"][0]["attributes"]["gender"], "male");
    assert!(r["faces"][0]["quality"]["blur"].is_number());
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_url": obama1.display().to_string()})),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_url": "/etc/passwd"})),
    );
    assert_eq!(
        (s, r["error_code"].as_str()),
        (403, Some("FRS.0012")),
        "{r}"
    );
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_url": "http://example.com/a.jpg"})),
    );
    // No host is allowed by default (api.image_url_hosts is empty).
    assert_eq!(
        (s, r["error_code"].as_str()),
        (403, Some("FRS.0012")),
        "{r}"
    );
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({"image_base64": "%%%"})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0015")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": base64::engine::general_purpose::STANDARD.encode(b"GIF89a....")}),
        ),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0024")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&media.join("negatives/compreface_017_0_landscape.jpg"))}),
        ),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0501")));
    let (s, r) = call_raw(p, "POST", "/v2/p1/face-detect", Some(KEY_A), b"{not json");
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0014")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&json!({})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0011")));
}

#[test]
fn face_compare_tells_same_from_different() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let obama1 = media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let biden = media.join("gallery/Joe_Biden/face_recognition_biden2.jpg");

    // face-compare.
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-compare",
        Some(KEY_A),
        Some(&json!({"image1_base64": b64(&obama1), "image2_base64": b64(&obama2)})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["same_person"], true);
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-compare",
        Some(KEY_A),
        Some(&json!({"image1_base64": b64(&obama1), "image2_base64": b64(&biden)})),
    );
    assert_eq!(r["same_person"], false);
}

#[test]
fn face_sets_are_scoped_per_tenant() {
    face_sets_are_scoped_per_tenant_on("");
}

/// The same requests against a server whose face sets live in PostgreSQL: the same answers.
#[test]
fn face_sets_are_scoped_per_tenant_on_postgres() {
    let url = common::services::Postgres::shared().database("face_sets_are_scoped_per_tenant");
    face_sets_are_scoped_per_tenant_on(&format!("url = \"{url}\""));
}

fn face_sets_are_scoped_per_tenant_on(storage: &str) {
    let srv = start_full("", None, storage);
    let p = srv.port;
    // Face sets, scoped per tenant.
    let set = json!({"face_set_name": "staff", "face_set_capacity": 10, "external_fields": {"level": {"type": "integer"}, "dept": {"type": "string"}}});
    let (s, r) = call(p, "POST", "/v2/p1/face-sets", Some(KEY_A), Some(&set));
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["face_set_info"]["face_set_name"], "staff");
    let (s, r) = call(p, "POST", "/v2/p1/face-sets", Some(KEY_A), Some(&set));
    assert_eq!((s, r["error_code"].as_str()), (409, Some("FRS.0401")));
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "x", "external_fields": {"face_id": {"type": "string"}}})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0408")));
    // Tenant b sees nothing of tenant a, and may use the same name.
    let (_, r) = call(p, "GET", "/v2/p1/face-sets", Some(KEY_B), None);
    assert_eq!(r["face_sets_info"].as_array().unwrap().len(), 0);
    let (s, _) = call(p, "GET", "/v2/p1/face-sets/staff", Some(KEY_B), None);
    assert_eq!(s, 404);
    let (s, _) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_B),
        Some(&json!({"face_set_name": "staff"})),
    );
    assert_eq!(s, 200);
}

#[test]
fn faces_are_added_listed_updated_searched_and_deleted() {
    faces_are_added_listed_updated_searched_and_deleted_on("");
}

/// The same requests against a server whose face sets live in PostgreSQL: the same answers.
#[test]
fn faces_are_added_listed_updated_searched_and_deleted_on_postgres() {
    let url =
        common::services::Postgres::shared().database("faces_are_added_listed_updated_searched_");
    faces_are_added_listed_updated_searched_and_deleted_on(&format!("url = \"{url}\""));
}

fn faces_are_added_listed_updated_searched_and_deleted_on(storage: &str) {
    let media = common::media();
    let srv = start_full("", None, storage);
    let p = srv.port;
    let obama1 = media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let obama2 = media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let biden = media.join("gallery/Joe_Biden/face_recognition_biden2.jpg");
    let set = json!({"face_set_name": "staff", "face_set_capacity": 10, "external_fields": {"level": {"type": "integer"}, "dept": {"type": "string"}}});
    let (s, r) = call(p, "POST", "/v2/p1/face-sets", Some(KEY_A), Some(&set));
    assert_eq!(s, 200, "{r}");

    // Faces: add, list, get, update, search, delete by field, batch delete by filter.
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&obama1), "external_image_id": "obama", "external_fields": {"level": 44, "dept": "gov"}, "single": true}),
        ),
    );
    assert_eq!(s, 200, "{r}");
    let face_id = r["faces"][0]["face_id"].as_str().unwrap().to_string();
    let (_, _) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&biden), "external_image_id": "biden", "external_fields": {"level": 46, "dept": "gov"}}),
        ),
    );
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(&json!({"image_base64": b64(&biden), "external_fields": {"level": "high"}})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0405")));
    let (_, r) = call(
        p,
        "GET",
        "/v2/p1/face-sets/staff/faces?offset=0&limit=10",
        Some(KEY_A),
        None,
    );
    assert_eq!(r["faces"].as_array().unwrap().len(), 2);
    let (s, _) = call(
        p,
        "GET",
        "/v2/p1/face-sets/staff/faces?offset=9999&limit=10",
        Some(KEY_A),
        None,
    );
    assert_eq!(s, 400);
    let (_, r) = call(
        p,
        "GET",
        &format!("/v2/p1/face-sets/staff/faces?face_id={face_id}"),
        Some(KEY_A),
        None,
    );
    assert_eq!(r["faces"][0]["external_image_id"], "obama");
    let (s, _) = call(
        p,
        "PUT",
        "/v2/p1/face-sets/staff/faces",
        Some(KEY_A),
        Some(&json!({"face_id": face_id, "external_fields": {"level": 45}})),
    );
    assert_eq!(s, 200);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_A),
        Some(&json!({"image_base64": b64(&obama2), "top_n": 5, "return_fields": ["level"]})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["faces"][0]["external_image_id"], "obama");
    assert_eq!(r["faces"][0]["external_fields"], json!({"level": 45}));
    assert_eq!(
        r["faces"].as_array().unwrap().len(),
        1,
        "Biden is below the threshold"
    );
    let (_, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_A),
        Some(&json!({"face_id": face_id, "threshold": 0.0, "sort": [{"level": "desc"}]})),
    );
    assert_eq!(r["faces"].as_array().unwrap().len(), 2);
    assert_eq!(r["faces"][0]["external_fields"]["level"], 46);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_A),
        Some(&json!({"face_id": face_id, "filter": "level:[1 TO"})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0409")));
    let (s, _) = call(
        p,
        "POST",
        "/v2/p1/face-sets/staff/search",
        Some(KEY_B),
        Some(&json!({"face_id": face_id})),
    );
    assert_eq!(s, 404, "tenant b cannot search tenant a's faces");
    let (_, r) = call(
        p,
        "DELETE",
        "/v2/p1/face-sets/staff/faces?external_image_id=biden",
        Some(KEY_A),
        None,
    );
    assert_eq!(r["face_number"], 1);
    let (_, r) = call(
        p,
        "DELETE",
        "/v2/p1/face-sets/staff/faces/batch",
        Some(KEY_A),
        Some(&json!({"filter": "dept:gov"})),
    );
    assert_eq!(r["face_number"], 1);
    let (s, _) = call(p, "DELETE", "/v2/p1/face-sets/staff", Some(KEY_A), None);
    assert_eq!(s, 200);
    let (s, _) = call(p, "DELETE", "/v2/p1/face-sets/staff", Some(KEY_A), None);
    assert_eq!(s, 404);
}

#[test]
fn clip_liveness_inline_and_its_errors() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    // live-detect from a permitted file path is refused outside image_dir, works inline.
    let clip = media.join("liveness/liveportrait_d18.mp4");
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/live-detect",
        Some(KEY_A),
        Some(&json!({"video_base64": b64(&clip), "actions": "4"})),
    );
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["video-result"]["alive"], true);
    let (s, r) = call(
        p,
        "POST",
        "/v2/p1/live-detect",
        Some(KEY_A),
        Some(&json!({"video_base64": b64(&clip), "actions": "9"})),
    );
    assert_eq!((s, r["error_code"].as_str()), (400, Some("FRS.0601")));
}

#[test]
fn openapi_lists_every_endpoint() {
    let srv = start("");
    let p = srv.port;
    // The spec lists every endpoint.
    let (s, spec) = call(p, "GET", "/openapi.json", None, None);
    assert_eq!(s, 200);
    let paths = spec["paths"].as_object().unwrap();
    assert_eq!(paths.keys().filter(|k| k.starts_with("/v2/")).count(), 9);
    assert_eq!(paths.keys().filter(|k| k.starts_with("/v1/")).count(), 2);
    assert_eq!(
        paths
            .keys()
            .filter(|k| k.starts_with("/rest/2.0/face/v3/"))
            .count(),
        15
    );
}

#[test]
fn body_and_concurrency_limits() {
    let media = common::media();
    let srv = start("max_body_bytes = 300000\nmax_concurrent = 1\nqueue_timeout_ms = 1");
    let big = json!({"image_base64": "A".repeat(400_000)});
    let (s, _) = call(
        srv.port,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(&big),
    );
    assert_eq!(s, 413);
    let img = b64(&media.join("group/faceapi_bbt4.jpg"));
    let body =
        json!({"image_base64": img, "NeedFaceAttributes": true, "NeedQualityDetection": true});
    let port = srv.port;
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let b = body.clone();
            std::thread::spawn(move || {
                call(port, "POST", "/v2/p1/face-detect", Some(KEY_A), Some(&b))
            })
        })
        .collect();
    let results: Vec<(u16, Value)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let codes: Vec<u16> = results.iter().map(|r| r.0).collect();
    println!("6 concurrent requests with one inference slot: {codes:?}");
    assert!(codes.contains(&200), "{codes:?}");
    assert!(
        results
            .iter()
            .any(|(s, r)| *s == 503 && r["error_code"] == "FRS.0503"),
        "{codes:?}"
    );
}

#[test]
fn multipart_uploads_reach_the_same_handlers() {
    let media = common::media();
    let srv = start("");
    let p = srv.port;
    let photo = std::fs::read(media.join("group/faceapi_bbt4.jpg")).unwrap();
    let post = |path: &str, ctype: &str, body: &[u8]| {
        let h = vec![
            ("X-Auth-Token".to_string(), KEY_A.to_string()),
            ("Content-Type".to_string(), ctype.to_string()),
        ];
        let (s, _, v) = call_full(p, "POST", path, &h, body);
        (s, v)
    };
    // image_file with a text field read as JSON (`true`): attributes come back for every face.
    let (ct, body) = multipart(&[("attributes", "true")], &[("image_file", &photo)]);
    let (s, v) = post("/v2/p1/face-detect", &ct, &body);
    assert_eq!(s, 200, "{v}");
    let faces = v["faces"].as_array().unwrap();
    assert!(faces.len() >= 4, "{v}");
    assert!(
        faces.iter().all(|f| f["attributes"]["gender"].is_string()),
        "{v}"
    );
    // Same answer as the base64 body.
    let (s, v64) = call(
        p,
        "POST",
        "/v2/p1/face-detect",
        Some(KEY_A),
        Some(
            &json!({"image_base64": b64(&media.join("group/faceapi_bbt4.jpg")), "attributes": true}),
        ),
    );
    assert_eq!(s, 200);
    assert_eq!(v64["faces"].as_array().unwrap().len(), faces.len());
    // Two files for face-compare.
    let o1 =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();
    let o2 = std::fs::read(media.join("gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg"))
        .unwrap();
    let (ct, body) = multipart(&[], &[("image1_file", &o1), ("image2_file", &o2)]);
    let (s, v) = post("/v2/p1/face-compare", &ct, &body);
    assert_eq!((s, v["same_person"].as_bool()), (200, Some(true)), "{v}");
    // Set creation and face add with fields as a JSON text part.
    let (s, v) = call(
        p,
        "POST",
        "/v2/p1/face-sets",
        Some(KEY_A),
        Some(&json!({"face_set_name": "mp", "external_fields": {"dept": {"type": "string"}}})),
    );
    assert_eq!(s, 200, "{v}");
    let (ct, body) = multipart(
        &[
            ("external_image_id", "obama-1"),
            ("external_fields", r#"{"dept":"gov"}"#),
            ("single", "true"),
        ],
        &[("image_file", &o1)],
    );
    let (s, v) = post("/v2/p1/face-sets/mp/faces", &ct, &body);
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["faces"][0]["external_fields"]["dept"], "gov", "{v}");
    // Errors: a form without the file, a file that is not an image, a broken multipart body.
    let (ct, body) = multipart(&[("attributes", "true")], &[]);
    let (s, v) = post("/v2/p1/face-detect", &ct, &body);
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0011")),
        "{v}"
    );
    let (ct, body) = multipart(&[], &[("image_file", b"this is not a picture")]);
    let (s, v) = post("/v2/p1/face-detect", &ct, &body);
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0023")),
        "{v}"
    );
    let (s, v) = post(
        "/v2/p1/face-detect",
        "multipart/form-data; boundary=xyz",
        b"--xyz\r\nContent-Disposition: form-data; name=\"image_file\"\r\n\r\nabc",
    );
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0014")),
        "{v}"
    );
    let (s, v) = post("/v2/p1/face-detect", "multipart/form-data", &body);
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0014")),
        "{v}"
    );
}

/// Silent liveness on one photo, on FRS's v2 path and the v1 path Huawei's SDKs use.
#[test]
fn silent_liveness_on_photos() {
    let media = common::media();
    let srv = start("");
    for (rel, live) in [
        (
            "gallery/Barack_Obama/face_recognition_knn_test_obama1.jpg",
            true,
        ),
        ("spoof/minivision_image_T1.jpg", true),
        ("spoof/minivision_image_F1.jpg", false),
        ("spoof/minivision_image_F2.jpg", false),
        ("spoof/liveportrait_s11_printed_photo_in_hand.jpg", false),
    ] {
        for version in ["v1", "v2"] {
            let (s, v) = call(
                srv.port,
                "POST",
                &format!("/{version}/p/live-detect-face"),
                Some(KEY_A),
                Some(&json!({"image_base64": b64(&media.join(rel))})),
            );
            assert_eq!(s, 200, "{rel}: {v}");
            let r = &v["result"];
            println!(
                "live-detect-face {rel}: alive {} confidence {}",
                r["alive"], r["confidence"]
            );
            assert_eq!(r["alive"], live, "{rel}: {v}");
            let picture = base64::engine::general_purpose::STANDARD
                .decode(r["picture"].as_str().unwrap())
                .unwrap();
            assert_eq!(&picture[..2], &[0xFF, 0xD8], "the face as a JPEG");
        }
    }
    let (s, v) = call(
        srv.port,
        "POST",
        "/v2/p/live-detect-face",
        Some(KEY_A),
        Some(&json!({"image_base64": b64(&media.join("negatives/dlib_dogs.jpg"))})),
    );
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0501")),
        "{v}"
    );
    let (s, v) = call(
        srv.port,
        "POST",
        "/v2/p/live-detect-face",
        Some(KEY_A),
        Some(&json!({})),
    );
    assert_eq!(
        (s, v["error_code"].as_str()),
        (400, Some("FRS.0011")),
        "{v}"
    );
    let (s, _) = call(
        srv.port,
        "POST",
        "/v2/p/live-detect-face",
        None,
        Some(&json!({})),
    );
    assert_eq!(s, 401);
}
