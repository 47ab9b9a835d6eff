//! Lasting ids for unknown faces (`[unknown]`): how often two strangers share an id (merge) and how
//! often one stranger gets several (split), measured on the gallery's real photos at several
//! thresholds; naming a stranger; "not this person" rejections.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use facestream::analyze::Embedding;
use facestream::config::{EmbedderKind, UnknownConfig};
use facestream::search::strangers::Strangers;
use facestream::search::FaceSets;

/// Every gallery photo's embedding with its person, in arrival order: people interleaved (one
/// photo of each in turn), as strangers would pass cameras.
fn arrivals() -> Vec<(String, Embedding)> {
    let media = common::media();
    let mut an = common::analyzer();
    let mut people: Vec<(String, Vec<Embedding>)> = std::fs::read_dir(media.join("gallery"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let embs = common::images_in(&p)
                .iter()
                .filter_map(|f| common::largest_embedded(&mut an, &common::load(f)).map(|x| x.1))
                .collect();
            (name, embs)
        })
        .collect();
    people.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = vec![];
    let most = people.iter().map(|p| p.1.len()).max().unwrap_or(0);
    for i in 0..most {
        for (who, embs) in &people {
            if let Some(e) = embs.get(i) {
                out.push((who.clone(), e.clone()));
            }
        }
    }
    out
}

#[derive(Debug)]
struct Rates {
    /// Pairs of photos of different people given the same id / all such pairs.
    merged_pairs: f64,
    /// Pairs of photos of the same person given different ids / all such pairs.
    split_pairs: f64,
    /// Ids covering more than one person / ids.
    ids_merged: f64,
    /// People (with ≥ 2 photos) given more than one id / such people.
    people_split: f64,
    ids: usize,
}

/// The ids given to each arrival, in order.
fn given(threshold: f32, arrivals: &[(String, Embedding)]) -> Vec<(String, String)> {
    let dir = common::Scratch::new(format!("fs-strangers-{}", (threshold * 100.0) as u32));
    let sets = FaceSets::open(&dir).unwrap();
    let s = Strangers::new(
        &UnknownConfig {
            threshold,
            ..Default::default()
        },
        EmbedderKind::Mobilefacenet,
    );
    let given = arrivals
        .iter()
        .map(|(who, e)| {
            (
                who.clone(),
                s.identify(&sets, std::slice::from_ref(e)).unwrap().id,
            )
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    given
}

/// Merge and split rates of `given`, over the people `within` accepts.
fn rates(given: &[(String, String)], within: impl Fn(&str) -> bool) -> Rates {
    let given: Vec<(String, String)> = given.iter().filter(|g| within(&g.0)).cloned().collect();
    let (mut same, mut split, mut diff, mut merged) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..given.len() {
        for j in i + 1..given.len() {
            if given[i].0 == given[j].0 {
                same += 1;
                split += u64::from(given[i].1 != given[j].1);
            } else {
                diff += 1;
                merged += u64::from(given[i].1 == given[j].1);
            }
        }
    }
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut by_person: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (who, id) in &given {
        by_id.entry(id).or_default().insert(who);
        by_person.entry(who).or_default().insert(id);
    }
    let photos = |p: &str| given.iter().filter(|g| g.0 == p).count();
    let multi: Vec<_> = by_person.iter().filter(|(p, _)| photos(p) >= 2).collect();
    Rates {
        merged_pairs: merged as f64 / diff.max(1) as f64,
        split_pairs: split as f64 / same.max(1) as f64,
        ids_merged: by_id.values().filter(|p| p.len() > 1).count() as f64 / by_id.len() as f64,
        people_split: multi.iter().filter(|(_, ids)| ids.len() > 1).count() as f64
            / multi.len().max(1) as f64,
        ids: by_id.len(),
    }
}

#[test]
fn stranger_ids_on_the_gallery_merge_rarely_and_split_where_photos_differ() {
    let arrivals = arrivals();
    let people: BTreeSet<&str> = arrivals.iter().map(|a| a.0.as_str()).collect();
    println!(
        "{} photos of {} people arrive one at a time, people interleaved",
        arrivals.len(),
        people.len()
    );
    println!(
        "threshold | ids | merged pairs | split pairs | ids holding >1 person | people with >1 id"
    );
    let default = UnknownConfig::default().threshold;
    let mut at_default = None;
    let mut by_group = vec![];
    for t in [0.35f32, 0.40, 0.45, 0.50, 0.55, 0.60] {
        let g = given(t, &arrivals);
        let r = rates(&g, |_| true);
        // The five Johns: ~150 px crops of five different men, the hard negatives; the rest.
        by_group.push((
            t,
            rates(&g, |p| p.starts_with("John_S")),
            rates(&g, |p| !p.starts_with("John_S")),
        ));
        println!(
            "{t:.2} | {} | {:.4} | {:.3} | {:.3} | {:.3}",
            r.ids, r.merged_pairs, r.split_pairs, r.ids_merged, r.people_split
        );
        if (t - default).abs() < 1e-6 {
            at_default = Some(r);
        }
    }
    println!("by group: threshold | five Johns (150 px crops): merged pairs, split pairs | everyone else: merged, split");
    for (t, j, o) in &by_group {
        println!(
            "{t:.2} | {:.4} {:.3} | {:.4} {:.3}",
            j.merged_pairs, j.split_pairs, o.merged_pairs, o.split_pairs
        );
    }
    let r = at_default.expect("the default threshold is among those measured");
    // Merging two strangers is the costly error (one name would then cover two people): rare.
    // Measured at 0.55: no merged pair, 1.5 % of same-person pairs split (1 of 34 people).
    assert!(r.merged_pairs <= 0.001, "{r:?}");
    assert!(r.ids_merged <= 0.03, "{r:?}");
    // A split only costs a second name for the same person; photos years apart split more than
    // a camera's tracks minutes apart.
    assert!(r.split_pairs <= 0.05, "{r:?}");
    assert!(r.people_split <= 0.1, "{r:?}");
}

/// A stranger's id is kept by the store: a restarted daemon (a new `FaceSets` on the same SQLite
/// folder) and another daemon of a pool (on the same PostgreSQL database) give the same face the
/// same id; naming moves its faces into a person and the id is gone.
#[test]
fn stranger_ids_survive_a_restart_and_are_shared_by_a_pool() {
    let arrivals = arrivals();
    let (who, first) = &arrivals[0];
    let again = arrivals
        .iter()
        .skip(1)
        .find(|(w, _)| w == who)
        .map(|(_, e)| e.clone())
        .expect("a second photo of the first person");
    let other = arrivals.iter().find(|(w, _)| w != who).unwrap().1.clone();
    let s = Strangers::new(&UnknownConfig::default(), EmbedderKind::Mobilefacenet);
    let dir = common::Scratch::new("fs-strangers-restart");
    let url = common::services::Postgres::shared().database("strangers_pool");
    let pg = || {
        FaceSets::open_storage(&facestream::config::StorageConfig {
            url: url.clone(),
            ..Default::default()
        })
        .unwrap()
    };
    for (backend, a, b) in [
        (
            "sqlite",
            FaceSets::open(&dir).unwrap(),
            FaceSets::open(&dir).unwrap(),
        ),
        ("postgres", pg(), pg()),
    ] {
        let id = s.identify(&a, std::slice::from_ref(first)).unwrap();
        assert!(id.new, "{backend}");
        drop(a);
        let seen = s.identify(&b, std::slice::from_ref(&again)).unwrap();
        assert_eq!(
            (seen.id.as_str(), seen.new),
            (id.id.as_str(), false),
            "{backend}: {seen:?}"
        );
        let stranger = s.identify(&b, std::slice::from_ref(&other)).unwrap();
        assert_ne!(
            stranger.id, id.id,
            "{backend}: another person is another stranger"
        );
        // Naming: the faces become the person's, the stranger id is no more.
        let moved = s.name(&b, &id.id, "people", "Named").unwrap();
        assert_eq!(moved, 2, "{backend}");
        assert_eq!(b.user_faces("people", "Named").unwrap().len(), 2);
        let err = s.name(&b, &id.id, "people", "Twice").unwrap_err();
        assert_eq!(
            err.kind(),
            facestream::base::error::ErrorKind::StrangerNotFound,
            "{backend}"
        );
        // "Not this person": the rejected face no longer counts for them.
        s.reject(&b, "people", "Named", std::slice::from_ref(&again))
            .unwrap();
        b.refresh().unwrap();
        assert_eq!(
            s.rejected_for(&b, &again, 0.55),
            vec!["people/Named".to_string()]
        );
        assert!(s.rejected_for(&b, &other, 0.55).is_empty());
    }
}

/// `n` clearly different faces (random directions in 192 dimensions are near-orthogonal).
fn distinct_faces(n: u64) -> Vec<Embedding> {
    (0..n)
        .map(|i| {
            let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let v: Vec<f32> = (0..192)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 2001) as f32 / 1000.0 - 1.0
                })
                .collect();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            Embedding {
                model: EmbedderKind::Mobilefacenet,
                vector: v.iter().map(|x| x / n).collect(),
            }
        })
        .collect()
}

/// The pool's store at `url`, opened afresh as each daemon of a pool opens it.
fn pool_store(url: &str) -> FaceSets {
    FaceSets::open_storage(&facestream::config::StorageConfig {
        url: url.to_string(),
        ..Default::default()
    })
    .unwrap()
}

/// Two daemons of a pool creating strangers at the same instant never give two strangers one id:
/// each id holds the faces of one stranger only.
#[test]
fn daemons_of_a_pool_creating_strangers_at_once_give_them_different_ids() {
    let url = common::services::Postgres::shared().database("strangers_race");
    let open = || pool_store(&url);
    let faces = distinct_faces(40);
    let barrier = std::sync::Barrier::new(2);
    let given: Vec<Vec<String>> = std::thread::scope(|sc| {
        let runs: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|half| {
                let (faces, barrier, open) = (&faces, &barrier, &open);
                sc.spawn(move || {
                    let sets = open();
                    let s = Strangers::new(&UnknownConfig::default(), EmbedderKind::Mobilefacenet);
                    barrier.wait();
                    faces
                        .iter()
                        .skip(half)
                        .step_by(2)
                        .map(|f| s.identify(&sets, std::slice::from_ref(f)).unwrap().id)
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let all: Vec<&String> = given.iter().flatten().collect();
    let distinct: BTreeSet<&String> = all.iter().copied().collect();
    println!(
        "{} strangers created by two daemons at once: {} ids",
        all.len(),
        distinct.len()
    );
    assert_eq!(
        distinct.len(),
        40,
        "two strangers were given one id: {given:?}"
    );
    let sets = open();
    for id in distinct {
        assert_eq!(sets.user_faces("strangers", id).unwrap().len(), 1, "{id}");
    }
}

/// The same race made certain: two daemons of a pool each create a stranger in every round,
/// both picking the next number before either stores (`meeting_after_numbering`), so both pick
/// the same one every round. Each round one keeps it and the other moves to the next free number:
/// 2 ids a round, each holding one stranger's faces, and one renumbering counted per round.
#[test]
fn two_daemons_that_pick_the_same_number_give_their_strangers_different_ids() {
    let url = common::services::Postgres::shared().database("strangers_same_number");
    let open = || pool_store(&url);
    const ROUNDS: usize = 6;
    let faces = distinct_faces(2 * ROUNDS as u64);
    let (meeting, round_done) = (
        std::sync::Arc::new(std::sync::Barrier::new(2)),
        std::sync::Barrier::new(2),
    );
    let metrics = std::sync::Arc::new(facestream::metrics::Metrics::default());
    let given: Vec<Vec<String>> = std::thread::scope(|sc| {
        let runs: Vec<_> = [0usize, 1]
            .into_iter()
            .map(|daemon| {
                let (faces, meeting, round_done, open, metrics) =
                    (&faces, meeting.clone(), &round_done, &open, metrics.clone());
                sc.spawn(move || {
                    let sets = open();
                    let s = Strangers::new(&UnknownConfig::default(), EmbedderKind::Mobilefacenet)
                        .with_metrics(metrics)
                        .meeting_after_numbering(meeting);
                    (0..ROUNDS)
                        .map(|round| {
                            let f = &faces[2 * round + daemon];
                            let id = s.identify(&sets, std::slice::from_ref(f)).unwrap().id;
                            // Both settled before the next round numbers again.
                            round_done.wait();
                            id
                        })
                        .collect::<Vec<String>>()
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let renumbered = metrics
        .strangers_renumbered
        .load(std::sync::atomic::Ordering::Relaxed);
    println!("{ROUNDS} rounds, ids per daemon {given:?}, renumbered {renumbered}");
    let sets = open();
    assert!(given.iter().all(|g| g.len() == ROUNDS));
    for (round, (a, b)) in given[0].iter().zip(&given[1]).enumerate() {
        assert_ne!(a, b, "round {round}: one id for two strangers");
        // Both picked unknown-(2·round + 1); one kept it, the other took the next.
        let mut ids = [a.clone(), b.clone()];
        ids.sort_by_key(|i| i.trim_start_matches("unknown-").parse::<u64>().unwrap());
        assert_eq!(
            ids,
            [
                format!("unknown-{}", 2 * round + 1),
                format!("unknown-{}", 2 * round + 2)
            ],
            "round {round}"
        );
        for id in [a, b] {
            let held = sets.user_faces("strangers", id).unwrap();
            assert_eq!(held.len(), 1, "round {round}: {id}");
        }
    }
    assert_eq!(renumbered, ROUNDS as u64);
}

/// One person's clip from ../shared/media, labelled by eye (see the montage note in
/// docs/console.md): skin tone, and whether the head turns far from frontal.
struct Clip {
    file: &'static str,
    person: &'static str,
    darker: bool,
    turning: bool,
    /// Seconds used (after it, the face leaves or another person enters).
    until: f64,
}

const fn clip(
    file: &'static str,
    person: &'static str,
    darker: bool,
    turning: bool,
    until: f64,
) -> Clip {
    Clip {
        file,
        person,
        darker,
        turning,
        until,
    }
}

/// Single-person clips. The three noddingpigeon clips are three different Black men (looked at);
/// intel_asl_yes/no are one man. LivePortrait d13 looks like d9 and d18 like d5: those pairs may
/// be one person each and are left out of the merge counts.
const CLIPS: &[Clip] = &[
    clip(
        "liveness/noddingpigeon_head_nodding.mp4",
        "np-nodding",
        true,
        true,
        9.0,
    ),
    clip(
        "liveness/noddingpigeon_head_turning.mp4",
        "np-turning",
        true,
        true,
        10.0,
    ),
    clip(
        "liveness/noddingpigeon_head_stationary.mp4",
        "np-stationary",
        true,
        false,
        16.0,
    ),
    clip("liveness/zubair_real_live.mp4", "zubair", true, true, 13.0),
    clip(
        "liveness/intel_head-pose-face-detection-female.mp4",
        "intel-female",
        false,
        true,
        1.9,
    ),
    clip(
        "liveness/intel_head-pose-face-detection-male.mp4",
        "intel-male",
        false,
        false,
        5.2,
    ),
    clip("video/intel_asl_yes.mkv", "asl", false, false, 2.2),
    clip("video/intel_asl_no.mkv", "asl", false, false, 2.2),
    clip(
        "video/openh264_foreman_cif.mp4",
        "foreman",
        false,
        true,
        6.0,
    ),
    clip("liveness/liveportrait_d0.mp4", "d0", false, false, 3.1),
    clip("liveness/liveportrait_d3.mp4", "d3", false, true, 11.8),
    clip("liveness/liveportrait_d5.mp4", "d5", false, false, 5.0),
    clip("liveness/liveportrait_d6.mp4", "d6", false, false, 12.0),
    clip("liveness/liveportrait_d7.mp4", "d7", false, false, 5.9),
    clip("liveness/liveportrait_d8.mp4", "d8", false, false, 9.2),
    clip("liveness/liveportrait_d9.mp4", "d9", false, false, 12.0),
    clip("liveness/liveportrait_d12.mp4", "d12", false, true, 7.3),
    clip("liveness/liveportrait_d14.mp4", "d14", false, false, 12.0),
    clip("liveness/liveportrait_d18.mp4", "d18", false, false, 7.2),
    clip("liveness/liveportrait_d19.mp4", "d19", false, false, 8.4),
    clip("video/liveportrait_d10.mp4", "d10", false, false, 12.0),
    clip("video/liveportrait_d11.mp4", "d11", false, false, 9.0),
    clip("video/liveportrait_d13.mp4", "d13", false, false, 11.7),
    clip("video/liveportrait_d20.mp4", "d20", false, false, 7.0),
    clip("video/liveportrait_s18.mp4", "s18", false, false, 9.4),
    clip("video/liveportrait_s20.mp4", "s20", false, false, 9.9),
    clip("video/liveportrait_s32.mp4", "s32", false, false, 6.0),
];

/// Pairs that may be one person (look-alikes by eye): counted neither as merged nor as split.
const MAYBE_SAME: &[(&str, &str)] = &[("d9", "d13"), ("d5", "d18")];

/// How a visit's picture is changed: the light a camera sees at night, or a face far away.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Look {
    Normal,
    /// Luma × 0.3 with temporal noise (a dim scene, sensor gain).
    Dim,
    /// The picture shrunk to 40 % inside a frame of the original size.
    Small,
}

/// One visit: a cut of a clip shown to a camera of its own.
struct Visit {
    camera: String,
    person: &'static str,
    darker: bool,
    turning: bool,
    look: Look,
}

fn size_of(video: &std::path::Path) -> (u32, u32) {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(video)
        .output()
        .expect("ffprobe (scripts/setup.sh installs ffmpeg)");
    let s = String::from_utf8_lossy(&out.stdout);
    let mut it = s.trim().split(',').map(|x| x.parse::<u32>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// Cuts `from..from+len` of `video` into `out` with `look` applied (H.264, as a camera sends).
fn cut(video: &std::path::Path, from: f64, len: f64, look: Look, out: &std::path::Path) {
    let (w, h) = size_of(video);
    let filter = match look {
        Look::Normal => "null".to_string(),
        Look::Dim => "lutyuv=y=val*0.3,noise=alls=8:allf=t".to_string(),
        Look::Small => {
            let (sw, sh) = ((w * 2 / 5) & !1, (h * 2 / 5) & !1);
            format!("scale={sw}:{sh},pad={w}:{h}:(ow-iw)/2:(oh-ih)/2")
        }
    };
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-ss",
            &format!("{from:.2}"),
            "-t",
            &format!("{len:.2}"),
            "-i",
        ])
        .arg(video)
        .args([
            "-an",
            "-vf",
            &filter,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .arg(out)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg cut of {}", video.display());
}

/// Lasting ids on real video tracks, per condition. Each clip is cut into four visits of the same
/// person, seen in turn by the daemon (every clip's first visit, then every clip's second, …):
/// normal, in dim light, small in the frame, normal again. Each visit's tracks end `unknown`
/// with the id the stranger gallery gives them; pairs of tracks decide merges and splits.
#[test]
fn stranger_ids_on_video_tracks_by_lighting_size_pose_and_skin_tone() {
    use facestream::config::{CameraConfig, Config, WhenFull};
    use facestream::daemon::{Daemon, RunOptions};
    use std::time::{Duration, Instant};

    let media = common::media();
    let dir = common::Scratch::new("fs-stranger-video");
    let looks = [Look::Normal, Look::Dim, Look::Small, Look::Normal];
    let mut rounds: Vec<Vec<(Visit, std::path::PathBuf)>> = looks.iter().map(|_| vec![]).collect();
    let only: usize = std::env::var("STRANGER_CLIPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CLIPS.len());
    for (ci, c) in CLIPS.iter().enumerate().take(only) {
        let len = (c.until / 4.0).min(2.5);
        for (k, look) in looks.iter().enumerate() {
            let camera = format!("{}-{ci}-{k}-{look:?}", c.person).to_lowercase();
            let out = dir.join(format!("{camera}.mp4"));
            cut(&media.join(c.file), len * k as f64, len, *look, &out);
            rounds[k].push((
                Visit {
                    camera,
                    person: c.person,
                    darker: c.darker,
                    turning: c.turning,
                    look: *look,
                },
                out,
            ));
        }
    }

    // A site with one enrolled person nobody in these clips is, so every track is searched.
    let data = dir.join("data");
    let sets = FaceSets::open(&data).unwrap();
    sets.create_set(
        "people",
        1000,
        Default::default(),
        EmbedderKind::Mobilefacenet,
    )
    .unwrap();
    let mut an = common::analyzer();
    let obama = common::images_in(&media.join("gallery/Barack_Obama"));
    let (d, e) = common::largest_embedded(&mut an, &common::load(&obama[0])).unwrap();
    sets.add_faces(
        "people",
        vec![(facestream::base::geometry::BoundingBox::from(&d), e)],
        Some("obama"),
        &serde_json::Map::new(),
        Some("obama"),
    )
    .unwrap();
    drop(an);
    drop(sets);

    let mut cfg = Config::default();
    cfg.mqtt.enabled = false;
    cfg.http.bind = String::new();
    cfg.storage.dir = data.clone();
    cfg.unknown.enabled = true;
    if let Some(t) = std::env::var("STRANGER_THRESHOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.unknown.threshold = t;
        cfg.unknown.poor_light_threshold = cfg.unknown.poor_light_threshold.max(t);
    }
    if let Some(t) = std::env::var("STRANGER_POOR_THRESHOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg.unknown.poor_light_threshold = t;
    }
    cfg.validate().unwrap();
    let events = dir.join("events.jsonl");
    let mut daemon = Daemon::start(
        cfg,
        RunOptions {
            realtime_files: false,
            jsonl: Some(events.clone()),
            frame_policy: Some(WhenFull::Block),
            history: true,
            ..RunOptions::default()
        },
    )
    .unwrap();
    let started = Instant::now();
    // Every track of the visit has ended (until session 30 the first end was enough, and the
    // daemon then skipped the others' search once the next visit replaced the camera).
    let ended = |camera: &str| {
        let (mut starts, mut ends) = (0, 0);
        for l in std::fs::read_to_string(&events).unwrap_or_default().lines() {
            // Read while the daemon appends: its last line may be half written.
            let Ok(v) = serde_json::from_str::<serde_json::Value>(l) else {
                continue;
            };
            if v["camera"] == camera {
                starts += usize::from(v["event"] == "start");
                ends += usize::from(v["event"] == "end");
            }
        }
        starts > 0 && ends >= starts
    };
    // One visit at a time, in order, so the gallery each visit meets is fixed.
    for round in &rounds {
        for (v, file) in round {
            daemon
                .set_cameras(vec![CameraConfig {
                    id: v.camera.clone(),
                    uri: file.display().to_string(),
                    detect_fps: 10.0,
                    enabled: true,
                    looping: false,
                    face_sets: vec!["people".into()],
                }])
                .unwrap();
            let t = Instant::now();
            while !daemon.cameras_finished() && t.elapsed() < Duration::from_secs(60) {
                std::thread::sleep(Duration::from_millis(20));
            }
            // The visit's tracks have ended (their `unknown` follows the `end` in the same stage).
            let t = Instant::now();
            while !ended(&v.camera) && t.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
    daemon.shutdown();
    let took = started.elapsed();

    let visits: BTreeMap<&str, &Visit> = rounds
        .iter()
        .flatten()
        .map(|(v, _)| (v.camera.as_str(), v))
        .collect();
    let lines = std::fs::read_to_string(&events).unwrap();
    let all: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // (visit, id) per unknown track; matches to the enrolled stranger are false matches.
    let mut tracks: Vec<(&Visit, String)> = vec![];
    let mut false_matches = 0;
    for e in &all {
        let Some(v) = e["camera"].as_str().and_then(|c| visits.get(c)) else {
            continue;
        };
        match e["event"].as_str() {
            Some("unknown") => {
                tracks.push((v, e["unknown_id"].as_str().expect("unknown_id").to_string()));
            }
            Some("match") => false_matches += 1,
            _ => {}
        }
    }
    let seen: BTreeSet<&str> = tracks.iter().map(|t| t.0.camera.as_str()).collect();
    println!(
        "{} visits of {} people ({} clips) in {:.0} s: {} unknown tracks; visits with no track: {}; false matches: {false_matches}",
        visits.len(),
        CLIPS.iter().map(|c| c.person).collect::<BTreeSet<_>>().len(),
        CLIPS.len(),
        took.as_secs_f64(),
        tracks.len(),
        visits.len() - seen.len()
    );

    let maybe_same = |a: &str, b: &str| {
        MAYBE_SAME
            .iter()
            .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
    };
    // Per condition: a split is a same-person pair given two ids, counted between a track of the
    // condition and the person's normal visits (the lighting and size conditions) or between two
    // tracks of the group (pose, skin tone); a merge is a different-person pair with one id,
    // counted over pairs with at least one track of the condition.
    type Of = Box<dyn Fn(&Visit) -> bool>;
    let conditions: [(&str, Of, bool); 8] = [
        ("all", Box::new(|_| true), false),
        (
            "normal light, full size",
            Box::new(|v| v.look == Look::Normal),
            false,
        ),
        ("dim light", Box::new(|v| v.look == Look::Dim), true),
        ("small in frame", Box::new(|v| v.look == Look::Small), true),
        ("head turning", Box::new(|v| v.turning), false),
        ("head frontal", Box::new(|v| !v.turning), false),
        ("darker skin", Box::new(|v| v.darker), false),
        ("lighter skin", Box::new(|v| !v.darker), false),
    ];
    println!("condition | tracks | same-person pairs split | different-person pairs merged");
    let mut table = BTreeMap::new();
    for (name, f, against_normal) in &conditions {
        let (mut same, mut split, mut diff, mut merged) = (0u64, 0u64, 0u64, 0u64);
        let mut merged_not_trio = 0u64;
        for i in 0..tracks.len() {
            for j in i + 1..tracks.len() {
                let (a, b) = (&tracks[i], &tracks[j]);
                if !(f(a.0) || f(b.0)) {
                    continue;
                }
                if a.0.person == b.0.person {
                    let counted = if *against_normal {
                        (f(a.0) && b.0.look == Look::Normal) || (f(b.0) && a.0.look == Look::Normal)
                    } else {
                        f(a.0) && f(b.0)
                    };
                    if counted {
                        same += 1;
                        split += u64::from(a.1 != b.1);
                    }
                } else if !maybe_same(a.0.person, b.0.person) {
                    diff += 1;
                    merged += u64::from(a.1 == b.1);
                    let trio = a.0.person.starts_with("np-") && b.0.person.starts_with("np-");
                    merged_not_trio += u64::from(a.1 == b.1 && !trio);
                }
            }
        }
        let n = tracks.iter().filter(|t| f(t.0)).count();
        let (s, m) = (
            split as f64 / same.max(1) as f64,
            merged as f64 / diff.max(1) as f64,
        );
        println!("{name} | {n} | {s:.3} ({split}/{same}) | {m:.4} ({merged}/{diff})");
        table.insert(
            *name,
            (n, s, m, merged_not_trio as f64 / diff.max(1) as f64),
        );
    }
    // Which people were merged with whom, for the record.
    let mut by_id: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (v, id) in &tracks {
        by_id.entry(id).or_default().insert(v.person);
    }
    for (id, people) in by_id.iter().filter(|(_, p)| p.len() > 1) {
        println!("{id} holds {people:?}");
    }
    if std::env::var_os("KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }

    // Every visit is seen (a dim or small face still makes a track), save a few of the smallest
    // (measured: 6 of 108, the 40 % cuts of 270-480 px clips).
    assert!(visits.len() - seen.len() <= 8, "visits with no track");
    assert_eq!(false_matches, 0, "a stranger matched the enrolled person");
    for (name, (n, split, merged, not_trio)) in &table {
        assert!(*n > 0, "{name}: no tracks");
        // Merging strangers is the costly error. Measured at the defaults: no pair merged in any
        // condition, except among three different Black men of the noddingpigeon clips, who share
        // one id at every threshold up to 0.70 (docs/console.md: the same watermark crosses each
        // face, and both embedders score the three 0.55-0.80). The bound with them records that
        // failure (1.4 % of darker-skin pairs); it is not a target.
        assert!(
            *not_trio <= 0.002,
            "{name}: merged pairs {not_trio:.4} besides the trio"
        );
        assert!(*merged <= 0.02, "{name}: merged pairs {merged:.4}");
        // Splits cost a second naming; a dim visit is often a new stranger (by design, above).
        assert!(*split <= 0.6, "{name}: split pairs {split:.3}");
    }
}
