//! A pool of three `facestream run` processes sharing six looping-file cameras through a
//! PostgreSQL server this test starts: every camera watched by exactly one daemon, a fair share
//! each, a kill -9 daemon's cameras taken over within the lease timeout, a drained daemon's handed
//! over before it exits, and every daemon recovering after the database restarts.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::services::{free_port, publish, wait_until, Mosquitto, Postgres, Subscriber};

/// The pool tests start up to eight daemons each: on two cores, thirteen daemons side by side slow
/// every camera and make the measured gaps meaningless, so the tests take turns.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

const LEASE_S: f64 = 3.0;
const CAMERAS: usize = 6;

struct Node {
    id: String,
    child: Child,
    /// Its /metrics and /healthz port, when it has an API.
    http: Option<u16>,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ADMIN_KEY: &str = "admin-key-0123456789";

fn start_node(id: &str, url: &str, broker: u16, dir: &std::path::Path, cameras: &str) -> Node {
    start_node_api(id, url, broker, dir, cameras, None)
}

/// A daemon of the pool; with `api`, its HTTP API on that port with an `admin` key.
fn start_node_api(
    id: &str,
    url: &str,
    broker: u16,
    dir: &std::path::Path,
    cameras: &str,
    api: Option<u16>,
) -> Node {
    let cfg = dir.join(format!("{id}.toml"));
    let http = api.map(|_| free_port());
    let api = api
        .map(|p| format!("[api]\nbind = \"127.0.0.1:{p}\"\n[[api.keys]]\nkey = \"{ADMIN_KEY}\"\ntenant = \"admin\"\n"))
        .unwrap_or_default();
    let http_bind = http.map(|p| format!("127.0.0.1:{p}")).unwrap_or_default();
    std::fs::write(
        &cfg,
        format!(
            "[mqtt]\nport = {broker}\nclient_id = \"fs-{id}\"\ntopic_prefix = \"fs\"\n[http]\nbind = \"{http_bind}\"\n[storage]\ndir = \"{}\"\nurl = \"{url}\"\n[cluster]\nenabled = true\nnode_id = \"{id}\"\ncapacity = {CAMERAS}\nlease_timeout_s = {LEASE_S}\n{api}{cameras}",
            dir.join(id).display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        // Kept beside the config, for a failure's post-mortem.
        .stderr(Stdio::from(
            std::fs::File::create(dir.join(format!("{id}.log"))).unwrap(),
        ))
        .spawn()
        .unwrap();
    Node {
        id: id.into(),
        child,
        http,
    }
}

/// An HTTP request with the admin key; (status, JSON body).
fn http(port: u16, method: &str, path: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return (0, serde_json::Value::Null);
    };
    let body = body.to_string();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Auth-Token: {ADMIN_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|_| s.write_all(body.as_bytes()));
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    let status = r
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let json = r
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (status, json)
}

/// camera → holder, from the live leases.
fn holders(url: &str) -> BTreeMap<String, String> {
    let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) else {
        return BTreeMap::new();
    };
    c.query(
        "SELECT camera_id, node_id FROM leases WHERE expires_at > clock_timestamp()",
        &[],
    )
    .map(|rows| rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    .unwrap_or_default()
}

fn per_node(h: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for node in h.values() {
        *n.entry(node.clone()).or_insert(0) += 1;
    }
    n
}

#[test]
fn three_daemons_share_six_cameras_and_take_over_from_a_dead_one() {
    let _turn = one_at_a_time();
    let media = common::media();
    let pg = Postgres::start();
    let url = pg.database("pool");
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/+/status");
    let dir = common::Scratch::new("fs-cluster");
    let video = media.join("video/openh264_foreman_cif.mp4");
    let stage = media.join("video/face_recognition_short_hamilton_clip.mp4");
    // The first daemon's file seeds the pool's cameras; the others bring none. cam0 shows the
    // Hamilton cast and searches the face set `staff` of the tenant `admin`.
    let cameras: String = (0..CAMERAS)
        .map(|i| {
            if i == 0 {
                format!(
                    "[[cameras]]\nid = \"cam0\"\nuri = \"{}\"\ndetect_fps = 3.0\nloop = true\nface_sets = [\"admin--staff\"]\n",
                    stage.display()
                )
            } else {
                format!(
                    "[[cameras]]\nid = \"cam{i}\"\nuri = \"{}\"\ndetect_fps = 1.0\nloop = true\n",
                    video.display()
                )
            }
        })
        .collect();
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let matches = Subscriber::start(broker.port, "fs/cam0/match");
    let mut nodes = vec![start_node_api(
        "n1",
        &url,
        broker.port,
        &dir,
        &cameras,
        Some(ports[0]),
    )];
    assert!(
        wait_until(Duration::from_secs(60), || holders(&url).len() == CAMERAS),
        "the first daemon takes every camera: {:?}",
        holders(&url)
    );
    nodes.push(start_node_api(
        "n2",
        &url,
        broker.port,
        &dir,
        "",
        Some(ports[1]),
    ));
    nodes.push(start_node_api(
        "n3",
        &url,
        broker.port,
        &dir,
        "",
        Some(ports[2]),
    ));
    let fair = |h: &BTreeMap<String, String>| {
        h.len() == CAMERAS
            && per_node(h).values().all(|n| *n == CAMERAS / 3)
            && per_node(h).len() == 3
    };
    let t = Instant::now();
    assert!(
        wait_until(Duration::from_secs(60), || fair(&holders(&url))),
        "two cameras each: {:?}",
        per_node(&holders(&url))
    );
    println!(
        "rebalanced to 2+2+2 {:?} after two daemons joined",
        t.elapsed()
    );
    // /healthz shows the daemon's part of the pool; /metrics counts its cameras.
    let hport = nodes[0].http.unwrap();
    assert!(wait_until(Duration::from_secs(10), || {
        let (_, h) = http(hport, "GET", "/healthz", &serde_json::json!({}));
        h["cluster"]["node_id"] == "n1"
            && h["cluster"]["leases"].as_object().map(serde_json::Map::len) == Some(CAMERAS / 3)
    }));
    // Every camera is really watched: each reported `running` on MQTT.
    assert!(
        wait_until(Duration::from_secs(30), || (0..CAMERAS).all(|i| sub
            .on(&format!("fs/cam{i}/status"))
            .iter()
            .any(|s| s["status"] == "running"))),
        "every camera running"
    );

    // A live liveness challenge reaches every daemon; only the camera's holder answers it. (One
    // sent while the camera changes hands is answered by nobody: the client retries, as here.)
    let answers = Subscriber::start(broker.port, "fs/+/liveness/result");
    let with_id = |id: &str| {
        answers
            .on("fs/cam1/liveness/result")
            .into_iter()
            .filter(|a| a["request_id"] == id)
            .count()
    };
    let mut answered = None;
    for attempt in 0..6 {
        let id = format!("pool-{attempt}");
        publish(
            broker.port,
            "fs/cam1/liveness/request",
            &format!(r#"{{"request_id": "{id}", "actions": "1", "timeout_ms": 1000}}"#),
        );
        if wait_until(Duration::from_secs(8), || with_id(&id) > 0) {
            answered = Some(id);
            break;
        }
    }
    let id = answered.expect("the holder answers a challenge");
    std::thread::sleep(Duration::from_secs_f64(LEASE_S + 2.0));
    assert_eq!(with_id(&id), 1, "one answer, from the holder only");

    // Enrol through a daemon that does not watch cam0: the daemon that does matches the person.
    let holder = holders(&url)["cam0"].clone();
    let other = ["n1", "n2", "n3"]
        .iter()
        .position(|n| *n != holder)
        .unwrap();
    let port = ports[other];
    assert!(wait_until(Duration::from_secs(30), || http(
        port,
        "GET",
        "/facestream/v1/cluster",
        &serde_json::json!({})
    )
    .0 == 200));
    let (s, r) = http(
        port,
        "POST",
        "/v2/p/face-sets",
        &serde_json::json!({"face_set_name": "staff"}),
    );
    assert_eq!(s, 200, "{r}");
    for photo in common::images_in(&media.join("gallery/Lin-Manuel_Miranda")) {
        let b64 = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            std::fs::read(photo).unwrap(),
        );
        let (s, r) = http(
            port,
            "POST",
            "/v2/p/face-sets/staff/faces",
            &serde_json::json!({"image_base64": b64, "external_image_id": "Lin-Manuel_Miranda", "single": true}),
        );
        assert_eq!(s, 200, "{r}");
    }
    let enrolled = Instant::now();
    assert!(
        wait_until(Duration::from_secs(90), || matches
            .on("fs/cam0/match")
            .iter()
            .any(|m| m["external_image_id"] == "Lin-Manuel_Miranda")),
        "{holder} never matched the person enrolled through n{}",
        other + 1
    );
    println!(
        "enrolled through n{} (not watching cam0); {holder} matched on cam0 {:?} later",
        other + 1,
        enrolled.elapsed()
    );
    // Cameras over HTTP: added on one daemon, watched by the pool, removed again.
    let (s, r) = http(
        port,
        "POST",
        "/facestream/v1/cameras",
        &serde_json::json!({"id": "extra", "uri": video.display().to_string(), "detect_fps": 1.0, "loop": true}),
    );
    assert_eq!(s, 200, "{r}");
    let (s, r) = http(
        port,
        "POST",
        "/facestream/v1/cameras",
        &serde_json::json!({"id": "extra", "uri": "x"}),
    );
    assert_eq!(
        (s, r["error_code"].as_str()),
        (409, Some("FRS.0701")),
        "{r}"
    );
    assert!(wait_until(Duration::from_secs(20), || holders(&url)
        .contains_key("extra")));
    let (s, r) = http(
        port,
        "DELETE",
        "/facestream/v1/cameras/extra",
        &serde_json::json!({}),
    );
    assert_eq!(s, 200, "{r}");
    assert!(wait_until(Duration::from_secs(20), || !holders(&url)
        .contains_key("extra")
        && holders(&url).len() == CAMERAS));
    let (s, _) = http(
        port,
        "DELETE",
        "/facestream/v1/cameras/extra",
        &serde_json::json!({}),
    );
    assert_eq!(s, 404);

    // kill -9 a daemon: its cameras are taken over once their leases expire.
    let before = holders(&url);
    let victim = nodes.remove(1);
    let lost: Vec<String> = before
        .iter()
        .filter(|(_, n)| **n == victim.id)
        .map(|(c, _)| c.clone())
        .collect();
    let killed = Instant::now();
    drop(victim);
    assert!(
        wait_until(Duration::from_secs(30), || {
            let h = holders(&url);
            lost.iter().all(|c| h.get(c).is_some_and(|n| n != "n2"))
        }),
        "the dead daemon's cameras were not taken over: {:?}",
        holders(&url)
    );
    let gap = killed.elapsed();
    println!("cameras of the kill -9 daemon watched again after {gap:?} (lease {LEASE_S} s)");
    assert!(
        gap < Duration::from_secs_f64(LEASE_S * 2.0 + 2.0),
        "takeover took {gap:?}"
    );
    assert!(wait_until(Duration::from_secs(20), || {
        let h = holders(&url);
        h.len() == CAMERAS && per_node(&h).values().all(|n| *n == CAMERAS / 2)
    }));

    // The database restarts under load: every daemon reconnects and keeps renewing (after two
    // lease timeouts only renewed leases are left), every camera held once.
    pg.restart();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(LEASE_S * 2.0));
    assert!(
        wait_until(Duration::from_secs(30), || {
            let h = holders(&url);
            h.len() == CAMERAS && per_node(&h).len() == 2
        }),
        "after a database restart: {:?}",
        holders(&url)
    );
    println!(
        "after a database restart, every camera held (renewed) again {:?} later",
        t.elapsed()
    );

    // SIGTERM drains: the daemon hands its cameras over before it exits.
    let draining = nodes.remove(1);
    let pid = draining.child.id().to_string();
    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        wait_until(Duration::from_secs(20), || {
            let h = holders(&url);
            h.len() == CAMERAS && h.values().all(|n| n == "n1")
        }),
        "after draining n3: {:?}",
        holders(&url)
    );
    println!(
        "a drained daemon's cameras were taken over in {:?}",
        t.elapsed()
    );
    drop(draining);
    let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args([
            "--config",
            dir.join("n1.toml").to_str().unwrap(),
            "cluster",
            "status",
        ])
        .output()
        .unwrap();
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let n1 = status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node_id"] == "n1")
        .cloned()
        .unwrap();
    assert_eq!(
        n1["cameras"].as_array().map(Vec::len),
        Some(CAMERAS),
        "{status}"
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scale run: eight daemons, forty light cameras (a 160×120, 5 fps clip made here), ten kill -9
/// takeovers. Prints assignment, takeover and rebalancing times (median and worst) and the
/// daemons' memory; asserts every camera is always held by exactly one live daemon at the end of
/// each step.
#[test]
fn eight_daemons_forty_cameras_ten_takeovers() {
    let _turn = one_at_a_time();
    const NODES: usize = 8;
    const CAMS: usize = 40;
    let pg = Postgres::start();
    let url = pg.database("pool8");
    let broker = Mosquitto::start(free_port());
    let dir = common::Scratch::new("fs-cluster8");
    let clip = dir.join("light.mp4");
    let ok = Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=5",
            "-t",
            "10",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(&clip)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg made the light clip");
    let cameras: String = (0..CAMS)
        .map(|i| {
            format!(
                "[[cameras]]\nid = \"c{i:02}\"\nuri = \"{}\"\ndetect_fps = 0.5\nloop = true\n",
                clip.display()
            )
        })
        .collect();
    let start = |i: usize| {
        let seed = if i == 0 { cameras.as_str() } else { "" };
        start_node(&format!("n{i}"), &url, broker.port, &dir, seed)
    };
    let t = Instant::now();
    let mut nodes: Vec<Node> = (0..NODES).map(start).collect();
    let balanced = |h: &BTreeMap<String, String>, live: usize| {
        let per = per_node(h);
        h.len() == CAMS && per.len() == live && per.values().all(|n| n.abs_diff(CAMS / live) <= 1)
    };
    assert!(
        wait_until(Duration::from_secs(120), || balanced(&holders(&url), NODES)),
        "{:?}",
        per_node(&holders(&url))
    );
    let assigned = t.elapsed();
    let rss_kb: Vec<u64> = nodes
        .iter()
        .filter_map(|n| {
            std::fs::read_to_string(format!("/proc/{}/status", n.child.id()))
                .ok()?
                .lines()
                .find(|l| l.starts_with("VmRSS:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .collect();
    let mut takeovers = vec![];
    let mut rebalances = vec![];
    for round in 0..10 {
        let k = 1 + round % (NODES - 1);
        let victim_id = nodes[k].id.clone();
        let before = holders(&url);
        let lost: Vec<String> = before
            .iter()
            .filter(|(_, n)| **n == victim_id)
            .map(|(c, _)| c.clone())
            .collect();
        let killed = Instant::now();
        let _ = nodes[k].child.kill();
        let _ = nodes[k].child.wait();
        assert!(
            wait_until(Duration::from_secs(30), || {
                let h = holders(&url);
                lost.iter()
                    .all(|c| h.get(c).is_some_and(|n| *n != victim_id))
            }),
            "round {round}: takeover"
        );
        takeovers.push(killed.elapsed());
        // The daemon comes back under the same name: the pool rebalances onto it.
        let back = Instant::now();
        nodes[k] = start(k);
        assert!(
            wait_until(Duration::from_secs(60), || balanced(&holders(&url), NODES)),
            "round {round}: rebalance {:?}",
            per_node(&holders(&url))
        );
        rebalances.push(back.elapsed());
    }
    takeovers.sort();
    rebalances.sort();
    println!(
        "pool of {NODES} daemons, {CAMS} cameras, lease {LEASE_S} s: all assigned {assigned:?} after start; \
         kill -9 takeover median {:?} worst {:?}; rebalance onto a restarted daemon (incl. its start) median {:?} worst {:?}; \
         daemon RSS {:?} MB",
        takeovers[4],
        takeovers[9],
        rebalances[4],
        rebalances[9],
        rss_kb.iter().map(|k| k / 1024).collect::<Vec<_>>()
    );
    assert!(
        takeovers[9] < Duration::from_secs_f64(LEASE_S * 3.0),
        "{takeovers:?}"
    );
    drop(nodes);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A TCP relay to PostgreSQL that the test can cut: the daemon behind it loses its database while
/// its process, its cameras and MQTT keep going.
struct Relay {
    port: u16,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    fn start(target: u16) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (c, o) = (cut.clone(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: refused while cut
                }
                let Ok(server) = std::net::TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                let mut held = o.lock().unwrap();
                for s in [&client, &server] {
                    if let Ok(s) = s.try_clone() {
                        held.push(s);
                    }
                }
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, cut, open }
    }

    /// Cuts every relayed connection and refuses new ones until `heal`.
    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }

    fn heal(&self) {
        self.cut.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A daemon that loses its database stops its cameras by the time its leases lapse, before the
/// other daemon may take them; healed, it rejoins and the pool rebalances.
#[test]
fn a_daemon_cut_off_from_the_database_stops_its_cameras_before_others_take_them() {
    let _turn = one_at_a_time();
    let media = common::media();
    let pg = Postgres::start();
    let url = pg.database("cut");
    let relay = Relay::start(pg.port);
    let cut_url = url.replace(&format!(":{}/", pg.port), &format!(":{}/", relay.port));
    let broker = Mosquitto::start(free_port());
    let statuses = Subscriber::start(broker.port, "fs/+/status");
    let dir = common::Scratch::new("fs-cluster-cut");
    let video = media.join("video/openh264_foreman_cif.mp4");
    let cameras: String = (0..4)
        .map(|i| {
            format!(
                "[[cameras]]\nid = \"k{i}\"\nuri = \"{}\"\ndetect_fps = 1.0\nloop = true\n",
                video.display()
            )
        })
        .collect();
    let _n1 = start_node("n1", &cut_url, broker.port, &dir, &cameras);
    let _n2 = start_node("n2", &url, broker.port, &dir, "");
    let split = |h: &BTreeMap<String, String>| {
        h.len() == 4 && per_node(h).values().all(|n| *n == 2) && per_node(h).len() == 2
    };
    assert!(
        wait_until(Duration::from_secs(60), || split(&holders(&url))),
        "{:?}",
        holders(&url)
    );
    // A lease row is written before its holder starts the camera (its next step in the same
    // round): let the split settle for a round so n1 really watches what it holds.
    std::thread::sleep(Duration::from_secs_f64(LEASE_S));
    assert!(split(&holders(&url)), "{:?}", holders(&url));
    let mine: Vec<String> = holders(&url)
        .into_iter()
        .filter(|(_, n)| n == "n1")
        .map(|(c, _)| c)
        .collect();
    let stopped_before = |c: &str| {
        statuses
            .on(&format!("fs/{c}/status"))
            .iter()
            .filter(|s| s["status"] == "stopped")
            .count()
    };
    let counts: Vec<usize> = mine.iter().map(|c| stopped_before(c)).collect();
    let t0 = Instant::now();
    relay.cut();
    let (mut stopped_at, mut taken_at) = (None, None);
    while t0.elapsed() < Duration::from_secs(20) && (stopped_at.is_none() || taken_at.is_none()) {
        if stopped_at.is_none()
            && mine
                .iter()
                .zip(&counts)
                .all(|(c, n)| stopped_before(c) > *n)
        {
            stopped_at = Some(t0.elapsed());
        }
        if taken_at.is_none() {
            let h = holders(&url);
            if mine.iter().all(|c| h.get(c).is_some_and(|n| n == "n2")) {
                taken_at = Some(t0.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let (stopped_at, taken_at) = (
        stopped_at.expect("n1 stopped its cameras"),
        taken_at.expect("n2 took them"),
    );
    println!(
        "database cut off from n1: n1 stopped its cameras after {stopped_at:?}, n2 held them after {taken_at:?} (lease {LEASE_S} s)"
    );
    // The issue's bound: never watched twice for longer than one lease. (Measured overlaps are
    // 0 to ~0.2 s: the "stopped" status travels through MQTT after the camera thread ends.)
    assert!(
        stopped_at < taken_at + Duration::from_secs_f64(LEASE_S),
        "watched twice too long: n1 stopped at {stopped_at:?}, n2 took over at {taken_at:?}"
    );
    assert!(stopped_at < Duration::from_secs_f64(LEASE_S + 1.5));
    relay.heal();
    assert!(
        wait_until(Duration::from_secs(30), || split(&holders(&url))),
        "n1 rejoins: {:?}",
        holders(&url)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
