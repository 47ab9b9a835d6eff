//! Face embeddings: align, run the embedder in batches, L2-normalise; and comparison on a 0..1 scale.

use super::crops::{align, Layout, ARCFACE_112, DLIB_150};
use crate::config::EmbedderKind;
use crate::detect::Detection;
use crate::frame::Frame;
use crate::models::{batch_tensor, ModelError, ModelSession, Role, SessionSettings};

/// An embedding and the model that made it: vectors of different models are never compared.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Embedding {
    pub model: EmbedderKind,
    pub vector: Vec<f32>,
}

impl Embedding {
    /// Similarity 0..1. MobileFaceNet: cosine of the unit vectors, clamped at 0 (unrelated faces score
    /// about 0). dlib: 1 − L2/2, clamped, so dlib's "same person below L2 0.6" is similarity 0.7.
    /// None when the two vectors come from different models.
    pub fn similarity(&self, other: &Embedding) -> Option<f32> {
        if self.model != other.model || self.vector.len() != other.vector.len() {
            return None;
        }
        let s = match self.model {
            EmbedderKind::Mobilefacenet => self
                .vector
                .iter()
                .zip(&other.vector)
                .map(|(a, b)| a * b)
                .sum::<f32>(),
            EmbedderKind::Dlib => {
                let d2: f32 = self
                    .vector
                    .iter()
                    .zip(&other.vector)
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                1.0 - d2.sqrt() / 2.0
            }
        };
        Some(s.clamp(0.0, 1.0))
    }
}

pub struct Embedder {
    session: ModelSession,
    kind: EmbedderKind,
}

impl Embedder {
    /// Time spent inside ONNX Runtime for this model.
    pub fn session_time(&self) -> std::time::Duration {
        self.session.run_time()
    }

    pub fn open(settings: &SessionSettings, kind: EmbedderKind) -> Result<Self, ModelError> {
        let role = match kind {
            EmbedderKind::Mobilefacenet => Role::Embedder,
            EmbedderKind::Dlib => Role::EmbedderDlib,
        };
        Ok(Self {
            session: ModelSession::open(settings, role)?,
            kind,
        })
    }

    pub fn kind(&self) -> EmbedderKind {
        self.kind
    }

    fn layout(&self) -> (Layout, &'static [[f32; 2]; 5]) {
        match self.kind {
            EmbedderKind::Mobilefacenet => (
                Layout {
                    size: 112,
                    nchw: false,
                    bgr: false,
                    mean: [127.5; 3],
                    scale: 1.0 / 128.0,
                },
                &ARCFACE_112,
            ),
            EmbedderKind::Dlib => (
                Layout {
                    size: 150,
                    nchw: true,
                    bgr: false,
                    mean: [122.782, 117.001, 104.298],
                    scale: 1.0 / 256.0,
                },
                &DLIB_150,
            ),
        }
    }

    /// Embeds every face in one inference run. A face whose landmarks are degenerate gets None.
    pub fn embed(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<Option<Embedding>>, ModelError> {
        let (layout, template) = self.layout();
        let mut items = vec![];
        let mut slots = vec![];
        for (frame, det) in faces {
            match align(det, template) {
                Some(m) => {
                    slots.push(Some(items.len()));
                    items.push(layout.fill(frame, &m));
                }
                None => slots.push(None),
            }
        }
        if items.is_empty() {
            return Ok(slots.iter().map(|_| None).collect());
        }
        let n = layout.size;
        let shape = if layout.nchw { [3, n, n] } else { [n, n, 3] };
        let output = if self.kind == EmbedderKind::Dlib {
            "embedding"
        } else {
            "embeddings"
        };
        let out = self
            .session
            .run(batch_tensor(&shape, items)?, &[output])?
            .remove(0);
        let dim = out.shape().last().copied().unwrap_or(0);
        let flat: Vec<f32> = out.iter().copied().collect();
        Ok(slots
            .into_iter()
            .map(|s| {
                s.map(|i| {
                    let mut v = flat[i * dim..(i + 1) * dim].to_vec();
                    if self.kind == EmbedderKind::Mobilefacenet {
                        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                        v.iter_mut().for_each(|x| *x /= norm);
                    }
                    Embedding {
                        model: self.kind,
                        vector: v,
                    }
                })
            })
            .collect())
    }
}
