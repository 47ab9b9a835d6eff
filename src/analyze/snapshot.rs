//! Face pictures: the small JPEG snapshot that events and liveness results carry, and the
//! enrolment picture a face set keeps (when configured) so it can be re-embedded by another model.

use base64::Engine;

use super::crops::box_crop;
use crate::detect::Detection;
use crate::frame::{Affine, Frame};

/// A face cut out of its image with a margin, as JPEG, and the detector's 5 points in its pixels:
/// enough to align it again for any embedder without detecting it again.
#[derive(Debug, Clone, PartialEq)]
pub struct FacePicture {
    pub jpeg: Vec<u8>,
    pub landmarks: [[f32; 2]; 5],
}

/// Margin (share of the box's longer side, per side) and size cap of enrolment pictures: the
/// dlib template reaches further past the eyes than ArcFace's, and 320 px keeps the face itself
/// above both embedders' input sizes (112 and 150 px).
const ENROLMENT_MARGIN: f32 = 0.5;
const ENROLMENT_MAX_SIDE: usize = 320;

/// The face with a margin of `margin` × its longer side, at most `max_side` px square. `square`
/// keeps the face's proportions where the margin leaves the image (black there); otherwise the
/// region is clipped to the image and stretched to the square.
fn cut(
    frame: &Frame,
    d: &Detection,
    margin: f32,
    max_side: usize,
    square: bool,
) -> Option<FacePicture> {
    let long = d.w.max(d.h);
    let margin = margin * long;
    let side = ((long + 2.0 * margin) as usize).clamp(16, max_side);
    let m = if square {
        let span = long + 2.0 * margin;
        let (cx, cy) = (d.x + d.w / 2.0, d.y + d.h / 2.0);
        Affine::crop_resize(cx - span / 2.0, cy - span / 2.0, span, span, side, side)
    } else {
        box_crop(frame, d, margin, side)
    };
    let mut rgb = vec![0u8; side * side * 3];
    frame.warp(&m, side, side, |x, y, p| {
        let i = (y * side + x) * 3;
        rgb[i] = p[0] as u8;
        rgb[i + 1] = p[1] as u8;
        rgb[i + 2] = p[2] as u8;
    });
    let to_crop = m.invert()?;
    let landmarks = d.landmarks.map(|[x, y]| {
        let (u, v) = to_crop.apply(x, y);
        [u, v]
    });
    let img = image::RgbImage::from_raw(side as u32, side as u32, rgb)?;
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).ok()?;
    Some(FacePicture {
        jpeg: out.into_inner(),
        landmarks,
    })
}

/// The face with a margin, as a base64 JPEG of at most 160 px (snapshots and liveness pictures).
pub fn face_jpeg(frame: &Frame, d: &Detection) -> Option<String> {
    let p = cut(frame, d, 0.25, 160, false)?;
    Some(base64::engine::general_purpose::STANDARD.encode(p.jpeg))
}

/// The picture a face set keeps of an enrolled face.
pub fn enrolment_picture(frame: &Frame, d: &Detection) -> Option<FacePicture> {
    cut(frame, d, ENROLMENT_MARGIN, ENROLMENT_MAX_SIDE, true)
}

impl FacePicture {
    /// The picture decoded again, and a detection carrying its stored landmarks (for alignment).
    pub fn decode(&self) -> Result<(Frame, Detection), String> {
        let img = image::load_from_memory_with_format(&self.jpeg, image::ImageFormat::Jpeg)
            .map_err(|e| format!("stored face picture: {e}"))?
            .to_rgb8();
        let (w, h) = img.dimensions();
        let frame = Frame::new(w, h, img.into_raw()).ok_or("stored face picture: bad size")?;
        let det = Detection {
            x: 0.0,
            y: 0.0,
            w: w as f32,
            h: h as f32,
            score: 1.0,
            landmarks: self.landmarks,
        };
        Ok((frame, det))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn landmarks_follow_the_face_into_the_picture() {
        // A 200×100 image, a face box at (120, 5) 40×40 with one landmark at its centre.
        let frame = Frame::new(200, 100, vec![90; 200 * 100 * 3]).unwrap();
        let det = Detection {
            x: 120.0,
            y: 5.0,
            w: 40.0,
            h: 40.0,
            score: 0.9,
            landmarks: [[140.0, 25.0]; 5],
        };
        let p = enrolment_picture(&frame, &det).unwrap();
        let (f, d) = p.decode().unwrap();
        // 20 px margin per side: the picture spans 100..180 × -15..65 (black above the image),
        // 80 px square, the face's proportions kept.
        assert_eq!((f.width, f.height), (80, 80));
        let [u, v] = d.landmarks[0];
        assert!((u - 40.0).abs() < 0.6 && (v - 40.0).abs() < 0.6, "{u} {v}");
        assert!(
            f.rgb[..80 * 3 * 10].iter().all(|&c| c < 10),
            "above the image is black"
        );
        assert!(f.rgb[80 * 3 * 40..80 * 3 * 41]
            .iter()
            .all(|&c| (80..100).contains(&c)));
    }
}
