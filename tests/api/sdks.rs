//! The clouds' own Python SDKs from PyPI (huaweicloudsdkfrs, baidu-aip,
//! tencentcloud-sdk-python-iai) and China Telecom's manual sample, with only the endpoint changed,
//! against a running facestream (installed by `scripts/setup.sh --with-test-tools`).

use super::*;

const SDK_KEYS: &str = "rate_per_second = 0.0
[[api.keys]]
key = \"AK-huawei-sdk-client\"
tenant = \"h\"
secret = \"SK-huawei-sdk-secret\"
[[api.keys]]
key = \"baidu-sdk-api-key-0001\"
tenant = \"b\"
secret = \"baidu-sdk-secret-key\"
[[api.keys]]
key = \"AKID-tencent-sdk-client\"
tenant = \"t\"
secret = \"tencent-sdk-secret\"
[[api.keys]]
key = \"ctyun-app-key-00001\"
tenant = \"c\"
secret = \"ctyun-app-secret\"";

fn tools_python() -> std::path::PathBuf {
    let home = std::env::var_os("FACESTREAM_TOOLS_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/opt/facestream-tools".into());
    let py = home.join("bin/python");
    assert!(
        py.is_file(),
        "{} missing: run scripts/setup.sh --with-test-tools",
        py.display()
    );
    py
}

#[test]
fn official_sdks_work_with_only_the_endpoint_changed() {
    official_sdks_on("");
}

/// The same SDK calls against a server whose face sets live in PostgreSQL.
#[test]
fn official_sdks_work_on_postgres() {
    let url = common::services::Postgres::shared().database("official_sdks");
    official_sdks_on(&format!("url = \"{url}\""));
}

fn official_sdks_on(storage: &str) {
    let media = common::media();
    let srv = start_full(SDK_KEYS, None, storage);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/official_sdks.py");
    let out = Command::new(tools_python())
        .arg(&script)
        .arg(srv.port.to_string())
        .arg(&media)
        .arg(media.join("negatives/compreface_017_0_landscape.jpg"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    for family in ["huawei", "baidu", "tencent", "ctyun"] {
        println!(
            "{family}: {}",
            serde_json::to_string(&r[family])
                .unwrap()
                .chars()
                .take(600)
                .collect::<String>()
        );
        assert!(r[family]["exception"].is_null(), "{family}: {}", r[family]);
    }
    let h = &r["huawei"];
    assert_eq!(h["detect_faces"], 1, "{h}");
    assert_eq!(h["added"], 1, "{h}");
    assert_eq!(h["search_top"], "obama", "{h}");
    assert!(h["compare_similarity"].as_f64().unwrap() > 0.5, "{h}");
    let b = &r["baidu"];
    assert_eq!(
        (
            b["group_add"].as_i64(),
            b["user_add"].as_i64(),
            b["search_error"].as_i64()
        ),
        (Some(0), Some(0), Some(0)),
        "{b}"
    );
    assert_eq!(b["search_top"], "obama", "{b}");
    assert_eq!(b["detect_faces"], 1, "{b}");
    let t = &r["tencent"];
    assert_eq!(t["detect_faces"], 1, "{t}");
    assert_eq!(t["search_top"], "obama", "{t}");
    assert!(
        t["compare_score"].as_f64().unwrap() < 50.0,
        "Obama vs Biden: {t}"
    );
    let c = &r["ctyun"];
    assert_eq!(
        (
            c["detect"]["code"].as_i64(),
            c["detect"]["message"].as_str()
        ),
        (Some(0), Some("success")),
        "{c}"
    );
    assert_eq!(c["detect"]["result"]["face_num"], 1);
    let loc = &c["detect"]["result"]["face_list"][0]["face_location"];
    assert!(
        loc["width"].as_i64().unwrap() > 20 && loc["top"].is_i64(),
        "{loc}"
    );
    let ag = &c["age_gender"]["result"]["face_list"][0];
    assert_eq!(ag["gender"], "Male", "{ag}");
    assert!(
        ag["age"].as_str().unwrap().parse::<u32>().unwrap() > 25,
        "{ag}"
    );
    let same = c["compare_same"]["result"].as_f64().unwrap();
    let other = c["compare_other"]["result"].as_f64().unwrap();
    assert!(same > 0.5 && other < 0.4, "same {same}, other {other}");
    assert!(
        c["fas"]["result"]["face_list"][0]["FaceAntiSpoofing"].is_string(),
        "{c}"
    );
    assert_eq!(
        c["mask"]["result"]["face_list"][0]["FaceMask"], "未戴口罩",
        "{c}"
    );
    for (case, code) in [
        ("empty", 4101),
        ("not_image", 4104),
        ("no_face", 4105),
        ("too_big", 4103),
    ] {
        assert_eq!(c[case]["code"].as_i64(), Some(code), "{case}: {}", c[case]);
        assert_eq!(c[case]["message"], "error", "{case}");
        assert!(c[case]["details"].is_string(), "{case}");
    }
    for case in ["stale", "bad_sign"] {
        assert_eq!(c[case]["code"].as_i64(), Some(4010), "{case}: {}", c[case]);
    }
    assert_eq!(c["replay"][0], 0, "{c}");
    assert_eq!(c["replay"][1]["code"].as_i64(), Some(4010), "{c}");
}
