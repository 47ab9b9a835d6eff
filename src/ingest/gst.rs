//! GStreamer sources: `rtspsrc` for cameras, `uridecodebin` for files, ending in an appsink that
//! hands over RGB frames already scaled to the ingest width (converted once, here).

use std::path::Path;
use std::sync::Once;
use std::time::Duration;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::camera::{CameraSettings, FrameSource, IngestError, Pulled, SourceOpener};
use crate::frame::Frame;

static INIT: Once = Once::new();

pub fn init() -> Result<(), IngestError> {
    let mut res = Ok(());
    INIT.call_once(|| {
        res = gst::init().map_err(|e| IngestError::Stream(format!("GStreamer init: {e}")));
    });
    res
}

/// Turns a camera URI or path into a GStreamer URI.
pub fn to_uri(uri: &str) -> Result<String, IngestError> {
    if uri.contains("://") {
        return Ok(uri.to_string());
    }
    let path = Path::new(uri);
    let abs = std::fs::canonicalize(path).map_err(|e| IngestError::Open {
        uri: uri.to_string(),
        message: format!("file: {e}"),
    })?;
    gst::glib::filename_to_uri(&abs, None)
        .map(|u| u.to_string())
        .map_err(|e| IngestError::Open {
            uri: uri.to_string(),
            message: e.to_string(),
        })
}

/// Decoded frames scaled (in YUV) to at most `width` on either side, then converted to RGB.
fn to_rgb(width: u32) -> String {
    format!(
        "videoscale name=shrink ! video/x-raw,width=[16,{side}],height=[16,{side}],pixel-aspect-ratio=1/1 ! videoconvert ! video/x-raw,format=RGB",
        side = width.max(16)
    )
}

/// The largest stream (pixels a frame) one decoder thread takes: up to it, FFmpeg's threads cost
/// more than they give while detection and analysis keep both cores busy (`analyze`, alternating
/// runs: Orlando 320×240 +4 %, d10 512×512 +6.5 %, d13 720×1280 +6 %, s18 1280×720 +1 % frames a
/// second), above it they pay (facenet 1920×1080 −2.3 % on one thread; docs/performance.md, session 43).
const ONE_DECODER_THREAD_MAX_PIXELS: i64 = 1280 * 720;

/// Sets the thread count of the FFmpeg decoder `decodebin` picks (`avdec_*`: its `max-threads`,
/// 0 meaning one per core), as it is added. `threads` 0: chosen by the stream's size when its
/// caps reach the decoder, before it opens (one thread up to [`ONE_DECODER_THREAD_MAX_PIXELS`],
/// else FFmpeg's own; a stream whose caps give no size keeps FFmpeg's own).
fn decoder_threads(pipeline: &gst::Pipeline, threads: u32) {
    let threads = i32::try_from(threads).unwrap_or(i32::MAX);
    pipeline.connect_deep_element_added(move |_, _, e| {
        let ffmpeg = e.factory().is_some_and(|f| f.name().starts_with("avdec_"));
        let int = e
            .find_property("max-threads")
            .is_some_and(|p| p.value_type() == gst::glib::Type::I32);
        if !(ffmpeg && int) {
            return;
        }
        if threads > 0 {
            e.set_property("max-threads", threads);
            return;
        }
        let Some(pad) = e.static_pad("sink") else {
            return;
        };
        let decoder = e.downgrade();
        // A sink pad's probe sees the caps event before the decoder's handler, which opens FFmpeg
        // with the thread count then set (again at a new size).
        pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, move |_, info| {
            if let Some(gst::PadProbeData::Event(ev)) = &info.data {
                if let gst::EventView::Caps(c) = ev.view() {
                    if let Some(decoder) = decoder.upgrade() {
                        decoder.set_property("max-threads", threads_for_size(c.caps()));
                    }
                }
            }
            gst::PadProbeReturn::Ok
        });
    });
}

/// Stops `uridecodebin` at a file's audio tracks: it decoded them (`avdec_aac` for most of the sample
/// clips) only to leave them on a pad nobody reads. Their encoded pad stays unlinked, as the decoded
/// one did.
fn video_only(pipeline: &gst::Pipeline) {
    let Some(bin) = pipeline.by_name("decode") else {
        return;
    };
    bin.connect("autoplug-continue", false, |args| {
        let audio = args
            .get(2)
            .and_then(|v| v.get::<gst::Caps>().ok())
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/")))
            .unwrap_or(false);
        Some((!audio).to_value())
    });
}

/// The decoder's threads for a stream with these caps: 1 up to [`ONE_DECODER_THREAD_MAX_PIXELS`],
/// else 0 (FFmpeg's own, one per core).
fn threads_for_size(caps: &gst::CapsRef) -> i32 {
    let size = caps.structure(0).and_then(|s| {
        let (w, h) = (s.get::<i32>("width").ok()?, s.get::<i32>("height").ok()?);
        Some(i64::from(w) * i64::from(h))
    });
    match size {
        Some(px) if px > 0 && px <= ONE_DECODER_THREAD_MAX_PIXELS => 1,
        _ => 0,
    }
}

/// Keeps `videoscale` a scaler. A stream whose caps leave out its colorimetry gets GStreamer's
/// default for its size (BT.709 for HD), and the smaller output the default for SD (BT.601), so
/// `videoscale` also converted the colour matrix, through its slowest path: +0.34 s of CPU for
/// the 180 frames of s32 (1280×720), against nothing for s18 whose stream names BT.709 (session
/// 37). The decoder's caps are given their colorimetry explicitly, which the output then keeps.
fn keep_colorimetry(pipeline: &gst::Pipeline) {
    let Some(pad) = pipeline
        .by_name("shrink")
        .and_then(|e| e.static_pad("sink"))
    else {
        return;
    };
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
        if let Some(gst::PadProbeData::Event(ev)) = &mut info.data {
            if let gst::EventView::Caps(c) = ev.view() {
                if let Some(explicit) = with_colorimetry(c.caps()) {
                    *ev = gst::event::Caps::new(&explicit);
                }
            }
        }
        gst::PadProbeReturn::Ok
    });
}

/// `caps` with the colorimetry GStreamer assumes for them written in, when they leave it out.
fn with_colorimetry(caps: &gst::CapsRef) -> Option<gst::Caps> {
    let s = caps.structure(0)?;
    if s.has_field("colorimetry") {
        return None;
    }
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let mut explicit = caps.to_owned();
    explicit
        .make_mut()
        .structure_mut(0)?
        .set("colorimetry", info.colorimetry().to_string());
    Some(explicit)
}

/// Opens GStreamer pipelines for cameras.
#[derive(Default)]
pub struct GstOpener {
    /// RTSP over TCP only (no UDP attempt first).
    pub rtsp_tcp_only: bool,
}

impl SourceOpener for GstOpener {
    fn open(&mut self, s: &CameraSettings) -> Result<Box<dyn FrameSource>, IngestError> {
        Ok(Box::new(self.pipeline(s)?))
    }
}

impl GstOpener {
    /// The camera's pipeline, playing.
    fn pipeline(&self, s: &CameraSettings) -> Result<GstSource, IngestError> {
        init()?;
        let open_err = |m: String| IngestError::Open {
            uri: s.uri.clone(),
            message: m,
        };
        // Scaled while still YUV (a quarter of RGB's bytes, and the 1080p frame is never converted
        // whole) so that neither side exceeds `width`, never up: a 176-px clip stays 176 px (the
        // detector sizes its input from the frame), and a portrait 720×1364 clip becomes 338×640,
        // the detector's own input, instead of 640×1213. Then one conversion of the small frame
        // to RGB.
        let tail = format!(
            "{} ! appsink name=sink max-buffers=4 drop=false sync={}",
            to_rgb(s.width),
            s.realtime && !s.is_live(),
        );
        let desc = if s.is_live() {
            let protocols = if self.rtsp_tcp_only {
                " protocols=tcp"
            } else {
                ""
            };
            format!(
                "rtspsrc location=\"{}\" latency={}{protocols} ! decodebin ! {tail}",
                s.uri, s.rtsp_latency_ms
            )
        } else {
            let uri = to_uri(&s.uri)?;
            if uri.starts_with("file://") {
                let local = gst::glib::filename_from_uri(&uri)
                    .map_err(|e| open_err(e.to_string()))?
                    .0;
                if !local.is_file() {
                    return Err(open_err(format!("no such file {}", local.display())));
                }
            }
            format!("uridecodebin name=decode uri=\"{uri}\" caps=video/x-raw ! {tail}")
        };
        let pipeline = gst::parse::launch(&desc)
            .map_err(|e| open_err(e.to_string()))?
            .downcast::<gst::Pipeline>()
            .map_err(|_| open_err("not a pipeline".into()))?;
        keep_colorimetry(&pipeline);
        decoder_threads(&pipeline, s.decoder_threads);
        video_only(&pipeline);
        let sink = pipeline
            .by_name("sink")
            .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
            .ok_or_else(|| open_err("no appsink".into()))?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| open_err(format!("cannot start: {e}")))?;
        Ok(GstSource {
            pipeline,
            sink,
            uri: s.uri.clone(),
        })
    }
}

pub struct GstSource {
    pipeline: gst::Pipeline,
    sink: gst_app::AppSink,
    uri: String,
}

impl GstSource {
    /// The pipeline's error, reduced to its cause (the full text goes to the debug log).
    fn bus_error(&self) -> Option<String> {
        let bus = self.pipeline.bus()?;
        while let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error]) {
            if let gst::MessageView::Error(e) = msg.view() {
                let details = e.debug().map(|d| d.to_string()).unwrap_or_default();
                tracing::debug!(uri = %super::cause::mask_uri(&self.uri), error = %e.error(), details = %details, "GStreamer error");
                return Some(super::cause::reduce(
                    &self.uri,
                    &e.error().to_string(),
                    &details,
                ));
            }
        }
        None
    }
}

impl FrameSource for GstSource {
    fn pull(&mut self, timeout: Duration) -> Result<Pulled, IngestError> {
        if let Some(e) = self.bus_error() {
            return Err(IngestError::Stream(e));
        }
        let Some(sample) = self
            .sink
            .try_pull_sample(gst::ClockTime::from_mseconds(timeout.as_millis() as u64))
        else {
            if self.sink.is_eos() {
                return Ok(Pulled::Eos);
            }
            return Ok(Pulled::Timeout);
        };
        let caps = sample
            .caps()
            .ok_or_else(|| IngestError::Stream("sample without caps".into()))?;
        let info = gst_video::VideoInfo::from_caps(caps)
            .map_err(|e| IngestError::Stream(e.to_string()))?;
        let buffer = sample
            .buffer()
            .ok_or_else(|| IngestError::Stream("sample without buffer".into()))?;
        let pts_ms = buffer
            .pts()
            .map(gstreamer::ClockTime::mseconds)
            .unwrap_or(0);
        let map = buffer
            .map_readable()
            .map_err(|e| IngestError::Stream(e.to_string()))?;
        let (w, h) = (info.width() as usize, info.height() as usize);
        let stride = info.stride()[0] as usize;
        let data = map.as_slice();
        if stride < w * 3 || data.len() < stride * (h.saturating_sub(1)) + w * 3 {
            return Err(IngestError::Stream(
                "frame buffer smaller than its caps".into(),
            ));
        }
        let mut rgb = Vec::with_capacity(w * h * 3);
        for row in 0..h {
            rgb.extend_from_slice(&data[row * stride..row * stride + w * 3]);
        }
        let frame = Frame::new(w as u32, h as u32, rgb)
            .ok_or_else(|| IngestError::Stream("bad frame size".into()))?;
        Ok(Pulled::Frame { frame, pts_ms })
    }

    /// A flushing seek to the start: the pipeline, its decoder and its clock stay up, so a looping
    /// file plays on without the second or so that a rebuild costs.
    fn rewind(&mut self) -> bool {
        self.pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                gst::ClockTime::ZERO,
            )
            .is_ok()
    }
}

impl Drop for GstSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Duration of a media file in ms, when the container says. The file's first frame goes through
/// the cameras' own scaling and conversion to `width` (its preroll), so that a process about to
/// read the file has GStreamer's demuxer, decoder and converters loaded and compiled.
pub fn file_duration_ms(uri: &str, width: u32) -> Option<u64> {
    init().ok()?;
    let uri = to_uri(uri).ok()?;
    let d = gstreamer_pbutils_free_duration(&uri, width)?;
    Some(d)
}

/// Prerolls the file and asks the pipeline for its duration (no pbutils dependency needed).
fn gstreamer_pbutils_free_duration(uri: &str, width: u32) -> Option<u64> {
    let p = gst::parse::launch(&format!(
        "uridecodebin name=decode uri=\"{uri}\" caps=video/x-raw ! {} ! fakesink",
        to_rgb(width)
    ))
    .ok()?
    .downcast::<gst::Pipeline>()
    .ok()?;
    keep_colorimetry(&p);
    video_only(&p);
    p.set_state(gst::State::Paused).ok()?;
    let (res, _, _) = p.state(gst::ClockTime::from_seconds(5));
    let d = res
        .ok()
        .and_then(|_| p.query_duration::<gst::ClockTime>())
        .map(gstreamer::ClockTime::mseconds);
    let _ = p.set_state(gst::State::Null);
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CameraConfig, PipelineConfig};

    #[test]
    fn caps_that_leave_out_their_colorimetry_get_the_assumed_one_written_in() {
        init().unwrap();
        let hd: gst::Caps = "video/x-raw,format=I420,width=1280,height=720"
            .parse()
            .unwrap();
        let explicit = with_colorimetry(&hd).unwrap();
        let s = explicit.structure(0).unwrap();
        assert_eq!(s.get::<String>("colorimetry").unwrap(), "bt709");
        assert_eq!(s.get::<i32>("width").unwrap(), 1280);
        let sd: gst::Caps = "video/x-raw,format=I420,width=640,height=360"
            .parse()
            .unwrap();
        let s = with_colorimetry(&sd).unwrap();
        assert_eq!(
            s.structure(0)
                .unwrap()
                .get::<String>("colorimetry")
                .unwrap(),
            "bt601"
        );
        let named: gst::Caps = "video/x-raw,format=I420,width=1280,height=720,colorimetry=bt601"
            .parse()
            .unwrap();
        assert!(
            with_colorimetry(&named).is_none(),
            "kept as the stream says"
        );
    }

    /// A camera reading a clip of ../shared/media/video once, every frame, default settings.
    fn clip_camera(clip: &str) -> CameraSettings {
        let video = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/media/video")
            .join(clip);
        let cam = CameraConfig {
            id: clip.into(),
            uri: video.display().to_string(),
            detect_fps: 0.0,
            enabled: true,
            looping: false,
            face_sets: vec![],
        };
        CameraSettings::new(&cam, &PipelineConfig::default(), false)
    }

    /// s32 (1280×720 H.264) does not name its colorimetry: `videoscale` used to convert it from
    /// HD's default to SD's on the way to 640×360 (the slow path, the frame's colours re-matrixed).
    #[test]
    fn a_stream_that_leaves_out_its_colorimetry_is_scaled_without_converting_colours() {
        let settings = clip_camera("liveportrait_s32.mp4");
        let mut src = GstOpener::default().pipeline(&settings).unwrap();
        let Pulled::Frame { frame, .. } = src.pull(Duration::from_secs(10)).unwrap() else {
            panic!("no frame");
        };
        assert_eq!((frame.width, frame.height), (640, 360));
        let shrink = src.pipeline.by_name("shrink").unwrap();
        let colorimetry = |pad: &str| {
            let caps = shrink.static_pad(pad).unwrap().current_caps().unwrap();
            gst_video::VideoInfo::from_caps(&caps)
                .unwrap()
                .colorimetry()
                .to_string()
        };
        assert_eq!(colorimetry("sink"), "bt709");
        assert_eq!(colorimetry("src"), colorimetry("sink"));
    }

    /// A clip's audio track is left encoded: no parser or decoder of audio in the camera's
    /// pipeline (before: `aacparse ! avdec_aac`, decoding what nobody read), its frames as before.
    #[test]
    fn a_file_s_audio_is_not_decoded() {
        let settings = clip_camera("liveportrait_d10.mp4");
        let mut src = GstOpener::default().pipeline(&settings).unwrap();
        let mut frames = 0;
        while let Pulled::Frame { .. } = src.pull(Duration::from_secs(10)).unwrap() {
            frames += 1;
        }
        assert_eq!(frames, 448, "every frame of the clip");
        let audio: Vec<String> = src
            .pipeline
            .iterate_recurse()
            .into_iter()
            .filter_map(Result::ok)
            .filter_map(|e| e.factory())
            .filter(|f| f.metadata("klass").is_some_and(|k| k.contains("Audio")))
            .map(|f| f.name().to_string())
            .collect();
        assert!(audio.is_empty(), "audio elements: {audio:?}");
    }

    /// `pipeline.decoder_threads` reaches the FFmpeg decoder `decodebin` picks; 0 chooses by the
    /// stream's size: one thread for the 480×270 clip, FFmpeg's own (one per core) for 1080p.
    #[test]
    fn a_camera_decodes_on_the_threads_it_was_given() {
        let (small, large) = (
            "intel_face-demographics-walking.mp4",
            "facenet-pytorch_video_1080p.mp4",
        );
        for (clip, threads, expected) in [
            (small, 1, 1),
            (small, 3, 3),
            (large, 1, 1),
            (small, 0, 1),
            (large, 0, 0),
        ] {
            let mut settings = clip_camera(clip);
            settings.decoder_threads = threads;
            let mut src = GstOpener::default().pipeline(&settings).unwrap();
            assert!(matches!(
                src.pull(Duration::from_secs(10)).unwrap(),
                Pulled::Frame { .. }
            ));
            let decoder = src
                .pipeline
                .iterate_recurse()
                .into_iter()
                .filter_map(Result::ok)
                .find(|e| {
                    e.factory().is_some_and(|f| f.name().starts_with("avdec_"))
                        && e.find_property("max-threads").is_some()
                })
                .expect("an FFmpeg video decoder");
            assert_eq!(
                decoder.property::<i32>("max-threads"),
                expected,
                "{clip}, {threads}"
            );
        }
    }
}
