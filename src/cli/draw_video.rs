//! The annotated video of `analyze --draw`: tracked frames drawn and encoded in the container its
//! file name asks for (H.264 in MP4, MOV or MKV; VP8 in WebM); any other name (AVI needs a frame rate
//! a variable-rate analysis does not have) is refused
//! before the analysis starts.

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::Receiver;
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use crate::draw;
use crate::track::stage::TrackedFrame;

/// The encoder and muxer for a file name's extension.
pub fn container_for(path: &std::path::Path) -> anyhow::Result<&'static str> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "mp4" | "m4v" => "x264enc speed-preset=veryfast ! mp4mux",
        "mov" => "x264enc speed-preset=veryfast ! qtmux",
        "mkv" => "x264enc speed-preset=veryfast ! matroskamux",
        "webm" => "vp8enc deadline=1 ! webmmux",
        _ => anyhow::bail!(
            "--draw {}: unsupported container {ext:?}; use .mp4, .m4v, .mov, .mkv or .webm",
            path.display()
        ),
    })
}

pub fn spawn(
    path: PathBuf,
    frames: Receiver<TrackedFrame>,
) -> anyhow::Result<JoinHandle<anyhow::Result<()>>> {
    container_for(&path)?;
    crate::ingest::gst::init()?;
    Ok(std::thread::Builder::new()
        .name("draw-video".into())
        .spawn(move || write(path, frames))?)
}

fn write(path: PathBuf, frames: Receiver<TrackedFrame>) -> anyhow::Result<()> {
    let mut pipeline: Option<(gst::Pipeline, gst_app::AppSrc)> = None;
    for tf in frames.iter() {
        let mut canvas = (*tf.frame).clone();
        let s = draw::stroke_for(&canvas);
        for (id, d) in &tf.tracks {
            draw::rect(&mut canvas, d.x, d.y, d.w, d.h, s, draw::GREEN);
            let y = (d.y - 8.0 * s as f32 - 4.0).max(0.0);
            draw::label(
                &mut canvas,
                d.x,
                y,
                &format!("#{id} {:.2}", d.score),
                s,
                draw::WHITE,
            );
        }
        draw::label(
            &mut canvas,
            4.0,
            4.0,
            &format!("{} {:.2}s", tf.camera, tf.pts_ms as f64 / 1000.0),
            s,
            draw::YELLOW,
        );
        if pipeline.is_none() {
            // Even sizes for the encoder's 4:2:0.
            let desc = format!(
                "appsrc name=src format=time is-live=false caps=video/x-raw,format=RGB,width={},height={},framerate=0/1 ! videoconvert ! videoscale ! video/x-raw,format=I420,width={},height={} ! {} ! filesink location=\"{}\"",
                canvas.width, canvas.height, canvas.width & !1, canvas.height & !1, container_for(&path)?, path.display()
            );
            let p = gst::parse::launch(&desc)?
                .downcast::<gst::Pipeline>()
                .map_err(|_| anyhow::anyhow!("not a pipeline"))?;
            let src = p
                .by_name("src")
                .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
                .ok_or_else(|| anyhow::anyhow!("no appsrc"))?;
            p.set_state(gst::State::Playing)?;
            pipeline = Some((p, src));
        }
        if let Some((_, src)) = &pipeline {
            let mut buf = gst::Buffer::from_mut_slice(canvas.rgb);
            if let Some(b) = buf.get_mut() {
                b.set_pts(gst::ClockTime::from_mseconds(tf.pts_ms));
            }
            src.push_buffer(buf)?;
        }
    }
    if let Some((p, src)) = pipeline {
        src.end_of_stream()?;
        let bus = p.bus().ok_or_else(|| anyhow::anyhow!("no bus"))?;
        for msg in bus.iter_timed(gst::ClockTime::from_seconds(30)) {
            match msg.view() {
                gst::MessageView::Eos(_) => break,
                gst::MessageView::Error(e) => {
                    let _ = p.set_state(gst::State::Null);
                    return Err(anyhow::anyhow!("video writer: {}", e.error()));
                }
                _ => {}
            }
        }
        p.set_state(gst::State::Null)?;
    }
    Ok(())
}
