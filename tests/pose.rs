//! Head pose against the media's per-frame pose labels (labels/pose_tracks: MediaPipe FaceMesh +
//! solvePnP, automatic estimates), at the clips' own size and with the frames shrunk so faces are
//! small: the face mesh's pose and the pose from the detector's five landmarks side by side.

mod common;

use std::path::PathBuf;

use facestream::analyze::landmark_pose;
use facestream::analyze::mesh::Pose;
use facestream::detect::Detection;

/// One labelled frame's face: the label, and each method's reading.
struct Reading {
    band: &'static str,
    label: Pose,
    mesh: Option<Pose>,
    five: Option<Pose>,
}

/// Face-width bands: the clip's own size, then frames shrunk so the clip's median face is this wide.
const BANDS: [(&str, Option<f32>); 3] = [
    ("native", None),
    ("~40 px", Some(40.0)),
    ("~24 px", Some(24.0)),
];

fn clip_path(stem: &str) -> Option<PathBuf> {
    let media = common::media();
    ["liveness", "spoof", "video"]
        .iter()
        .flat_map(|d| {
            std::fs::read_dir(media.join(d))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
        })
        .map(|e| e.path())
        .find(|p| p.file_stem().is_some_and(|s| s.to_string_lossy() == stem))
}

/// (frame index, label pose, label face centre and width) of the usable rows: a face, a roll the
/// solver did not flip, not near profile (the labels call profile frames unreliable).
fn labels(csv: &std::path::Path) -> Vec<(usize, Pose, [f32; 2], f32)> {
    let text = std::fs::read_to_string(csv).unwrap();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f = common::csv_fields(l);
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f32>().ok());
            let pose = Pose {
                yaw: num(3)?,
                pitch: num(4)?,
                roll: num(5)?,
            };
            (pose.roll.abs() < 60.0 && pose.yaw.abs() < 60.0 && pose.pitch.abs() < 45.0)
                .then_some((f[0].parse().ok()?, pose, [num(7)?, num(8)?], num(9)?))
        })
        .collect()
}

fn nearest(dets: &[Detection], c: [f32; 2]) -> Option<&Detection> {
    dets.iter().min_by(|a, b| {
        let d = |d: &Detection| (d.x + d.w / 2.0 - c[0]).powi(2) + (d.y + d.h / 2.0 - c[1]).powi(2);
        d(a).total_cmp(&d(b))
    })
}

fn readings(every: usize, per_clip: usize) -> Vec<Reading> {
    let dir = common::media().join("labels/pose_tracks");
    let mut csvs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    csvs.sort();
    let mut an = common::analyzer();
    let mut out = vec![];
    for csv in csvs {
        let stem = csv.file_stem().unwrap().to_string_lossy().to_string();
        let Some(video) = clip_path(&stem) else {
            continue;
        };
        let rows = labels(&csv);
        if rows.is_empty() {
            continue;
        }
        let mut widths: Vec<f32> = rows.iter().map(|r| r.3).collect();
        widths.sort_by(f32::total_cmp);
        let median_w = widths[widths.len() / 2];
        let picked: Vec<_> = rows.iter().step_by(every).take(per_clip).collect();
        let native = facestream::ingest::video::decode(&video, 1 << 30, 100_000).unwrap();
        let long = native.frames[0].1.width.max(native.frames[0].1.height) as f32;
        for (band, target) in BANDS {
            let scale = target.map_or(1.0, |t| (t / median_w).min(1.0));
            let clip = target.map(|_| {
                facestream::ingest::video::decode(&video, 1 << 30, (long * scale) as u32).unwrap()
            });
            let frames = clip.as_ref().unwrap_or(&native);
            for (i, label, centre, _) in &picked {
                let Some((_, frame)) = frames.frames.get(*i) else {
                    continue;
                };
                let s = frame.width as f32 / native.frames[0].1.width as f32;
                let dets = an.detector().detect(frame).unwrap();
                let Some(det) = nearest(&dets, [centre[0] * s, centre[1] * s]).cloned() else {
                    continue;
                };
                let mesh = an
                    .mesh_model()
                    .unwrap()
                    .landmarks(&[(frame, &det)])
                    .unwrap()
                    .pop()
                    .and_then(|m| m.pose());
                out.push(Reading {
                    band,
                    label: *label,
                    mesh,
                    five: landmark_pose::pose(&det),
                });
            }
        }
    }
    out
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

/// Median absolute error (degrees) of yaw, pitch and roll over the faces with a reading.
fn errors(rs: &[&Reading], pick: impl Fn(&Reading) -> Option<Pose>) -> [f32; 3] {
    let mut e: [Vec<f32>; 3] = Default::default();
    for r in rs {
        if let Some(p) = pick(r) {
            e[0].push((p.yaw - r.label.yaw).abs());
            e[1].push((p.pitch - r.label.pitch).abs());
            e[2].push((p.roll - r.label.roll).abs());
        }
    }
    e.map(median)
}

/// The face mesh's pose and the five landmarks' against the labels, per face size, over all faces
/// and over the turned ones (|yaw| ≥ 20° in the label): the mesh stays within a few degrees down
/// to 24-px faces; the landmarks match it on near-frontal faces but read small turned faces as
/// nearer frontal (why `tracking.pose` defaults to the mesh).
#[test]
fn head_pose_is_close_to_the_labels_at_every_face_size() {
    let all = readings(6, 40);
    for (band, _) in BANDS {
        let rs: Vec<&Reading> = all.iter().filter(|r| r.band == band).collect();
        let turned: Vec<&Reading> = rs
            .iter()
            .copied()
            .filter(|r| r.label.yaw.abs() >= 20.0)
            .collect();
        let read = |rs: &[&Reading]| {
            let n = |f: fn(&Reading) -> Option<Pose>| rs.iter().filter(|r| f(r).is_some()).count();
            (
                errors(rs, |r| r.mesh),
                n(|r| r.mesh),
                errors(rs, |r| r.five),
                n(|r| r.five),
            )
        };
        let (mesh, n_mesh, five, n_five) = read(&rs);
        let (mesh_t, _, five_t, _) = read(&turned);
        println!(
            "{band:>7}: {} faces, {} turned | median |error| yaw/pitch/roll (°): mesh {:.1}/{:.1}/{:.1}, \
             turned {:.1}/{:.1}/{:.1} | five landmarks {:.1}/{:.1}/{:.1}, turned {:.1}/{:.1}/{:.1}",
            rs.len(),
            turned.len(),
            mesh[0],
            mesh[1],
            mesh[2],
            mesh_t[0],
            mesh_t[1],
            mesh_t[2],
            five[0],
            five[1],
            five[2],
            five_t[0],
            five_t[1],
            five_t[2]
        );
        assert!(
            rs.len() >= 400 && turned.len() >= 40,
            "{band}: too few labelled faces found"
        );
        assert!(
            n_mesh == rs.len() && n_five == rs.len(),
            "{band}: a face without a pose"
        );
        // Measured 3.1–3.4 / 5.4–6.1 / 3.3–3.6 (mesh), 3.5–4.4 / 4.2–5.1 / 2.1–3.5 (landmarks).
        assert!(
            mesh[0] <= 5.0 && mesh[1] <= 8.0 && mesh[2] <= 5.0,
            "{band}: mesh {mesh:?}"
        );
        assert!(
            five[0] <= 6.0 && five[1] <= 7.0 && five[2] <= 5.0,
            "{band}: landmarks {five:?}"
        );
        // Turned faces: the mesh 10.7–10.9° of yaw at every size.
        assert!(mesh_t[0] <= 14.0, "{band}: mesh on turned faces {mesh_t:?}");
    }
}
