//! A pool of three `facestream run` processes sharing six looping-file cameras through a
//! PostgreSQL server this test starts: every camera watched by exactly one daemon, a fair share
//! each, a kill -9 daemon's cameras taken over within the lease timeout, a drained daemon's handed
//! over before it exits, and every daemon recovering after the database restarts.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::services::{free_port, wait_until, Mosquitto, Postgres, Subscriber};

const LEASE_S: f64 = 3.0;
const CAMERAS: usize = 6;

struct Node {
    id: String,
    child: Child,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_node(id: &str, url: &str, broker: u16, dir: &std::path::Path, cameras: &str) -> Node {
    let cfg = dir.join(format!("{id}.toml"));
    std::fs::write(
        &cfg,
        format!(
            "[mqtt]\nport = {broker}\nclient_id = \"fs-{id}\"\ntopic_prefix = \"fs\"\n[http]\nbind = \"\"\n[storage]\ndir = \"{}\"\nurl = \"{url}\"\n[cluster]\nenabled = true\nnode_id = \"{id}\"\ncapacity = {CAMERAS}\nlease_timeout_s = {LEASE_S}\n{cameras}",
            dir.join(id).display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(["--config", cfg.to_str().unwrap(), "run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Node {
        id: id.into(),
        child,
    }
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
    let media = common::media();
    let pg = Postgres::start();
    let url = pg.database("pool");
    let broker = Mosquitto::start(free_port());
    let sub = Subscriber::start(broker.port, "fs/+/status");
    let dir = std::env::temp_dir().join(format!("fs-cluster-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let video = media.join("video/openh264_foreman_cif.mp4");
    // The first daemon's file seeds the pool's cameras; the others bring none.
    let cameras: String = (0..CAMERAS)
        .map(|i| {
            format!(
                "[[cameras]]\nid = \"cam{i}\"\nuri = \"{}\"\ndetect_fps = 1.0\nloop = true\n",
                video.display()
            )
        })
        .collect();
    let mut nodes = vec![start_node("n1", &url, broker.port, &dir, &cameras)];
    assert!(
        wait_until(Duration::from_secs(60), || holders(&url).len() == CAMERAS),
        "the first daemon takes every camera: {:?}",
        holders(&url)
    );
    nodes.push(start_node("n2", &url, broker.port, &dir, ""));
    nodes.push(start_node("n3", &url, broker.port, &dir, ""));
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
    // Every camera is really watched: each reported `running` on MQTT.
    assert!(
        wait_until(Duration::from_secs(30), || (0..CAMERAS).all(|i| sub
            .on(&format!("fs/cam{i}/status"))
            .iter()
            .any(|s| s["status"] == "running"))),
        "every camera running"
    );

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
    const NODES: usize = 8;
    const CAMS: usize = 40;
    let pg = Postgres::start();
    let url = pg.database("pool8");
    let broker = Mosquitto::start(free_port());
    let dir = std::env::temp_dir().join(format!("fs-cluster8-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
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
