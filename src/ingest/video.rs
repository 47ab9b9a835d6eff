//! Video clips decoded with FFmpeg (ffmpeg-next): any container and codec FFmpeg has, frame times from
//! the stream's own timestamps (not assumed from a frame rate), frames scaled once to RGB.

use std::path::Path;

use ffmpeg_next as ffmpeg;

use crate::frame::Frame;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    #[error("{path}: file not found or not readable ({reason})")]
    Unreadable { path: String, reason: String },
    #[error("{path}: {bytes} bytes, over the limit of {limit}")]
    TooLarge {
        path: String,
        bytes: u64,
        limit: u64,
    },
    #[error("{path}: not a decodable video ({reason})")]
    Undecodable { path: String, reason: String },
}

/// A decoded clip.
pub struct Clip {
    /// (stream time in ms from the first frame, frame)
    pub frames: Vec<(u64, Frame)>,
    pub duration_ms: u64,
    pub codec: String,
    pub container: String,
}

/// Decodes a whole clip, scaling frames so the longer side is at most `max_side`.
pub fn decode(path: &Path, max_bytes: u64, max_side: u32) -> Result<Clip, VideoError> {
    let p = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| VideoError::Unreadable {
        path: p.clone(),
        reason: e.to_string(),
    })?;
    if !meta.is_file() {
        return Err(VideoError::Unreadable {
            path: p,
            reason: "not a regular file".into(),
        });
    }
    if meta.len() > max_bytes {
        return Err(VideoError::TooLarge {
            path: p,
            bytes: meta.len(),
            limit: max_bytes,
        });
    }
    let bad = |r: String| VideoError::Undecodable {
        path: p.clone(),
        reason: r,
    };
    ffmpeg::init().map_err(|e| bad(e.to_string()))?;
    // FFmpeg's own warnings (odd metadata, deprecated pixel formats) would go raw to stderr, outside
    // the daemon's log; decoding problems reach the caller as errors instead.
    ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Error);
    let mut input = ffmpeg::format::input(path).map_err(|e| bad(e.to_string()))?;
    let container = input.format().name().to_string();
    let stream = input
        .streams()
        .best(ffmpeg::media::Type::Video)
        .ok_or_else(|| bad("no video stream".into()))?;
    let index = stream.index();
    let tb = stream.time_base();
    let ctx = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| bad(e.to_string()))?;
    let mut decoder = ctx
        .decoder()
        .video()
        .map_err(|e| bad(format!("no decoder: {e}")))?;
    let codec = decoder
        .codec()
        .map(|c| c.name().to_string())
        .unwrap_or_else(|| "unknown".into());
    let (w, h) = (decoder.width(), decoder.height());
    if w == 0 || h == 0 {
        return Err(bad("video has no size".into()));
    }
    let scale = (max_side as f32 / w.max(h) as f32).min(1.0);
    let (ow, oh) = (
        ((w as f32 * scale) as u32).max(2) & !1,
        ((h as f32 * scale) as u32).max(2) & !1,
    );
    let mut scaler = ffmpeg::software::scaling::Context::get(
        decoder.format(),
        w,
        h,
        ffmpeg::format::Pixel::RGB24,
        ow,
        oh,
        ffmpeg::software::scaling::Flags::BILINEAR,
    )
    .map_err(|e| bad(e.to_string()))?;
    let to_ms =
        |ts: i64| -> i64 { ts * 1000 * tb.numerator() as i64 / tb.denominator().max(1) as i64 };
    let mut frames: Vec<(i64, Frame)> = vec![];
    let mut receive = |decoder: &mut ffmpeg::decoder::Video,
                       frames: &mut Vec<(i64, Frame)>|
     -> Result<(), VideoError> {
        let mut decoded = ffmpeg::frame::Video::empty();
        while decoder.receive_frame(&mut decoded).is_ok() {
            let mut rgb = ffmpeg::frame::Video::empty();
            scaler
                .run(&decoded, &mut rgb)
                .map_err(|e| bad(e.to_string()))?;
            let stride = rgb.stride(0);
            let data = rgb.data(0);
            let mut buf = Vec::with_capacity((ow * oh * 3) as usize);
            for row in 0..oh as usize {
                buf.extend_from_slice(&data[row * stride..row * stride + ow as usize * 3]);
            }
            let ts = decoded
                .timestamp()
                .or(decoded.pts())
                .unwrap_or(frames.len() as i64);
            if let Some(f) = Frame::new(ow, oh, buf) {
                frames.push((to_ms(ts), f));
            }
        }
        Ok(())
    };
    for (s, packet) in input.packets() {
        if s.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_err() {
            continue; // a damaged packet: keep what decodes
        }
        receive(&mut decoder, &mut frames)?;
    }
    let _ = decoder.send_eof();
    receive(&mut decoder, &mut frames)?;
    if frames.is_empty() {
        return Err(bad("no frame could be decoded".into()));
    }
    frames.sort_by_key(|f| f.0);
    let first = frames[0].0;
    let frames: Vec<(u64, Frame)> = frames
        .into_iter()
        .map(|(t, f)| ((t - first).max(0) as u64, f))
        .collect();
    let last = frames.last().map(|f| f.0).unwrap_or(0);
    let step = if frames.len() > 1 {
        last / (frames.len() as u64 - 1)
    } else {
        0
    };
    Ok(Clip {
        duration_ms: last + step,
        frames,
        codec,
        container,
    })
}
