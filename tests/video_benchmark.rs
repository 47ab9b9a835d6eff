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
    let dir = std::env::temp_dir().join(format!("fs-video-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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
    run(&[
        "enroll",
        people.to_str().unwrap(),
        "--set",
        "cast",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
    // The video: each probe photo letterboxed to 640x480 for 1.52 s, hard cuts between them.
    let video = dir.join("cast.mp4");
    let mut args: Vec<String> = vec!["-y".into(), "-loglevel".into(), "error".into()];
    let mut filter = String::new();
    for (i, (person, probe, _)) in CAST.iter().enumerate() {
        args.extend(["-loop", "1", "-t", "1.52", "-i"].map(String::from));
        args.push(gallery.join(person).join(probe).display().to_string());
        filter.push_str(&format!(
            "[{i}]scale=640:480:force_original_aspect_ratio=decrease,pad=640:480:(ow-iw)/2:(oh-ih)/2,setsar=1,fps=25[v{i}];"
        ));
    }
    for i in 0..CAST.len() {
        filter.push_str(&format!("[v{i}]"));
    }
    filter.push_str(&format!("concat=n={}:v=1[out]", CAST.len()));
    args.extend(
        [
            "-filter_complex",
            &filter,
            "-map",
            "[out]",
            "-pix_fmt",
            "yuv420p",
        ]
        .map(String::from),
    );
    args.push(video.display().to_string());
    let out = Command::new("ffmpeg")
        .args(&args)
        .output()
        .expect("ffmpeg (scripts/setup.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let dir = std::env::temp_dir().join(format!("fs-video-bench-ham-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
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
    run(&[
        "enroll",
        people.to_str().unwrap(),
        "--set",
        "ham",
        "--data-dir",
        data.to_str().unwrap(),
        "--json",
    ]);
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
