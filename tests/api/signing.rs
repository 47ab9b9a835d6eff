//! AK/SK request signing: expiry, replay, rate limits.

use super::*;

/// Signs a request the way the seeds' SDKs do (SDK-HMAC-SHA256 over the canonical request).
fn signed(
    ak: &str,
    sk: &str,
    date: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    signed_with_nonce(ak, sk, date, method, path, body, None)
}

/// As [`signed`], also signing an `X-Sdk-Nonce` header when given.
fn signed_with_nonce(
    ak: &str,
    sk: &str,
    date: &str,
    method: &str,
    path: &str,
    body: &[u8],
    nonce: Option<&str>,
) -> Vec<(String, String)> {
    use facestream::api::auth::{canonical_request, hmac_hex, string_to_sign};
    let mut headers = vec![
        ("Host".to_string(), "localhost".to_string()),
        ("X-Sdk-Date".to_string(), date.to_string()),
    ];
    let mut names = vec!["host".to_string(), "x-sdk-date".to_string()];
    if let Some(n) = nonce {
        headers.push(("X-Sdk-Nonce".to_string(), n.to_string()));
        names.push("x-sdk-nonce".to_string());
    }
    let canonical = canonical_request(method, path, "", &headers, &names, body);
    let sig = hmac_hex(sk.as_bytes(), string_to_sign(date, &canonical).as_bytes());
    let mut out = vec![
        ("X-Sdk-Date".to_string(), date.to_string()),
        (
            "Authorization".to_string(),
            format!(
                "SDK-HMAC-SHA256 Access={ak}, SignedHeaders={}, Signature={sig}",
                names.join(";")
            ),
        ),
    ];
    if let Some(n) = nonce {
        out.push(("X-Sdk-Nonce".to_string(), n.to_string()));
    }
    out
}

fn sdk_date(offset_s: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + offset_s;
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{now}"), "+%Y%m%dT%H%M%SZ"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn ak_sk_signatures_expiry_replay_and_rate_limits() {
    let srv = start("rate_per_second = 1.0\nburst = 3.0\n[[api.keys]]\nkey = \"AK-signing-tenant-c\"\ntenant = \"c\"\nsecret = \"SK-very-secret-value\"");
    let p = srv.port;
    let path = "/v2/p1/face-sets";
    let body = br#"{"face_set_name":"signed"}"#;
    let h = signed(
        "AK-signing-tenant-c",
        "SK-very-secret-value",
        &sdk_date(0),
        "POST",
        path,
        body,
    );
    let (s, _, r) = call_full(p, "POST", path, &h, body);
    assert_eq!(s, 200, "valid signature: {r}");
    // Two identical legitimate requests in one second sign identically: both are served (the
    // second create finds the set exists) rather than refused as a replay.
    let (s, _, r) = call_full(p, "POST", path, &h, body);
    assert_eq!(
        (s, r["error_code"].as_str()),
        (409, Some("FRS.0401")),
        "{r}"
    );
    std::thread::sleep(Duration::from_millis(1100));
    let signed_get = |nonce: Option<&str>| {
        signed_with_nonce(
            "AK-signing-tenant-c",
            "SK-very-secret-value",
            &sdk_date(0),
            "GET",
            path,
            b"",
            nonce,
        )
    };
    let list = signed_get(None);
    for _ in 0..2 {
        let (s, _, r) = call_full(p, "GET", path, &list, b"");
        assert_eq!(s, 200, "identical signed reads: {r}");
    }
    // A client that signs a nonce gets each signature accepted once (after the key's bucket,
    // 1/s with burst 3, has refilled).
    std::thread::sleep(Duration::from_millis(2200));
    let once = signed_get(Some("n-1"));
    let (s, _, r) = call_full(p, "GET", path, &once, b"");
    assert_eq!(s, 200, "{r}");
    let (s, _, r) = call_full(p, "GET", path, &once, b"");
    assert_eq!(
        (s, r["error_msg"].as_str()),
        (403, Some("replayed request"))
    );
    let bad = signed(
        "AK-signing-tenant-c",
        "wrong-secret",
        &sdk_date(1),
        "POST",
        path,
        body,
    );
    let (s, _, r) = call_full(p, "POST", path, &bad, body);
    assert_eq!(
        (s, r["error_msg"].as_str()),
        (403, Some("signature mismatch"))
    );
    let old = signed(
        "AK-signing-tenant-c",
        "SK-very-secret-value",
        &sdk_date(-3600),
        "POST",
        path,
        body,
    );
    let (s, _, r) = call_full(p, "POST", path, &old, body);
    assert_eq!(s, 403);
    assert!(r["error_msg"].as_str().unwrap().contains("expired"), "{r}");
    // A signature over another body does not authorise this one.
    let other = signed(
        "AK-signing-tenant-c",
        "SK-very-secret-value",
        &sdk_date(2),
        "POST",
        path,
        br#"{"face_set_name":"x"}"#,
    );
    let (s, _, _) = call_full(p, "POST", path, &other, body);
    assert_eq!(s, 403);
    // Rate limit per key: burst 3 at 1/s, then 429 with Retry-After.
    let tok = vec![("X-Auth-Token".to_string(), KEY_A.to_string())];
    let mut got = vec![];
    for _ in 0..6 {
        let (s, head, _) = call_full(p, "GET", path, &tok, b"");
        got.push((s, head.contains("retry-after:")));
    }
    println!("6 requests at once, 1/s with burst 3: {got:?}");
    assert!(got.iter().take(3).all(|&(s, _)| s == 200), "{got:?}");
    assert!(got.iter().any(|&(s, ra)| s == 429 && ra), "{got:?}");
}
