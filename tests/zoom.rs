//! Detection at a reduced input and in a crop around the faces (`detector.zoom_face_px`,
//! `detect/zoom.rs`) against the whole frame at full size, on the same frames of real clips: the
//! faces found, where their landmarks fall, and what the embedder makes of them — what a track
//! event analyses and searches with.

mod common;

use facestream::detect::zoom::{Zoom, ZoomSettings};
use facestream::detect::{Detection, View};
use facestream::frame::Frame;

/// Clips whose faces are large enough to be zoomed or cropped (talking heads, a close-up, a CIF
/// clip, a signer of 61–68 px in 640×480).
const CLIPS: [&str; 8] = [
    "video/liveportrait_d10.mp4",
    "video/liveportrait_d13.mp4",
    "video/liveportrait_s20.mp4",
    "video/liveportrait_s32.mp4",
    "video/openh264_foreman_cif.mp4",
    "video/face_recognition_short_hamilton_clip.mp4",
    "video/intel_asl_no.mkv",
    "video/intel_asl_yes.mkv",
];

/// Landmark distance between two readings of one face, in eye distances (the mean of the five).
fn landmark_shift(a: &Detection, b: &Detection) -> f32 {
    let eyes = (a.landmarks[1][0] - a.landmarks[0][0]).hypot(a.landmarks[1][1] - a.landmarks[0][1]);
    let sum: f32 = a
        .landmarks
        .iter()
        .zip(&b.landmarks)
        .map(|(p, q)| (p[0] - q[0]).hypot(p[1] - q[1]))
        .sum();
    sum / 5.0 / eyes.max(1.0)
}

/// Cosine of the embeddings of two faces (None when either cannot be aligned).
fn embedded_cosine(
    an: &mut facestream::analyze::Analyzer,
    a: (&Frame, &Detection),
    b: (&Frame, &Detection),
) -> Option<f32> {
    let e = an.embedder().unwrap().embed(&[a, b]).unwrap();
    match &e[..] {
        [Some(x), Some(y)] => Some(x.vector.iter().zip(&y.vector).map(|(p, q)| p * q).sum()),
        _ => None,
    }
}

/// The view the daemon's zoom picks for a camera's next frame when `faces` are what its last
/// full-size frame showed (None: it stays whole at full size).
fn zoomed_view(faces: &[Detection], frame: &Frame, full: u32) -> Option<View> {
    let settings = ZoomSettings {
        face_px: facestream::config::Config::default().detector.zoom_face_px,
        full_every_ms: 250,
    };
    let mut zoom = Zoom::default();
    let cam: std::sync::Arc<str> = "clip".into();
    let dims = (frame.width, frame.height);
    zoom.settle(&cam, 0, View::whole(full), full, dims, faces.to_vec());
    let view = zoom.view_for(settings, "clip", 1, dims, full);
    (view != View::whole(full)).then_some(view)
}

fn percentile(mut v: Vec<f32>, p: f32) -> f32 {
    v.sort_by(f32::total_cmp);
    v[((v.len() - 1) as f32 * p).round() as usize]
}

#[test]
fn faces_found_at_the_reduced_size_align_and_embed_as_at_full_size() {
    let media = common::media();
    let mut an = common::analyzer();
    let full = an.detector().config().max_side;
    let (mut cosines, mut shifts, mut found, mut missed, mut zoomed) = (vec![], vec![], 0, 0, 0);
    let (mut cropped, mut crop_shifts, mut crop_cosines) = (0, vec![], vec![]);
    let mut next_frame = vec![];
    for clip in CLIPS {
        let video = facestream::ingest::video::decode(&media.join(clip), 1 << 30, full).unwrap();
        for (i, (_, frame)) in video.frames.iter().enumerate().step_by(10) {
            let whole = an.detector().detect(frame).unwrap();
            // For scale: the same face one frame later, both at full size.
            if let (Some((_, next)), Some(d)) = (video.frames.get(i + 1), whole.first()) {
                let later = an.detector().detect(next).unwrap();
                if let Some(l) = later.iter().find(|l| l.iou(d) >= 0.3) {
                    next_frame.extend(embedded_cosine(&mut an, (frame, d), (next, l)));
                }
            }
            let Some(view) = zoomed_view(&whole, frame, full) else {
                continue;
            };
            zoomed += 1;
            cropped += usize::from(view.crop.is_some());
            let reduced = an
                .detector()
                .detect_sized(&[(frame, view)])
                .unwrap()
                .remove(0);
            for d in &whole {
                let Some(r) = reduced
                    .iter()
                    .max_by(|a, b| a.iou(d).total_cmp(&b.iou(d)))
                    .filter(|r| r.iou(d) >= 0.3)
                else {
                    missed += 1;
                    continue;
                };
                found += 1;
                let (shift, cosine) = (
                    landmark_shift(d, r),
                    embedded_cosine(&mut an, (frame, d), (frame, r)),
                );
                shifts.push(shift);
                cosines.extend(cosine);
                if view.crop.is_some() {
                    crop_shifts.push(shift);
                    crop_cosines.extend(cosine);
                }
            }
        }
    }
    let (c50, c05, c01) = (
        percentile(cosines.clone(), 0.5),
        percentile(cosines.clone(), 0.05),
        percentile(cosines.clone(), 0.01),
    );
    let (s50, s95) = (
        percentile(shifts.clone(), 0.5),
        percentile(shifts.clone(), 0.95),
    );
    println!(
        "{zoomed} frames zoomed ({cropped} of them cropped to their faces): {found} faces found again, {missed} missed | landmark shift (eye distances) median {s50:.3}, p95 {s95:.3} | embedding cosine full/reduced median {c50:.3}, p5 {c05:.3}, p1 {c01:.3} ({} pairs)",
        cosines.len()
    );
    println!(
        "for scale, one face at full size in two frames in a row: cosine median {:.3}, p5 {:.3}, p1 {:.3} ({} pairs)",
        percentile(next_frame.clone(), 0.5),
        percentile(next_frame.clone(), 0.05),
        percentile(next_frame.clone(), 0.01),
        next_frame.len()
    );
    let (cs50, cs95, cc50, cc05) = (
        percentile(crop_shifts.clone(), 0.5),
        percentile(crop_shifts.clone(), 0.95),
        percentile(crop_cosines.clone(), 0.5),
        percentile(crop_cosines.clone(), 0.05),
    );
    println!(
        "the cropped frames alone: landmark shift median {cs50:.3}, p95 {cs95:.3} | cosine median {cc50:.3}, p5 {cc05:.3} ({} pairs)",
        crop_cosines.len()
    );
    assert!(zoomed >= 60, "{zoomed}");
    // The ASL signer (61–68 px in 640×480) and the portrait talking heads are read in crops.
    assert!(cropped >= 20, "{cropped} cropped");
    assert!(cs50 <= 0.10 && cs95 <= 0.25, "cropped: {cs50} {cs95}");
    assert!(cc50 >= 0.95 && cc05 >= 0.85, "cropped: {cc50} {cc05}");
    assert!(
        missed * 50 <= found,
        "{missed} of {} missed",
        found + missed
    );
    // Measured at 48 px (the default): shift median 0.064 / p95 0.144; cosine median 0.977 / p5
    // 0.883 (the same face in two frames in a row, both at full size: 0.992 / 0.894). At 40 px the
    // p95 shift is 0.346: that is where this fails.
    assert!(s50 <= 0.10 && s95 <= 0.25, "{s50} {s95}");
    assert!(c50 >= 0.95 && c05 >= 0.85, "{c50} {c05}");
}

/// (person, embedding from the full-size reading, from the reduced one)
type GalleryFace = (usize, Vec<f32>, Vec<f32>);

/// Identity on the gallery (193 photos of 45 people): each photo's face embedded from the
/// detector's full-size reading and from a reduced input where the face is `zoom_face_px`; for
/// each, every photo's best match among the others, and the same-person rate at a false-match rate
/// of 0.1 % (over all pairs of different people).
#[test]
fn faces_read_at_the_reduced_size_are_identified_as_at_full_size() {
    let media = common::media();
    let mut an = common::analyzer();
    let full = an.detector().config().max_side;
    let mut people: Vec<_> = std::fs::read_dir(media.join("gallery"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    people.sort();
    let mut faces: Vec<GalleryFace> = vec![];
    let mut reduced_photos = 0;
    for (who, dir) in people.iter().enumerate() {
        for photo in common::images_in(dir) {
            let frame = common::load(&photo);
            let whole = an.detector().detect(&frame).unwrap();
            let Some(d) = facestream::analyze::largest(&whole).map(|i| whole[i].clone()) else {
                continue;
            };
            let view = zoomed_view(std::slice::from_ref(&d), &frame, full);
            reduced_photos += usize::from(view.is_some());
            let view = view.unwrap_or(View::whole(full));
            let reduced = an
                .detector()
                .detect_sized(&[(&frame, view)])
                .unwrap()
                .remove(0);
            let Some(r) = reduced
                .iter()
                .max_by(|a, b| a.iou(&d).total_cmp(&b.iou(&d)))
                .filter(|r| r.iou(&d) >= 0.3)
            else {
                continue;
            };
            let e = an
                .embedder()
                .unwrap()
                .embed(&[(&frame, &d), (&frame, r)])
                .unwrap();
            if let [Some(a), Some(b)] = &e[..] {
                faces.push((who, a.vector.clone(), b.vector.clone()));
            }
        }
    }
    let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    let score = |pick: fn(&GalleryFace) -> &Vec<f32>| {
        let (mut genuine, mut impostor, mut rank1) = (vec![], vec![], 0);
        for (i, a) in faces.iter().enumerate() {
            let mut best = (f32::MIN, usize::MAX);
            for (j, b) in faces.iter().enumerate() {
                if i == j {
                    continue;
                }
                let c = cos(pick(a), pick(b));
                if c > best.0 {
                    best = (c, b.0);
                }
                if j > i {
                    if a.0 == b.0 {
                        genuine.push(c);
                    } else {
                        impostor.push(c);
                    }
                }
            }
            rank1 += usize::from(best.1 == a.0);
        }
        // The strict rate (1 in 1000 pairs of different people) tells more than 1 %: the
        // gallery's photos are clear, and at 1 % both readings find every pair.
        let far = percentile(impostor, 0.999);
        let tar = genuine.iter().filter(|&&g| g >= far).count() as f32 / genuine.len() as f32;
        (rank1, tar, far)
    };
    let (r_full, tar_full, t_full) = score(|f| &f.1);
    let (r_red, tar_red, t_red) = score(|f| &f.2);
    println!(
        "{} gallery faces ({reduced_photos} read reduced): best other photo the same person {r_full} (full size) / {r_red} (reduced); same-person pairs above the 0.1 % false-match similarity: {tar_full:.3} (at {t_full:.3}) / {tar_red:.3} (at {t_red:.3})",
        faces.len()
    );
    assert!(faces.len() >= 180, "{}", faces.len());
    assert!(reduced_photos >= 150, "{reduced_photos}");
    assert!(r_red + 2 >= r_full, "{r_red} < {r_full}");
    assert!(tar_red + 0.02 >= tar_full, "{tar_red} < {tar_full}");
}
