//! The CLI as a user runs it: JSON shapes, exit codes, and every bad-input case as its own error.

mod common;

use std::path::Path;
use std::process::Command;

fn facestream(args: &[&str]) -> (i32, serde_json::Value, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(args)
        .output()
        .expect("run facestream");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code().expect("exited normally, not by a signal");
    assert_ne!(code, 101, "facestream panicked: {stderr}");
    let json = stdout
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    (code, json, stderr)
}

/// The test's own folder (tests run side by side in this process), removed after it.
fn scratch_dir(test: &str) -> common::Scratch {
    common::Scratch::new(format!("facestream-cli-{test}"))
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// A tiny PNG whose header claims `w`×`h` pixels (a decompression bomb's header).
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(w.to_be_bytes());
    ihdr.extend(h.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    v.extend(13u32.to_be_bytes());
    v.extend(&ihdr);
    v.extend(crc32(&ihdr).to_be_bytes());
    // The start of a compressed stream, as a real bomb has: the pixels are never reached.
    let idat = b"IDAT\x78\x9c";
    v.extend(2u32.to_be_bytes());
    v.extend(idat);
    v.extend(crc32(idat).to_be_bytes());
    v.extend(0u32.to_be_bytes());
    v.extend(b"IEND");
    v.extend(crc32(b"IEND").to_be_bytes());
    v
}

fn error_of(path: &Path) -> (String, String) {
    let (code, json, stderr) = facestream(&["detect", "--json", path.to_str().unwrap()]);
    assert_eq!(
        code,
        1,
        "{} should fail with exit code 1: {json} {stderr}",
        path.display()
    );
    assert_eq!(json["image"], path.to_str().unwrap());
    (
        json["error_code"].as_str().unwrap_or_default().to_string(),
        json["error_msg"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn every_bad_input_gets_its_own_error_and_no_panic() {
    let media = common::media();
    let dir = scratch_dir("bad-input");
    let jpeg =
        std::fs::read(media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg")).unwrap();

    let missing = dir.join("does-not-exist.jpg");
    let empty = dir.join("empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    let text = dir.join("notes.jpg");
    std::fs::write(&text, b"this is not an image, just text\n").unwrap();
    let truncated = dir.join("truncated.jpg");
    std::fs::write(&truncated, &jpeg[..jpeg.len() / 2]).unwrap();
    let gif = dir.join("anim.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;").unwrap();
    let bomb = dir.join("bomb.png");
    std::fs::write(&bomb, png_claiming(100_000, 100_000)).unwrap();
    let tiny = dir.join("tiny.png");
    image::RgbImage::from_pixel(50, 40, image::Rgb([128, 128, 128]))
        .save(&tiny)
        .unwrap();
    let landscape = media.join("negatives/compreface_017_0_landscape.jpg");

    let cases: [(&Path, &str, &str); 8] = [
        (&missing, "FRS.0020", "not found"),
        (&empty, "FRS.0021", "empty"),
        (&text, "FRS.0023", "not an image"),
        (&truncated, "FRS.0025", "truncated"),
        (&gif, "FRS.0024", "GIF"),
        (&bomb, "FRS.0013", "100000x100000"),
        (&tiny, "FRS.0022", "50x40"),
        (&landscape, "FRS.0501", "no face"),
    ];
    let mut codes = std::collections::HashSet::new();
    for (path, code, words) in cases {
        let (got_code, msg) = error_of(path);
        println!(
            "{:<28} {got_code} {msg}",
            path.file_name().unwrap().to_string_lossy()
        );
        assert_eq!(got_code, code, "{}: {msg}", path.display());
        assert!(
            msg.contains(words),
            "{}: message {msg:?} should mention {words:?}",
            path.display()
        );
        codes.insert(got_code);
    }
    assert_eq!(codes.len(), 8, "each case has its own code");

    // One bad image among good ones: the good ones are still analysed, the exit code reports the failure.
    let good = media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args([
            "detect",
            "--json",
            good.to_str().unwrap(),
            empty.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["faces"].as_array().unwrap().len(), 1);
    assert_eq!(lines[1]["error_code"], "FRS.0021");

    // A configured limit is honoured: 640 px per side refuses a 1600 px photo before decoding.
    let cfg = dir.join("small-limit.toml");
    std::fs::write(&cfg, "[images]\nmax_dimension = 640\n").unwrap();
    let big = media.join("group/face_recognition_obama_and_biden.jpg");
    let (code, json, _) = facestream(&[
        "--config",
        cfg.to_str().unwrap(),
        "detect",
        "--json",
        big.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(json["error_code"], "FRS.0013");
}

#[test]
fn detect_json_has_the_seed_shape_and_draw_writes_an_image() {
    let media = common::media();
    let dir = scratch_dir("detect");
    let img = media.join("group/face_recognition_kit_with_rose.jpg");
    let out = dir.join("drawn.jpg");
    let (code, json, stderr) = facestream(&[
        "detect",
        "--json",
        "--attributes",
        "--quality",
        img.to_str().unwrap(),
        "--draw",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let faces = json["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 2);
    for f in faces {
        for k in ["top_left_x", "top_left_y", "width", "height"] {
            assert!(f["bounding_box"][k].as_i64().unwrap() >= 0, "{k}");
        }
        assert!(f["score"].as_f64().unwrap() > 0.6);
        assert_eq!(f["landmarks"].as_array().unwrap().len(), 5);
        for k in ["age", "gender", "mask", "yaw", "pitch", "roll"] {
            assert!(!f["attributes"][k].is_null(), "attributes.{k}");
        }
        for k in [
            "blur",
            "illumination",
            "yaw",
            "pitch",
            "roll",
            "completeness",
            "face_size",
            "passed",
        ] {
            assert!(!f["quality"][k].is_null(), "quality.{k}");
        }
    }
    // Rose Leslie (left) is a woman, Kit Harington (right) a man.
    let mut by_x: Vec<&serde_json::Value> = faces.iter().collect();
    by_x.sort_by_key(|f| f["bounding_box"]["top_left_x"].as_i64().unwrap());
    assert_eq!(by_x[0]["attributes"]["gender"], "female");
    assert_eq!(by_x[1]["attributes"]["gender"], "male");
    // The drawing is a real JPEG of the input's size, and differs from the input where boxes are.
    let drawn = image::open(&out).unwrap().to_rgb8();
    let orig = image::open(&img).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), orig.dimensions());
    let b = &by_x[0]["bounding_box"];
    let (x, y) = (
        b["top_left_x"].as_u64().unwrap() as u32,
        b["top_left_y"].as_u64().unwrap() as u32 + 10,
    );
    let p = drawn.get_pixel(x, y);
    // Green (quality ok) or yellow (quality low): strong green, little blue.
    assert!(
        p[1] > 150 && p[2] < 100,
        "box edge should be drawn, got {p:?}"
    );
}

#[test]
fn compare_says_same_and_different_people() {
    let media = common::media();
    let g = media.join("gallery");
    let o1 = g.join("Barack_Obama/face_recognition_knn_test_obama1.jpg");
    let o2 = g.join("Barack_Obama/face_recognition_obama_small.jpg");
    let b = g.join("Joe_Biden/face_recognition_biden2.jpg");
    let (code, same, _) = facestream(&[
        "compare",
        "--json",
        o1.to_str().unwrap(),
        o2.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    println!("obama vs obama {same}");
    assert_eq!(same["same_person"], true);
    assert!(same["similarity"].as_f64().unwrap() > same["threshold"].as_f64().unwrap());
    assert!(
        same["image1_face"]["bounding_box"]["width"]
            .as_i64()
            .unwrap()
            > 50
    );
    let (code, diff, _) = facestream(&[
        "compare",
        "--json",
        o1.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(diff["same_person"], false);
    let s = diff["similarity"].as_f64().unwrap();
    assert!((0.0..0.46).contains(&s), "obama vs biden similarity {s}");
    // No face in one image: a distinct error, exit code 1.
    let land = media.join("negatives/compreface_017_0_landscape.jpg");
    let (code, err, _) = facestream(&[
        "compare",
        "--json",
        o1.to_str().unwrap(),
        land.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(err["error_code"], "FRS.0501");
}

#[test]
fn missing_models_or_runtime_is_a_clear_error() {
    let dir = scratch_dir("missing-models");
    let cfg = dir.join("bad-ort.toml");
    std::fs::write(
        &cfg,
        "[models]\nonnxruntime = \"/nonexistent/libonnxruntime.so\"\n",
    )
    .unwrap();
    let media = common::media();
    let img = media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg");
    let (code, _, stderr) = facestream(&[
        "--config",
        cfg.to_str().unwrap(),
        "detect",
        img.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("ONNX Runtime") && stderr.contains("/nonexistent"),
        "{stderr}"
    );
    let cfg2 = dir.join("bad-key.toml");
    std::fs::write(&cfg2, "[detector]\nscore_threshold = 7\n").unwrap();
    let (code, _, stderr) = facestream(&[
        "--config",
        cfg2.to_str().unwrap(),
        "detect",
        img.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("detector.score_threshold"), "{stderr}");
}

/// Every shipped config and pipeline preset parses and validates (a typo in a key fails here, not on
/// a user's machine).
#[test]
fn shipped_configs_and_presets_validate() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for dir in ["config", "pipelines"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let p = e.path();
            if p.extension().and_then(|x| x.to_str()) == Some("toml") {
                facestream::config::Config::load(&p)
                    .unwrap_or_else(|err| panic!("{}: {err}", p.display()));
                n += 1;
            }
        }
    }
    assert!(n >= 5, "found {n} files");
}

/// Where the CLI keeps face sets in a test: a SQLite folder (`--data-dir`) or a fresh PostgreSQL
/// database (`storage.url` in the config file).
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `[storage]` lines for the config file, and the arguments that go with every command.
    fn storage(&self, test: &str, data: &Path) -> (String, Vec<String>) {
        match self {
            Backend::Sqlite => (
                String::new(),
                vec!["--data-dir".into(), data.display().to_string()],
            ),
            Backend::Postgres => (
                format!(
                    "url = \"{}\"\n",
                    common::services::Postgres::shared().database(test)
                ),
                vec![],
            ),
        }
    }
}

#[test]
fn faceset_reembed_moves_a_set_enrolled_with_kept_pictures_to_the_configured_embedder() {
    reembed_on(Backend::Sqlite, "reembed");
}

#[test]
fn faceset_reembed_on_postgres() {
    reembed_on(Backend::Postgres, "reembed_pg");
}

fn reembed_on(backend: Backend, test: &str) {
    let media = common::media();
    let dir = scratch_dir(test);
    std::fs::create_dir_all(&dir).unwrap();
    let (storage, extra) = backend.storage(test, &dir.join("data"));
    let (mfn, dlib) = (dir.join("mfn.toml"), dir.join("dlib.toml"));
    std::fs::write(
        &mfn,
        format!("[storage]\nkeep_face_images = true\n{storage}"),
    )
    .unwrap();
    std::fs::write(
        &dlib,
        format!("[models]\nembedder = \"dlib\"\n[storage]\nkeep_face_images = true\n{storage}"),
    )
    .unwrap();
    let (mfn, dlib) = (mfn.to_str().unwrap(), dlib.to_str().unwrap());
    let run = |cfg: &str, args: &[&str]| {
        let mut all = vec!["--config", cfg];
        all.extend_from_slice(args);
        all.extend(extra.iter().map(String::as_str));
        all.push("--json");
        facestream(&all)
    };
    let (code, _, err) = run(mfn, &["faceset", "create", "staff"]);
    assert_eq!(code, 0, "{err}");
    for (user, rel) in [
        ("clooney", "gallery/George_Clooney"),
        ("damon", "gallery/Matt_Damon"),
    ] {
        let first = common::images_in(&media.join(rel))[0].display().to_string();
        let (code, _, err) = run(
            mfn,
            &[
                "face", "add", "--set", "staff", &first, "--single", "--user", user,
            ],
        );
        assert_eq!(code, 0, "{err}");
    }
    let probe = common::images_in(&media.join("gallery/Matt_Damon"))[1]
        .display()
        .to_string();
    // Under the new embedder the old set is refused until it is re-embedded.
    let (code, v, _) = run(dlib, &["search", &probe, "--set", "staff"]);
    assert_ne!(code, 0);
    assert_eq!(v["error_code"], "FRS.0412", "{v}");
    let (code, v, err) = run(dlib, &["faceset", "reembed", "staff"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["reembedded"]["faces"], 2, "{v}");
    assert_eq!(v["reembedded"]["to_model"], "dlib-resnet-128", "{v}");
    let (code, v, err) = run(dlib, &["search", &probe, "--set", "staff"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["faces"][0]["user_id"], "damon", "{v}");
    // Now the old embedder's queries are the refused ones.
    let (_, v, _) = run(mfn, &["search", &probe, "--set", "staff"]);
    assert_eq!(v["error_code"], "FRS.0412", "{v}");

    // `enroll` keeps pictures too: a folder per person, every accepted photo re-embeddable.
    let people = dir.join("people");
    std::fs::create_dir_all(&people).unwrap();
    std::os::unix::fs::symlink(media.join("gallery/George_Clooney"), people.join("clooney"))
        .unwrap();
    let (code, _, err) = run(
        mfn,
        &[
            "enroll",
            people.to_str().unwrap(),
            "--set",
            "crowd",
            "--no-quality-gate",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (_, v, _) = run(mfn, &["faceset", "show", "crowd"]);
    let enrolled = v["face_set_info"]["face_number"].as_u64().unwrap_or(0);
    assert!(enrolled >= 3, "{v}");
    let (code, v, err) = run(dlib, &["faceset", "reembed", "crowd"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["reembedded"]["faces"].as_u64(), Some(enrolled), "{v}");
}

/// `check-config` validates without starting anything; every bad value names its key (several
/// were accepted, or named the wrong key, before).
#[test]
fn check_config_names_the_key_of_every_bad_value() {
    let dir = scratch_dir("check-config");
    let key = |k: &str| format!("[[api.keys]]\nkey = \"{k}\"\ntenant = \"a\"\n");
    let cases: &[(&str, String, &str)] = &[
        (
            "duplicate key",
            format!(
                "[api]\nbind = \"127.0.0.1:8080\"\n{}{}",
                key("the-same-key-0123456789"),
                key("the-same-key-0123456789")
            ),
            "api.keys[1].key",
        ),
        (
            "zero body limit",
            "[api]\nmax_body_bytes = 0\n".into(),
            "api.max_body_bytes",
        ),
        (
            "negative skew",
            "[api]\nsignature_skew_s = -1\n".into(),
            "api.signature_skew_s",
        ),
        (
            "bad bind",
            format!(
                "[api]\nbind = \"not an address\"\n{}",
                key("a-key-of-tenant-a-0123456789")
            ),
            "api.bind",
        ),
        (
            "bad metrics bind",
            "[http]\nbind = \"localhost\"\n".into(),
            "http.bind",
        ),
        (
            "zero downloads",
            "[api]\nmax_downloads = 0\n".into(),
            "api.max_downloads",
        ),
        (
            "tiny MQTT request limit",
            "[mqtt]\nmax_request_bytes = 10\n".into(),
            "mqtt.max_request_bytes",
        ),
    ];
    for (what, text, want) in cases {
        let f = dir.join("bad.toml");
        std::fs::write(&f, text).unwrap();
        let (code, _, stderr) = facestream(&["check-config", f.to_str().unwrap()]);
        assert_eq!(code, 1, "{what}: {stderr}");
        assert!(
            stderr.contains(&format!("`{want}`")),
            "{what}: wanted {want} in {stderr}"
        );
        // `run` refuses the same file the same way, before starting anything.
        let (code, _, stderr) = facestream(&["--config", f.to_str().unwrap(), "run"]);
        assert_eq!(code, 2, "{what}: {stderr}");
        assert!(stderr.contains(&format!("`{want}`")), "{what}: {stderr}");
    }
    let ok = dir.join("ok.toml");
    std::fs::write(&ok, "[mqtt]\nenabled = false\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["check-config", ok.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("valid") && stdout.contains("nothing to do"),
        "{stdout}"
    );
}

/// The daemon's log: info by default, no colour codes when stderr is not a terminal, the start
/// summary says when there is nothing to do, camera passwords never appear.
#[test]
fn daemon_log_is_plain_and_masks_camera_passwords() {
    let dir = scratch_dir("daemon-log");
    let f = dir.join("cfg.toml");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    std::fs::write(
        &f,
        format!("[mqtt]\nenabled = false\n[http]\nbind = \"\"\n[storage]\ndir = \"{}\"\n[[cameras]]\nid = \"door\"\nuri = \"rtsp://admin:s3cret-pw@127.0.0.1:{port}/live\"\n", dir.join("data").display()),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", f.to_str().unwrap(), "run"])
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(4));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    println!("{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI colour codes in a non-terminal log"
    );
    assert!(!log.contains("s3cret-pw"), "the camera password leaked");
    assert!(log.contains("INFO"), "info is the daemon's default level");
    assert!(log.contains("cameras: 1 configured"), "no start summary");
    assert!(
        log.contains(&format!("connection refused to 127.0.0.1:{port}")),
        "the cause was not reduced"
    );
}

/// `enroll`: the file name is each face's external_image_id, a person left with no face is
/// warned about, and `--no-create` refuses a missing set.
#[test]
fn enroll_names_faces_after_their_files_and_warns_about_people_without_a_face() {
    enroll_names_on(Backend::Sqlite, "enroll_names");
}

#[test]
fn enroll_on_postgres_names_faces_and_warns_likewise() {
    enroll_names_on(Backend::Postgres, "enroll_names_pg");
}

fn enroll_names_on(backend: Backend, test: &str) {
    let media = common::media();
    let dir = scratch_dir(test);
    let people = dir.join("people");
    std::fs::create_dir_all(people.join("nobody")).unwrap();
    std::os::unix::fs::symlink(media.join("gallery/George_Clooney"), people.join("clooney"))
        .unwrap();
    std::fs::copy(
        media.join("negatives/compreface_017_0_landscape.jpg"),
        people.join("nobody/landscape.jpg"),
    )
    .unwrap();
    let (storage, extra) = backend.storage(test, &dir.join("data"));
    let cfg = dir.join("facestream.toml");
    std::fs::write(&cfg, format!("[storage]\n{storage}")).unwrap();
    let cfg = cfg.display().to_string();
    let with = |args: &[&str]| -> (i32, serde_json::Value, String) {
        let mut all: Vec<&str> = vec!["--config", &cfg];
        all.extend_from_slice(args);
        all.extend(extra.iter().map(String::as_str));
        all.push("--json");
        facestream(&all)
    };
    let (code, v, err) = with(&[
        "enroll",
        people.to_str().unwrap(),
        "--set",
        "crew",
        "--no-create",
    ]);
    assert_ne!(code, 0, "a missing set with --no-create: {v} {err}");
    assert_eq!(v["error_code"], "FRS.0402", "{v}");
    let (code, v, err) = with(&[
        "enroll",
        people.to_str().unwrap(),
        "--set",
        "crew",
        "--no-quality-gate",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        v["users_without_face"],
        serde_json::json!(["nobody"]),
        "{v}"
    );
    assert!(err.contains("nobody: no photo was enrolled"), "{err}");
    let (_, v, _) = with(&["face", "list", "--set", "crew", "--limit", "100"]);
    let ids: Vec<&str> = v["faces"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .filter_map(|f| f["external_image_id"].as_str())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|i| i.starts_with("deepface_img")),
        "{ids:?}"
    );
}

/// A port in use or an unusable folder fails the start naming the config key and the address or
/// path (a bad bind used to be a bare "Address in use").
#[test]
fn start_failures_name_the_key_and_the_address_or_path() {
    let dir = scratch_dir("start-failures");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let not_a_dir = dir.join("a-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let data = dir.join("data");
    let cases = [
        ("http.bind", format!("[mqtt]\nenabled = false\n[storage]\ndir = \"{}\"\n[http]\nbind = \"{addr}\"\n", data.display()), addr.clone()),
        ("api.bind", format!("[mqtt]\nenabled = false\n[storage]\ndir = \"{}\"\n[http]\nbind = \"\"\n[api]\nbind = \"{addr}\"\n[[api.keys]]\nkey = \"a-key-of-tenant-a-0123456789\"\ntenant = \"a\"\n", data.display()), addr.clone()),
        ("storage.dir", format!("[mqtt]\nenabled = false\n[http]\nbind = \"\"\n[storage]\ndir = \"{}\"\n[api]\nbind = \"127.0.0.1:0\"\n[[api.keys]]\nkey = \"a-key-of-tenant-a-0123456789\"\ntenant = \"a\"\n", not_a_dir.display()), not_a_dir.display().to_string()),
    ];
    for (key, text, what) in cases {
        let f = dir.join(format!("{key}.toml"));
        std::fs::write(&f, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
            .args(["--config", f.to_str().unwrap(), "run"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{key}: started anyway");
        let last = err.lines().last().unwrap_or("");
        assert!(last.contains(key) && last.contains(&what), "{key}: {last}");
    }
    drop(taken);
}

/// A benchmark given a video that is not there says so at once; before, bench-stream never
/// ended (it waited for a camera that never opened to finish its file; killed after 10 min here).
#[test]
fn benchmarks_name_a_missing_video_before_they_start() {
    let scratch = scratch_dir("missing-video");
    let missing = scratch.join("no-such-clip.mp4");
    let missing = missing.to_str().unwrap();
    for args in [
        vec![
            "bench-stream",
            "--streams",
            "1",
            "--seconds",
            "1",
            "--video",
            missing,
        ],
        vec![
            "bench-api",
            "--clients",
            "1",
            "--seconds",
            "1",
            "--cameras",
            "1",
            "--video",
            missing,
        ],
    ] {
        let (code, _, stderr) = facestream(&args);
        assert_ne!(code, 0, "{}: exit 0 with a missing video", args[0]);
        assert!(
            stderr.contains(missing) && stderr.contains("no such video file"),
            "{}: {stderr}",
            args[0]
        );
    }
}

/// Every start loads and relocates every shared library the binary links: libavdevice (FFmpeg's
/// capture devices, never used here) alone brought ~80 more (X11, SDL, PulseAudio…), 20–30 ms of
/// each start (docs/performance.md, session 39).
#[test]
fn the_binary_does_not_link_ffmpeg_s_capture_devices() {
    let out = Command::new("ldd")
        .arg(env!("CARGO_BIN_EXE_facestream"))
        .output()
        .expect("run ldd");
    let libs = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "ldd: {libs}");
    assert!(
        libs.contains("libavcodec"),
        "FFmpeg still decodes clips: {libs}"
    );
    for unused in ["libavdevice", "libavfilter", "libSDL2", "libpulse"] {
        assert!(!libs.contains(unused), "{unused} is linked: {libs}");
    }
}

/// ONNX Runtime's Linux build starts Microsoft's telemetry client with the runtime: it writes a
/// session file (`.ses`) into the temp dir and a device id and an event store
/// (`~/.cache/Microsoft/DeveloperTools/.onnxruntime/onnxruntime.db`, megabytes after a few
/// hundred starts) into the home folder at every start (found by the suite's "nothing left behind"
/// check). The binary turns it off before the runtime loads; a user's own setting wins.
///
/// The runtime keeps its client off by itself when a CI service's variable is set (`CI`,
/// `GITHUB_ACTIONS`, …: the list below is the one in the 1.31.1 library), which hid the client on
/// the CI machine; the children run without them, as on a user's machine.
#[test]
fn the_binary_turns_onnx_runtime_telemetry_off_and_leaves_the_temp_dir_alone() {
    const CI_VARIABLES: [&str; 12] = [
        "CI",
        "TF_BUILD",
        "GITHUB_ACTIONS",
        "GITLAB_CI",
        "CIRCLECI",
        "TRAVIS",
        "JENKINS_URL",
        "CODEBUILD_BUILD_ID",
        "BUILDKITE",
        "TEAMCITY_VERSION",
        "APPVEYOR",
        "BITBUCKET_BUILD_NUMBER",
    ];
    let dir = scratch_dir("telemetry");
    let clip = common::media().join("video/openh264_test_vd_1d_2people.264");
    // What one start leaves in a fresh temp dir and a fresh home folder's cache (where GStreamer
    // keeps its registry, as in any user's home).
    let analyze = |run: &str, disable: Option<&str>| {
        let tmp = dir.join(run).join("tmp");
        let home = dir.join(run).join("home");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_facestream"));
        cmd.args(["analyze", clip.to_str().unwrap(), "--out"])
            .arg(dir.join(run).join("events.jsonl"))
            .env("TMPDIR", &tmp)
            .env("HOME", &home)
            .env_remove("XDG_CACHE_HOME")
            .env_remove("ORT_DISABLE_TELEMETRY");
        for ci in CI_VARIABLES {
            cmd.env_remove(ci);
        }
        if let Some(v) = disable {
            cmd.env("ORT_DISABLE_TELEMETRY", v);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut left: Vec<String> = std::fs::read_dir(&tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        (left, home.join(".cache/Microsoft").is_dir())
    };
    let (tmp, store) = analyze("default", None);
    assert_eq!(tmp, Vec::<String>::new(), "left in the temp dir");
    assert!(!store, "telemetry store in ~/.cache/Microsoft");
    // The runtime's own switch is what the binary sets: the user's "0" turns the client back on
    // (which also shows the check above can fail). A runtime that keeps its client off for a
    // reason of its own (another gate than the CI variables) writes nothing: said, not failed.
    let (tmp, store) = analyze("user-turned-on", Some("0"));
    if tmp.is_empty() && !store {
        eprintln!("ONNX Runtime's telemetry client did not start here even when asked: the check above proves nothing on this machine");
        return;
    }
    assert_eq!(tmp, vec![".ses".to_string()]);
    assert!(store, "no telemetry store in ~/.cache/Microsoft");
}
