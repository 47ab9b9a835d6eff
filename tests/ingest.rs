//! GStreamer ingest on a real file: a looping file rewinds in place (no pipeline rebuild) and plays
//! its frames again from the start.

mod common;

use std::time::Duration;

use facestream::config::{CameraConfig, PipelineConfig};
use facestream::ingest::camera::{CameraSettings, FrameSource, Pulled, SourceOpener};
use facestream::ingest::gst::GstOpener;

/// Frame timestamps until the end of the stream.
fn pull_to_eos(src: &mut dyn FrameSource) -> Vec<u64> {
    let mut pts = vec![];
    loop {
        match src.pull(Duration::from_secs(5)).expect("pull") {
            Pulled::Frame { pts_ms, .. } => pts.push(pts_ms),
            Pulled::Eos => return pts,
            Pulled::Timeout => panic!("no frame within 5 s after {} frames", pts.len()),
        }
    }
}

#[test]
fn a_file_rewinds_in_place_and_plays_again_from_the_start() {
    let video = common::media().join("liveness/intel_head-pose-face-detection-female.mp4");
    let cam = CameraConfig {
        id: "file".into(),
        uri: video.display().to_string(),
        detect_fps: 0.0,
        enabled: true,
        looping: true,
        face_sets: vec![],
    };
    let settings = CameraSettings::new(&cam, &PipelineConfig::default(), false);
    let mut src = GstOpener::default().open(&settings).expect("open the clip");
    let first = pull_to_eos(src.as_mut());
    assert!(src.rewind(), "a local file is seekable");
    let second = pull_to_eos(src.as_mut());
    println!(
        "round 1: {} frames, pts {:?}..{:?}; round 2 after rewind: {} frames, pts {:?}..{:?}",
        first.len(),
        first.first(),
        first.last(),
        second.len(),
        second.first(),
        second.last()
    );
    // MEDIA.md: 1.9 s at 12 fps, 23 frames.
    assert!((20..=24).contains(&first.len()), "{first:?}");
    assert_eq!(second.len(), first.len(), "the whole clip plays again");
    assert_eq!(
        second, first,
        "the second round starts at the beginning, frame for frame"
    );
}
