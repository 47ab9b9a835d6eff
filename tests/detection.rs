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
