//! Detection on real photos: recall over the labelled group photos, the negatives, batch = singles.

mod common;

use facestream::analyze::confirm::Source;
use facestream::analyze::Analyzer;

fn count_faces(an: &mut Analyzer, path: &std::path::Path) -> usize {
    an.detect_verified(&common::load(path)).unwrap().len()
}

#[test]
fn recall_over_labelled_group_photos_is_at_least_095() {
    let media = common::media();
    let mut an = common::analyzer();
    let labels = std::fs::read_to_string(media.join("labels/group_faces.csv")).unwrap();
    let (mut labelled, mut found, mut extra) = (0usize, 0usize, 0usize);
    for line in labels.lines().skip(1) {
        let f = common::csv_fields(line);
        let Ok(n) = f[1].parse::<usize>() else {
            continue;
        };
        let got = count_faces(&mut an, &media.join(&f[0]));
        println!("{:<45} labelled {n:>2} detected {got:>2}", f[0]);
        labelled += n;
        found += got.min(n);
        extra += got.saturating_sub(n);
    }
    let recall = found as f64 / labelled as f64;
    println!("group photos: recall {recall:.3} ({found}/{labelled}), {extra} detections beyond the labelled count");
    assert!(
        labelled >= 100,
        "expected the full label table, got {labelled} faces"
    );
    assert!(recall >= 0.95, "recall {recall:.3} < 0.95");
}

#[test]
fn negatives_give_no_face() {
    let media = common::media();
    let mut an = common::analyzer();
    let mut with_face = vec![];
    let files = common::images_in(&media.join("negatives"));
    for p in &files {
        let n = count_faces(&mut an, p);
        println!(
            "{:<45} {n} face(s)",
            p.file_name().unwrap().to_string_lossy()
        );
        if n > 0 {
            with_face.push(p.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    println!(
        "negatives with a false face: {}/{} {:?}",
        with_face.len(),
        files.len(),
        with_face
    );
    assert!(files.len() >= 10);
    // The bound we meet today (see README "Known limits"): the landscape and most animals give no
    // face; a capuchin monkey, two dogs and an alpaca are still taken for people by YuNet + mesh.
    assert!(
        with_face.len() <= 4,
        "{} negatives gave a face: {with_face:?}",
        with_face.len()
    );
    assert_eq!(
        count_faces(
            &mut an,
            &media.join("negatives/compreface_017_0_landscape.jpg")
        ),
        0
    );
}

#[test]
fn a_batch_gives_the_same_faces_as_single_runs() {
    let media = common::media();
    let mut an = common::analyzer();
    let paths = [
        "group/faceapi_bbt4.jpg",
        "group/face_recognition_kit_with_rose.jpg",
        "gallery/Barack_Obama/face_recognition_obama_small.jpg",
        "negatives/compreface_017_0_landscape.jpg",
        "group/juan-csv_friends1.jpg",
        // Three more of one size: more pixels than `detector.batch_pixels` allows in one run,
        // so the group runs in parts, and each picture still gets its own faces.
        "group/faceapi_bbt4.jpg",
        "group/face_recognition_kit_with_rose.jpg",
        "group/faceapi_bbt4.jpg",
    ];
    let frames: Vec<_> = paths.iter().map(|p| common::load(&media.join(p))).collect();
    let singles: Vec<_> = frames
        .iter()
        .map(|f| an.detector().detect(f).unwrap())
        .collect();
    let refs: Vec<_> = frames.iter().collect();
    let batch = an.detector().detect_batch(&refs).unwrap();
    assert_eq!(batch.len(), singles.len());
    let mut total = 0;
    for ((b, s), p) in batch.iter().zip(&singles).zip(paths) {
        assert_eq!(
            b.len(),
            s.len(),
            "{p}: batch found {} faces, single {}",
            b.len(),
            s.len()
        );
        for (x, y) in b.iter().zip(s) {
            total += 1;
            assert!(
                (x.score - y.score).abs() < 1e-3,
                "{p}: score {} vs {}",
                x.score,
                y.score
            );
            assert!(
                (x.x - y.x).abs() < 0.5 && (x.y - y.y).abs() < 0.5 && (x.w - y.w).abs() < 0.5,
                "{p}: box differs"
            );
        }
    }
    assert!(total >= 14, "expected faces in the batch, got {total}");

    // Workers side by side (`detector.workers`): each takes a contiguous part of the batch and
    // the answers come back in the frames' order, equal to the single runs.
    for workers in [2, 3] {
        let cfg = facestream::config::DetectorConfig {
            workers,
            ..an.config().detector.clone()
        };
        let settings = facestream::models::SessionSettings::from_config(&an.config().models);
        let mut pool = facestream::detect::DetectorPool::open(&settings, &cfg).unwrap();
        let pooled = pool.detect_batch(&refs).unwrap();
        assert_eq!(pooled.len(), singles.len(), "{workers} workers");
        for ((b, s), p) in pooled.iter().zip(&singles).zip(paths) {
            assert_eq!(b.len(), s.len(), "{workers} workers, {p}: count differs");
            for (x, y) in b.iter().zip(s) {
                assert!(
                    (x.score - y.score).abs() < 1e-3 && (x.x - y.x).abs() < 0.5,
                    "{workers} workers, {p}: face differs"
                );
            }
        }
        assert!(pool.session_time() > std::time::Duration::ZERO);
    }

    // Embeddings: a batch of N equals N single runs.
    let faces: Vec<_> = frames
        .iter()
        .zip(&singles)
        .flat_map(|(f, d)| d.iter().map(move |d| (f, d)))
        .collect();
    let emb = an.embedder().unwrap();
    let together = emb.embed(&faces).unwrap();
    for (i, face) in faces.iter().enumerate() {
        let alone = emb
            .embed(std::slice::from_ref(face))
            .unwrap()
            .remove(0)
            .unwrap();
        let sim = together[i].as_ref().unwrap().similarity(&alone).unwrap();
        assert!(sim > 0.9999, "face {i}: batch vs single similarity {sim}");
    }
}

#[test]
fn landmarks_fall_on_the_face_in_the_right_order() {
    let media = common::media();
    let mut an = common::analyzer();
    let f = common::load(&media.join("gallery/Barack_Obama/face_recognition_obama_small.jpg"));
    let d = an.detector().detect(&f).unwrap();
    assert_eq!(d.len(), 1);
    let d = &d[0];
    // Landmarks lie inside the box, eyes above the nose, nose above the mouth, right eye on the image's left.
    for p in &d.landmarks {
        assert!(
            p[0] > d.x && p[0] < d.x + d.w && p[1] > d.y && p[1] < d.y + d.h,
            "{p:?} outside box {d:?}"
        );
    }
    let [re, le, nose, rm, lm] = d.landmarks;
    assert!(re[0] < le[0] && rm[0] < lm[0]);
    assert!(re[1] < nose[1] && nose[1] < rm[1]);
}

/// Box-level ground truth: dlib's hand-labelled VOC boxes (matched when either box's centre lies in the
/// other) and CompreFace's nose points (matched when the nose lies in a detected box).
#[test]
fn box_level_recall_on_voc_boxes_and_compreface_noses() {
    let media = common::media();
    let mut an = common::analyzer();
    let attr = |tag: &str, name: &str| -> f32 {
        let key = format!("{name}='");
        let i = tag.find(&key).unwrap() + key.len();
        tag[i..].split('\'').next().unwrap().parse().unwrap()
    };
    let (mut voc_total, mut voc_found) = (0, 0);
    for xml in ["testing.xml", "training.xml"] {
        let text =
            std::fs::read_to_string(media.join("benchmark/dlib_voc_faces").join(xml)).unwrap();
        for chunk in text.split("<image file='").skip(1) {
            let file = chunk.split('\'').next().unwrap();
            let dets: Vec<_> = an
                .detect_verified(&common::load(
                    &media.join("benchmark/dlib_voc_faces").join(file),
                ))
                .unwrap()
                .into_iter()
                .map(|(d, _)| d)
                .collect();
            let body = chunk.split("</image>").next().unwrap();
            for tag in body.split("<box ").skip(1) {
                let (t, l, w, h) = (
                    attr(tag, "top"),
                    attr(tag, "left"),
                    attr(tag, "width"),
                    attr(tag, "height"),
                );
                voc_total += 1;
                let hit = dets.iter().any(|d| {
                    let (dcx, dcy) = (d.x + d.w / 2.0, d.y + d.h / 2.0);
                    let (gcx, gcy) = (l + w / 2.0, t + h / 2.0);
                    (dcx > l && dcx < l + w && dcy > t && dcy < t + h)
                        || (gcx > d.x && gcx < d.x + d.w && gcy > d.y && gcy < d.y + d.h)
                });
                voc_found += hit as usize;
            }
        }
    }
    let (mut nose_total, mut nose_found) = (0, 0);
    let dir = media.join("benchmark/compreface_samples");
    let noses = std::fs::read_to_string(dir.join("noses.csv")).unwrap();
    for line in noses.lines().skip(1) {
        let f = common::csv_fields(line);
        let path = dir.join(&f[0]);
        if !path.exists() {
            continue; // the single-face A/B/C photos live in the gallery, downscaled: their coordinates do not apply
        }
        let dets: Vec<_> = an
            .detect_verified(&common::load(&path))
            .unwrap()
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        for pt in f[2].split_whitespace() {
            let (x, y) = pt.split_once(':').unwrap();
            let (x, y): (f32, f32) = (x.parse().unwrap(), y.parse().unwrap());
            nose_total += 1;
            nose_found += dets
                .iter()
                .any(|d| x > d.x && x < d.x + d.w && y > d.y && y < d.y + d.h)
                as usize;
        }
    }
    let voc = voc_found as f64 / voc_total as f64;
    let nose = nose_found as f64 / nose_total as f64;
    println!("VOC boxes: recall {voc:.3} ({voc_found}/{voc_total}); CompreFace noses: recall {nose:.3} ({nose_found}/{nose_total})");
    assert!(voc_total >= 20 && nose_total >= 30);
    assert!(voc >= 0.95, "VOC recall {voc:.3}");
    assert!(nose >= 0.95, "nose recall {nose:.3}");
}

/// One labelled detection of tests/data/face_conditions.csv.
struct Labelled {
    source: String,
    time_s: String,
    rect: facestream::detect::Detection,
    face: bool,
    group: String,
    small: bool,
}

/// The picture a label refers to: a group photo, or one frame of a video cut out with ffmpeg.
fn labelled_picture(
    media: &std::path::Path,
    source: &str,
    time_s: &str,
    tmp: &std::path::Path,
) -> facestream::frame::Frame {
    if time_s.is_empty() {
        return common::load(&media.join(source));
    }
    let out = tmp.join("frame.png");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-ss", time_s, "-i"])
        .arg(media.join(source))
        .args(["-frames:v", "1"])
        .arg(&out)
        .status()
        .expect("ffmpeg (installed by scripts/setup.sh)");
    assert!(
        status.success(),
        "ffmpeg could not cut {source} at {time_s} s"
    );
    common::load(&out)
}

/// Issue 13 part 1: the face check must not fall hardest on dark faces in dim light. Every face
/// YuNet proposes (score ≥ 0.5) on 68 video frames and the 21 group photos was labelled by eye
/// (tests/data/face_conditions.csv: face or not, skin tone darker/lighter, lighting dim/normal);
/// recall = labelled faces found by `detect_verified` at the default settings, per group, with
/// and without the second look (the mesh-presence veto alone, as before).
#[test]
fn recall_by_skin_tone_and_lighting() {
    let media = common::media();
    let csv = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/face_conditions.csv"
    ))
    .unwrap();
    let rows: Vec<Labelled> = csv
        .lines()
        .skip(1)
        .map(|l| {
            let f = common::csv_fields(l);
            let n = |i: usize| f[i].parse::<f32>().unwrap();
            Labelled {
                source: f[0].clone(),
                time_s: f[1].clone(),
                rect: facestream::detect::Detection {
                    x: n(2),
                    y: n(3),
                    w: n(4),
                    h: n(5),
                    score: 1.0,
                    landmarks: [[0.0; 2]; 5],
                },
                face: f[6] == "yes",
                group: format!("{} skin, {} light", f[7], f[8]),
                small: n(4).max(n(5)) < 64.0,
            }
        })
        .collect();
    assert!(rows.len() >= 250, "the label table has {} rows", rows.len());
    let mut with_look = common::analyzer();
    let mut cfg = facestream::config::Config::default();
    cfg.detector.min_second_look = 0.0;
    let mut veto_only = Analyzer::open(&cfg).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    // (group) -> [labelled, found before, found after]
    let mut table: std::collections::BTreeMap<String, [usize; 3]> = Default::default();
    let (mut false_before, mut false_after, mut non_faces) = (0, 0, 0);
    let mut i = 0;
    while i < rows.len() {
        let (src, t) = (&rows[i].source, &rows[i].time_s);
        let frame = labelled_picture(&media, src, t, tmp.path());
        // Video frames are checked as the daemon checks a track's face, photos as the API does.
        let source = if t.is_empty() {
            Source::Still
        } else {
            Source::Video
        };
        let after = with_look.detect_confirmed(&frame, source).unwrap();
        let before = veto_only.detect_confirmed(&frame, source).unwrap();
        while i < rows.len() && &rows[i].source == src && &rows[i].time_s == t {
            let r = &rows[i];
            let hit = |found: &[(
                facestream::detect::Detection,
                Option<facestream::analyze::Mesh>,
            )]| { found.iter().any(|(d, _)| r.rect.iou(d) >= 0.5) };
            let (b, a) = (hit(&before) as usize, hit(&after) as usize);
            if (r.face && a == 0) || (!r.face && a == 1) {
                println!(
                    "{}: {} {} at {:?}",
                    if r.face { "missed" } else { "false face" },
                    r.source,
                    r.time_s,
                    [r.rect.x, r.rect.y, r.rect.w, r.rect.h]
                );
            }
            if r.face {
                let size = if r.small {
                    "faces < 64 px"
                } else {
                    "faces ≥ 64 px"
                };
                for g in [r.group.clone(), size.to_string(), "all faces".to_string()] {
                    let e = table.entry(g).or_default();
                    e[0] += 1;
                    e[1] += b;
                    e[2] += a;
                }
            } else {
                non_faces += 1;
                false_before += b;
                false_after += a;
            }
            i += 1;
        }
    }
    println!("| faces | labelled | recall, mesh veto only (before) | recall, with the second look (after) |");
    println!("|---|---|---|---|");
    let recall = |e: &[usize; 3], k: usize| e[k] as f64 / e[0].max(1) as f64;
    for (g, e) in &table {
        println!(
            "| {g} | {} | {:.3} ({}) | {:.3} ({}) |",
            e[0],
            recall(e, 1),
            e[1],
            recall(e, 2),
            e[2]
        );
    }
    println!("labelled non-faces (logo, print, hair, back of heads) confirmed: before {false_before}/{non_faces}, after {false_after}/{non_faces}");
    let dark_dim = table["darker skin, dim light"];
    let rest = table
        .iter()
        .filter(|(g, _)| g.contains(" light") && g.as_str() != "darker skin, dim light")
        .fold([0usize; 3], |acc, (_, e)| {
            [acc[0] + e[0], acc[1] + e[1], acc[2] + e[2]]
        });
    println!(
        "darker skin in dim light: {:.3}; every other face: {:.3} (before: {:.3} against {:.3})",
        recall(&dark_dim, 2),
        recall(&rest, 2),
        recall(&dark_dim, 1),
        recall(&rest, 1)
    );
    assert!(
        dark_dim[0] >= 20,
        "too few dark faces in dim light labelled"
    );
    assert!(
        recall(&dark_dim, 2) >= recall(&rest, 2) - 0.05,
        "dark faces in dim light are found {:.3} of the time, the rest {:.3}",
        recall(&dark_dim, 2),
        recall(&rest, 2)
    );
    assert!(
        false_after <= false_before,
        "the second look confirmed more non-faces ({false_after} > {false_before})"
    );
}

/// The daemon reads the meshes of queued track events from different frames in one batch: each
/// face's mesh must be what a run of its own gives.
#[test]
fn a_mesh_batch_across_pictures_gives_the_same_meshes_as_single_runs() {
    let media = common::media();
    let mut an = common::analyzer();
    let frames: Vec<_> = [
        "group/faceapi_bbt4.jpg",
        "gallery/Barack_Obama/face_recognition_obama_small.jpg",
        "group/juan-csv_friends1.jpg",
    ]
    .iter()
    .map(|p| common::load(&media.join(p)))
    .collect();
    let mut faces = vec![];
    for f in &frames {
        for d in an.detector().detect(f).unwrap() {
            faces.push((f, d));
        }
    }
    assert!(faces.len() >= 5, "{} faces", faces.len());
    let refs: Vec<_> = faces.iter().map(|(f, d)| (*f, d)).collect();
    let batch = an.mesh_model().unwrap().landmarks(&refs).unwrap();
    assert_eq!(batch.len(), refs.len());
    for (i, one) in refs.iter().enumerate() {
        let single = an.mesh_model().unwrap().landmarks(&[*one]).unwrap();
        let (b, s) = (&batch[i], &single[0]);
        assert!(
            (b.presence - s.presence).abs() < 1e-4,
            "face {i}: presence {} vs {}",
            b.presence,
            s.presence
        );
        let worst = b
            .points
            .iter()
            .zip(&s.points)
            .map(|(p, q)| (p[0] - q[0]).abs().max((p[1] - q[1]).abs()))
            .fold(0f32, f32::max);
        assert!(
            worst < 0.01,
            "face {i}: a landmark moved {worst} px in the batch"
        );
    }
}
