//! A track never carries over to another person: videos composed at test time from gallery
//! photos with ffmpeg (one face replaced by another at the same place, a face leaving and another
//! entering where it left, a hard cut, two faces crossing) and the hamilton clip's cut.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Square crops (side, x, y) around the face of each photo, found with `facestream detect`.
const A: (&str, &str) = (
    "Barack_Obama/face_recognition_knn_test_obama1.jpg",
    "crop=590:590:416:80",
);
const B: (&str, &str) = (
    "Joe_Biden/face_recognition_biden2.jpg",
    "crop=690:690:308:114",
);
const C: (&str, &str) = ("Matt_Damon/deepface_img29.jpg", "crop=340:340:115:91");
const D: (&str, &str) = ("Jack_Dorsey/deepface_img16.jpg", "crop=320:320:222:31");

/// Builds the four composed videos in `dir`.
fn compose(dir: &Path) -> BTreeMap<&'static str, PathBuf> {
    let g = common::media().join("gallery");
    let img = |p: (&str, &str)| g.join(p.0).display().to_string();
    let bg = "color=gray:s=640x480:d=4:r=25";
    let mut out = BTreeMap::new();
    let swap = dir.join("swap.mp4");
    common::ffmpeg(&["-loop", "1", "-t", "4", "-i", &img(A), "-loop", "1", "-t", "4", "-i", &img(B), "-f", "lavfi", "-i", bg,
        "-filter_complex", &format!("[0]{},scale=180:180[a];[1]{},scale=180:180[b];[2][a]overlay=230:150:enable='lt(t,2)'[t];[t][b]overlay=230:150:enable='gte(t,2)'", A.1, B.1),
        "-t", "4", "-r", "25", "-pix_fmt", "yuv420p", swap.to_str().unwrap()]);
    out.insert("swap", swap);
    let gap = dir.join("gap.mp4");
    common::ffmpeg(&["-loop", "1", "-t", "4", "-i", &img(C), "-loop", "1", "-t", "4", "-i", &img(D), "-f", "lavfi", "-i", bg,
        "-filter_complex", &format!("[0]{},scale=180:180[a];[1]{},scale=180:180[b];[2][a]overlay=230:150:enable='lt(t,1.9)'[t];[t][b]overlay=230:150:enable='gte(t,2.1)'", C.1, D.1),
        "-t", "4", "-r", "25", "-pix_fmt", "yuv420p", gap.to_str().unwrap()]);
    out.insert("gap", gap);
    let cut = dir.join("cut.mp4");
    common::ffmpeg(&[
        "-loop",
        "1",
        "-t",
        "2",
        "-i",
        &img(A),
        "-loop",
        "1",
        "-t",
        "2",
        "-i",
        &img(B),
        "-filter_complex",
        "[0]scale=640:480,setsar=1[a];[1]scale=640:480,setsar=1[b];[a][b]concat=n=2:v=1",
        "-r",
        "25",
        "-pix_fmt",
        "yuv420p",
        cut.to_str().unwrap(),
    ]);
    out.insert("cut", cut);
    let cross = dir.join("cross.mp4");
    common::ffmpeg(&["-loop", "1", "-t", "4", "-i", &img(C), "-loop", "1", "-t", "4", "-i", &img(D), "-f", "lavfi", "-i", bg,
        "-filter_complex", &format!("[0]{},scale=150:150[a];[1]{},scale=150:150[b];[2][a]overlay=x='20+t*110':y=160[t];[t][b]overlay=x='470-t*110':y=170", C.1, D.1),
        "-t", "4", "-r", "25", "-pix_fmt", "yuv420p", cross.to_str().unwrap()]);
    out.insert("cross", cross);
    out
}

/// The face events of `facestream analyze`, by track.
fn tracks_of(video: &Path) -> BTreeMap<u64, Vec<Value>> {
    let out = video.with_extension("jsonl");
    let run = Command::new(env!("CARGO_BIN_EXE_facestream"))
        .args([
            "analyze",
            video.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let mut tracks: BTreeMap<u64, Vec<Value>> = BTreeMap::new();
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let e: Value = serde_json::from_str(line).unwrap();
        tracks
            .entry(e["track_id"].as_u64().unwrap())
            .or_default()
            .push(e);
    }
    tracks
}

fn span(events: &[Value]) -> (u64, u64) {
    let first = events
        .iter()
        .filter_map(|e| e["first_seen_ms"].as_u64())
        .min()
        .unwrap();
    let last = events
        .iter()
        .filter_map(|e| e["last_seen_ms"].as_u64())
        .max()
        .unwrap();
    (first, last)
}

#[test]
fn a_track_never_carries_over_to_another_person() {
    let dir = common::Scratch::new("fs-tracking");
    let videos = compose(&dir);
    let mut report = vec![];
    // (video, the time one person gives way to another)
    for (name, switch_ms) in [("swap", 2000u64), ("gap", 2000), ("cut", 2000)] {
        let tracks = tracks_of(&videos[name]);
        let spans: Vec<(u64, (u64, u64))> = tracks.iter().map(|(id, ev)| (*id, span(ev))).collect();
        report.push(format!("{name}: {} tracks {spans:?}", tracks.len()));
        assert!(
            spans
                .iter()
                .all(|(_, (a, b))| !(*a + 150 < switch_ms && *b > switch_ms + 150)),
            "{name}: a track spans the change of person at {switch_ms} ms: {spans:?}"
        );
        assert!(
            spans.iter().any(|(_, (a, _))| *a < switch_ms)
                && spans.iter().any(|(_, (_, b))| *b > switch_ms),
            "{name}: both people are tracked: {spans:?}"
        );
    }
    // Crossing: Damon moves right, Dorsey left; a track that swapped would turn back.
    let tracks = tracks_of(&videos["cross"]);
    for (id, ev) in &tracks {
        let xs: Vec<i64> = ev
            .iter()
            .filter(|e| e["event"] != "end")
            .map(|e| e["bounding_box"]["top_left_x"].as_i64().unwrap())
            .collect();
        report.push(format!("cross: track {id} x {xs:?}"));
        let rising = xs.windows(2).all(|w| w[1] >= w[0] - 5);
        let falling = xs.windows(2).all(|w| w[1] <= w[0] + 5);
        assert!(
            rising || falling,
            "cross: track {id} turned back (swapped faces): {xs:?}"
        );
    }
    // The hamilton clip cuts from Lin-Manuel Miranda to the audience at 6.9-7.1 s.
    let hamilton = common::media().join("video/face_recognition_short_hamilton_clip.mp4");
    let tracks = tracks_of(&hamilton_copy(&hamilton, &dir));
    let spans: Vec<(u64, (u64, u64))> = tracks.iter().map(|(id, ev)| (*id, span(ev))).collect();
    report.push(format!("hamilton: {spans:?}"));
    assert!(
        spans.iter().all(|(_, (a, b))| !(*a < 6800 && *b > 7200)),
        "hamilton: a track runs across the cut: {spans:?}"
    );
    for r in &report {
        println!("{r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The clip under `dir`, so its events file lands there too.
fn hamilton_copy(src: &Path, dir: &Path) -> PathBuf {
    let dst = dir.join("hamilton.mp4");
    std::fs::copy(src, &dst).unwrap();
    dst
}
