//! Tencent actions that only look at images: DetectFace, CompareFace, DetectLiveFace.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{embedding, faces_of, image, int, rect, Reply, MODEL};
use crate::analyze::Wanted;
use crate::api::body::Form;
use crate::api::state::ApiState;

pub async fn detect(st: &Arc<ApiState>, body: &Form) -> Reply {
    let flag = |k: &str| {
        body.get(k)
            .is_some_and(|v| v.as_i64() == Some(1) || v.as_bool() == Some(true))
    };
    let (attrs, quality) = (flag("NeedFaceAttributes"), flag("NeedQualityDetection"));
    let max = int(body, "MaxFaceNum", 1, (1, 120))? as usize;
    let want = Wanted {
        attributes: attrs,
        quality: quality || attrs,
        antispoof: false,
        embedding: false,
        picture: false,
    };
    let (w, h, faces) = faces_of(st, image(st, body, "").await?, want, max).await?;
    let infos: Vec<Value> = faces
        .iter()
        .map(|f| {
            let mut o = rect(f);
            if attrs {
                let a = f.attributes.as_ref();
                let p = f.pose.as_ref();
                // Tencent: Gender 0-49 female, 50-100 male.
                o["FaceAttributesInfo"] = json!({
                    "Gender": a.map(|a| (a.male_probability * 100.0).round() as i64),
                    "Age": a.map(|a| a.age.round() as i64),
                    "Mask": a.map(|a| a.mask),
                    "Pitch": p.map(|p| p.pitch.round() as i64),
                    "Yaw": p.map(|p| p.yaw.round() as i64),
                    "Roll": p.map(|p| p.roll.round() as i64),
                });
            }
            if quality {
                if let Some(q) = &f.quality {
                    // Tencent scores quality 0-100, higher is better.
                    let sharp = ((1.0 - q.blur) * 100.0).round();
                    o["FaceQualityInfo"] = json!({
                        "Score": if q.passed { sharp.max(70.0) } else { sharp.min(69.0) },
                        "Sharpness": sharp,
                        "Brightness": (q.illumination / 2.55).round(),
                        "Completeness": {"Overall": (q.completeness * 100.0).round()},
                    });
                }
            }
            o
        })
        .collect();
    Ok(json!({"ImageWidth": w, "ImageHeight": h, "FaceInfos": infos, "FaceModelVersion": MODEL}))
}

pub async fn compare(st: &Arc<ApiState>, body: &Form) -> Reply {
    let want = Wanted {
        embedding: true,
        ..Wanted::default()
    };
    let (a, b) = (image(st, body, "A").await?, image(st, body, "B").await?);
    let ea = embedding(&faces_of(st, a, want, 1).await?.2.remove(0))?;
    let eb = embedding(&faces_of(st, b, want, 1).await?.2.remove(0))?;
    let sim = ea.similarity(&eb).unwrap_or(0.0);
    Ok(json!({"Score": (sim as f64 * 10000.0).round() / 100.0, "FaceModelVersion": MODEL}))
}

/// Passive (single image) liveness of the largest face: the anti-spoof model's real-face score.
pub async fn detect_live_face(st: &Arc<ApiState>, body: &Form) -> Reply {
    let r = st.photo_liveness(image(st, body, "").await?).await?;
    Ok(
        json!({"Score": (r.confidence * 100.0).round(), "IsLiveness": r.alive,
        "FaceModelVersion": MODEL}),
    )
}
