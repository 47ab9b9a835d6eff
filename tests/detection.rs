//! Detection on real photos: recall over the labelled group photos, the negatives, batch = singles.

mod common;

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
