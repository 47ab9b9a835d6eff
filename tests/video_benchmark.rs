//! Video recognition benchmark (issue 13): a video composed at test time from gallery photos, one
//! person after another with hard cuts, half of them enrolled (from their other photos) and half
//! never enrolled. `facestream analyze --face-set` runs over it and every track is scored against
//! the timeline: purity (share of the track's time inside one person's segment), identity switches
//! (a track naming two identities), matches right / wrong / missed, strangers falsely matched.
//! Prints the table (docs/calibration.md has a run of it).

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// (person, enrolled?) in the order they appear; each probe photo is one the set was not built
/// from.
const CAST: [(&str, &str, bool); 12] = [
    ("Angelina_Jolie", "deepface_img1.jpg", true),
    ("Jack_Dorsey", "deepface_img17.jpg", false),
    ("Jennifer_Aniston", "deepface_img3.jpg", true),
    ("Elon_Musk", "deepface_img18.jpg", false),
    ("Scarlett_Johansson", "deepface_img47.jpg", true),
    ("Marissa_Mayer", "deepface_img22.jpg", false),
    ("Mark_Zuckerberg", "deepface_img13.jpg", true),
    ("Jeff_Bezos", "deepface_img20.jpg", false),
    ("Matt_Damon", "deepface_img30.jpg", true),
    ("Sundar_Pichai", "deepface_img24.jpg", false),
    ("George_Clooney", "deepface_img39.jpg", true),
    ("Eric_Clapton", "openface_clapton-1.jpg", false),
];
/// 38 frames at 25 fps per person.
const SEGMENT_MS: u64 = 1520;

/// Per track of `facestream analyze VIDEO --face-set SET`: its span (first seen, last seen, ms)
/// and the identities its `match` events named, in order.
type Spans = BTreeMap<u64, (u64, u64)>;
type Named = BTreeMap<u64, Vec<String>>;

fn recognised(video: &std::path::Path, set: &str, data: &std::path::Path) -> (Spans, Named) {
    // Beside the face-set data (the video may be in the read-only shared media).
    let events_file = data.with_extension("events.jsonl");
    run(&[
        "analyze",
        video.to_str().unwrap(),
        "--face-set",
        set,
        "--data-dir",
        data.to_str().unwrap(),
        "--out",
        events_file.to_str().unwrap(),
    ]);
    let mut spans = Spans::new();
    let mut named = Named::new();
    for line in std::fs::read_to_string(&events_file).unwrap().lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        let id = e["track_id"].as_u64().unwrap();
        if e["topic"].as_str().is_some_and(|t| t.ends_with("/face")) {
            let (a, b) = (
                e["first_seen_ms"].as_u64().unwrap(),
                e["last_seen_ms"].as_u64().unwrap(),
            );
            let s = spans.entry(id).or_insert((a, b));
            *s = (s.0.min(a), s.1.max(b));
        }
        if e["event"] == "match" {
            named
                .entry(id)
                .or_default()
                .push(e["user_id"].as_str().unwrap_or("").to_string());
        }
    }
    (spans, named)
}

/// `facestream enroll DIR --set SET --data-dir DATA`.
fn enroll(dir: &std::path::Path, set: &str, data: &std::path::Path) {
    run(&[
        "enroll",
        dir.to_str().unwrap(),
        "--set",
        set,
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
}

fn run(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn recognition_on_a_composed_video_meets_its_targets() {
    let gallery = common::media().join("gallery");
    let dir = common::Scratch::new("fs-video-bench");
    // Enrol the enrolled people from their other photos.
    let people = dir.join("people");
    for (person, probe, enrolled) in CAST {
        if !enrolled {
            continue;
        }
        std::fs::create_dir_all(people.join(person)).unwrap();
        for f in std::fs::read_dir(gallery.join(person)).unwrap().flatten() {
            if f.file_name() != probe {
                std::os::unix::fs::symlink(f.path(), people.join(person).join(f.file_name()))
                    .unwrap();
            }
        }
    }
    let data = dir.join("data");
    enroll(&people, "cast", &data);
    // The video: each probe photo letterboxed to 640x480 for 1.52 s at 25 fps, hard cuts between them.
    let video = dir.join("cast.mp4");
    let photos: Vec<std::path::PathBuf> = CAST
        .iter()
        .map(|(person, probe, _)| gallery.join(person).join(probe))
        .collect();
    slideshow(&photos, SEGMENT_MS as f64 / 1000.0, 25, &video);
    let (spans, named) = recognised(&video, "cast", &data);
    let segment_of = |t: u64| (t / SEGMENT_MS) as usize;
    let mut purity = vec![];
    let (mut right, mut wrong, mut switches, mut strangers_matched) = (0, 0, 0, 0);
    let mut matched_people = std::collections::BTreeSet::new();
    let mut rows = vec![];
    for (id, (a, b)) in &spans {
        // Time inside the segment where the track spends most of its life.
        let seg = segment_of((a + b) / 2).min(CAST.len() - 1);
        let (s0, s1) = (seg as u64 * SEGMENT_MS, (seg as u64 + 1) * SEGMENT_MS);
        let inside = b.min(&s1).saturating_sub(*a.max(&s0)) as f64;
        let p = if b > a { inside / (b - a) as f64 } else { 1.0 };
        purity.push(p);
        let (person, _, enrolled) = CAST[seg];
        let names = named.get(id).cloned().unwrap_or_default();
        let mut distinct = names.clone();
        distinct.dedup();
        if distinct.len() > 1 {
            switches += 1;
        }
        for n in &distinct {
            if n == person {
                right += 1;
                matched_people.insert(person);
            } else {
                wrong += 1;
                if !enrolled {
                    strangers_matched += 1;
                }
            }
        }
        rows.push(format!(
            "track {id:>3} {a:>6}-{b:<6} ms  {person:<20} {}  purity {p:.2}  matched {names:?}",
            if enrolled { "enrolled" } else { "stranger" }
        ));
    }
    let enrolled: Vec<&str> = CAST.iter().filter(|c| c.2).map(|c| c.0).collect();
    let missed: Vec<&&str> = enrolled
        .iter()
        .filter(|p| !matched_people.contains(**p))
        .collect();
    let strangers = CAST.iter().filter(|c| !c.2).count();
    let mean_purity = purity.iter().sum::<f64>() / purity.len().max(1) as f64;
    for r in &rows {
        println!("{r}");
    }
    println!(
        "composed cast video: {} tracks, mean purity {mean_purity:.3}, identity switches {switches}, matches right {right} / wrong {wrong} / missed {} of {} enrolled ({missed:?}), strangers falsely matched {strangers_matched} of {strangers}",
        spans.len(),
        missed.len(),
        enrolled.len()
    );
    assert!(
        purity.iter().all(|p| *p >= 0.95),
        "a track spans two people: {rows:#?}"
    );
    assert_eq!(switches, 0, "{rows:#?}");
    assert_eq!(wrong, 0, "wrong matches: {rows:#?}");
    assert_eq!(strangers_matched, 0, "{rows:#?}");
    assert!(
        missed.is_empty(),
        "enrolled people in view for 1.52 s not matched: {missed:?}\n{rows:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Hamilton against its identity time ranges (MEDIA.md): Lin-Manuel Miranda small on stage 0–0.5 s,
/// Alex Lacamoire 0.6–2.5 s (profile), Lin-Manuel Miranda 2.6–6.8 s, the audience 7.1–9.2 s with Barack Obama; the three enrolled from the gallery.
/// Asserted: no wrong match and no identity switch; the misses are printed (docs/calibration.md).
#[test]
fn hamilton_against_its_identity_time_ranges() {
    let gallery = common::media().join("gallery");
    let dir = common::Scratch::new("fs-video-bench-ham");
    let people = dir.join("people");
    let ranges = [
        ("Lin-Manuel_Miranda", 0u64, 600u64),
        ("Alex_Lacamoire", 600, 2500),
        ("Lin-Manuel_Miranda", 2600, 6800),
        ("Barack_Obama", 7100, 9200),
    ];
    for person in ["Lin-Manuel_Miranda", "Alex_Lacamoire", "Barack_Obama"] {
        std::fs::create_dir_all(&people).unwrap();
        std::os::unix::fs::symlink(gallery.join(person), people.join(person)).unwrap();
    }
    let data = dir.join("data");
    enroll(&people, "ham", &data);
    let clip = common::media().join("video/face_recognition_short_hamilton_clip.mp4");
    let (spans, named) = recognised(&clip, "ham", &data);
    let (mut right, mut wrong, mut switches) = (0, 0, 0);
    let mut matched = std::collections::BTreeSet::new();
    for (id, (a, b)) in &spans {
        let mid = (a + b) / 2;
        let who: Vec<&str> = ranges
            .iter()
            .filter(|r| mid >= r.1 && mid <= r.2)
            .map(|r| r.0)
            .collect();
        let mut names = named.get(id).cloned().unwrap_or_default();
        names.dedup();
        if names.len() > 1 {
            switches += 1;
        }
        for n in &names {
            // In the audience shot several people share the range: a match is right if it names the
            // enrolled person of that range (the others there are strangers to the set).
            if who.contains(&n.as_str()) {
                right += 1;
                matched.insert(n.clone());
            } else {
                wrong += 1;
            }
        }
        println!("hamilton track {id:>3} {a:>5}-{b:<5} ms  range {who:?}  matched {names:?}");
    }
    let mut missed: Vec<&str> = ranges
        .iter()
        .map(|r| r.0)
        .filter(|p| !matched.contains(*p))
        .collect();
    missed.dedup();
    println!("hamilton: {} tracks, identity switches {switches}, matches right {right} / wrong {wrong} / missed {missed:?}", spans.len());
    assert_eq!(wrong, 0);
    assert_eq!(switches, 0);
    assert!(
        matched.contains("Lin-Manuel_Miranda"),
        "the singer in close-up for 4 s is matched"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds each probe photo stays on screen in the open-set video, and its frame rate: enough
/// for a track's start, one update and its end to be searched.
const PROBE_S: f64 = 1.2;
const PROBE_FPS: u32 = 10;

/// A video of `photos` one after another, `seconds` each at `fps` (letterboxed to 640×480, hard cuts).
fn slideshow(photos: &[std::path::PathBuf], seconds: f64, fps: u32, out: &std::path::Path) {
    let mut args: Vec<String> = vec![];
    let mut filter = String::new();
    for (i, p) in photos.iter().enumerate() {
        args.extend(["-loop", "1", "-t", &seconds.to_string(), "-i"].map(String::from));
        args.push(p.display().to_string());
        filter.push_str(&format!(
            "[{i}]scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p[v{i}];"
        ));
    }
    for i in 0..photos.len() {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=1[out]", photos.len()));
    args.extend(["-filter_complex", &filter, "-map", "[out]"].map(String::from));
    args.push(out.display().to_string());
    common::ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
}

/// Issue 13 part 3: the open-set threshold on video. The gallery's people with two or more photos
/// are split in two folds; in each fold one half is enrolled (all photos but one probe) and the
/// other half, with the 11 single-photo people, is never enrolled. A slideshow of every
/// never-enrolled photo and each enrolled person's probe is analysed at three thresholds (the
/// 1:1 threshold 0.46, the default for tracks, and a stricter one; `OPEN_SET_THRESHOLDS=a,b,c`
/// sweeps others); printed per threshold: strangers' tracks falsely matched (of those searched),
/// enrolled probes matched right / wrong. Asserted at the default: ≤ 1 % of strangers' tracks
/// matched and no enrolled probe matched to someone else.
#[test]
fn open_set_threshold_on_video() {
    let gallery = common::media().join("gallery");
    let dir = common::Scratch::new("fs-open-set");
    let mut people: Vec<(String, Vec<std::path::PathBuf>)> = std::fs::read_dir(&gallery)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, common::images_in(&e.path()))
        })
        .collect();
    people.sort();
    let several: Vec<&(String, Vec<std::path::PathBuf>)> =
        people.iter().filter(|p| p.1.len() >= 2).collect();
    assert!(
        several.len() >= 30,
        "{} people with several photos",
        several.len()
    );
    let default_t = facestream::config::Config::default().track_threshold();
    let thresholds: Vec<f32> = std::env::var("OPEN_SET_THRESHOLDS")
        .map(|v| v.split(',').map(|t| t.parse().unwrap()).collect())
        .unwrap_or(vec![0.46, default_t, 0.61]);
    // threshold -> [stranger tracks searched, falsely matched, probes, right, wrong]
    let mut totals: BTreeMap<String, [usize; 5]> = BTreeMap::new();
    for fold in 0..2 {
        let fold_dir = dir.join(format!("fold{fold}"));
        let enrolled: Vec<&(String, Vec<std::path::PathBuf>)> = several
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == fold)
            .map(|(_, p)| *p)
            .collect();
        let enrol_dir = fold_dir.join("people");
        // (photo, person, enrolled?) in screen order: each enrolled probe among the strangers.
        let mut shown: Vec<(std::path::PathBuf, String, bool)> = vec![];
        for (name, photos) in &enrolled {
            std::fs::create_dir_all(enrol_dir.join(name)).unwrap();
            for p in &photos[1..] {
                std::os::unix::fs::symlink(p, enrol_dir.join(name).join(p.file_name().unwrap()))
                    .unwrap();
            }
            shown.push((photos[0].clone(), name.clone(), true));
        }
        for (name, photos) in &people {
            if !enrolled.iter().any(|(n, _)| n == name) {
                shown.extend(photos.iter().map(|p| (p.clone(), name.clone(), false)));
            }
        }
        // Interleave deterministically so enrolled probes are spread through the video.
        shown.sort_by_key(|(p, _, _)| format!("{:x}", fnv1a(&p.display().to_string())));
        let data = fold_dir.join("data");
        enroll(&enrol_dir, "known", &data);
        let video = fold_dir.join("open_set.mp4");
        let photos: Vec<std::path::PathBuf> = shown.iter().map(|s| s.0.clone()).collect();
        slideshow(&photos, PROBE_S, PROBE_FPS, &video);
        let segment_ms = (PROBE_S * 1000.0) as u64;
        for &t in &thresholds {
            let cfg = fold_dir.join(format!("t{t}.toml"));
            std::fs::write(&cfg, format!("[search]\nthreshold = {t}\n")).unwrap();
            let events_file = fold_dir.join(format!("t{t}.jsonl"));
            run(&[
                "analyze",
                video.to_str().unwrap(),
                "--config",
                cfg.to_str().unwrap(),
                "--face-set",
                "known",
                "--data-dir",
                data.to_str().unwrap(),
                "--out",
                events_file.to_str().unwrap(),
            ]);
            let row = totals.entry(format!("{t:.2}")).or_default();
            // Per track: its segment (by its first sighting) and what its decision named.
            let mut first_seen: BTreeMap<u64, u64> = BTreeMap::new();
            let mut decisions: BTreeMap<u64, Vec<String>> = BTreeMap::new();
            let mut searched: std::collections::BTreeSet<u64> = Default::default();
            for line in std::fs::read_to_string(&events_file).unwrap().lines() {
                let e: Value = serde_json::from_str(line).unwrap();
                let id = e["track_id"].as_u64().unwrap();
                if let Some(t0) = e["first_seen_ms"].as_u64() {
                    first_seen.entry(id).or_insert(t0);
                }
                match e["event"].as_str() {
                    Some("match") => {
                        searched.insert(id);
                        decisions
                            .entry(id)
                            .or_default()
                            .push(e["user_id"].as_str().unwrap_or("").to_string());
                    }
                    Some("unknown") => {
                        searched.insert(id);
                    }
                    _ => {}
                }
            }
            let mut probes_matched = std::collections::BTreeSet::new();
            for (id, t0) in &first_seen {
                let seg = ((t0 + 100) / segment_ms) as usize;
                let Some((photo, person, is_enrolled)) = shown.get(seg) else {
                    continue;
                };
                let names = decisions.get(id).cloned().unwrap_or_default();
                if *is_enrolled {
                    for n in &names {
                        if n == person {
                            probes_matched.insert(person.clone());
                        } else {
                            row[4] += 1;
                            println!("t {t:.2}: {} (enrolled) matched as {n}", photo.display());
                        }
                    }
                } else if searched.contains(id) {
                    row[0] += 1;
                    if !names.is_empty() {
                        row[1] += 1;
                        println!(
                            "t {t:.2}: stranger {} matched as {names:?}",
                            photo.display()
                        );
                    }
                }
            }
            row[2] += enrolled.len();
            row[3] += probes_matched.len();
        }
    }
    println!(
        "| threshold | strangers' tracks falsely matched | enrolled probes matched right | wrong |"
    );
    println!("|---|---|---|---|");
    for (t, r) in &totals {
        println!(
            "| {t} | {}/{} = {:.1} % | {}/{} = {:.1} % | {} |",
            r[1],
            r[0],
            100.0 * r[1] as f64 / r[0].max(1) as f64,
            r[3],
            r[2],
            100.0 * r[3] as f64 / r[2].max(1) as f64,
            r[4]
        );
    }
    let default = totals[&format!("{default_t:.2}")];
    assert!(
        default[0] >= 100,
        "only {} strangers' tracks were searched",
        default[0]
    );
    assert!(
        default[1] as f64 <= 0.01 * default[0] as f64,
        "{} of {} strangers' tracks matched at the default threshold",
        default[1],
        default[0]
    );
    assert_eq!(
        default[4], 0,
        "an enrolled probe was matched as someone else"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stable, well-mixed 64-bit hash of a string (FNV-1a), to shuffle the slideshow reproducibly.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

/// The walking clips (MEDIA.md: nobody in them is in the gallery) against the whole gallery
/// enrolled: every searched track is a stranger's, so any `match` is a false one. Printed per
/// clip: tracks started for the labelled people, tracks searched, matches. Asserted: no match.
#[test]
fn walking_clips_match_nobody_in_the_gallery() {
    let media = common::media();
    let dir = common::Scratch::new("fs-walkers");
    let data = dir.join("data");
    enroll(&media.join("gallery"), "everyone", &data);
    let clips = [
        ("intel_face-demographics-walking.mp4", 2),
        ("intel_face-demographics-walking-and-pause.mp4", 3),
        ("facenet-pytorch_video_1080p.mp4", 10),
    ];
    let mut false_matches = vec![];
    for (clip, people) in clips {
        let (spans, named) = recognised(&media.join("video").join(clip), "everyone", &data);
        println!(
            "{clip}: {} tracks for ~{people} people, matches {named:?}",
            spans.len()
        );
        false_matches.extend(
            named
                .into_iter()
                .map(|(id, n)| format!("{clip} track {id}: {n:?}")),
        );
    }
    assert!(
        false_matches.is_empty(),
        "strangers matched: {false_matches:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
