//! Analyze: everything read off a detected face — mesh and pose, quality, mask/age/gender,
//! passive anti-spoofing and embeddings. Still-image callers open models on first use; the
//! daemon opens what video analysis needs before its first frame ([`Analyzer::open_for_video`]).

pub mod antispoof;
pub mod attributes;
pub mod confirm;
pub mod crops;
pub mod embed;
pub mod landmark_pose;
pub mod liveness;
pub mod mask;
pub mod mesh;
pub mod quality;
pub mod snapshot;
pub mod track_attributes;

use crate::config::Config;
use crate::detect::{Detection, Detector};
use crate::frame::Frame;
use crate::models::{ModelError, SessionSettings};

pub use attributes::Attributes;
pub use embed::{Embedder, Embedding};
pub use mesh::{Mesh, Pose};
pub use quality::Quality;

/// P(mask) at which a face the mesh doubts is still accepted as a (masked) face. Stricter than the
/// mask attribute's threshold: animal faces can score up to 0.5.
pub const CONFIDENT_MASK: f32 = 0.9;

/// What to compute besides detection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted {
    pub attributes: bool,
    pub quality: bool,
    pub antispoof: bool,
    pub embedding: bool,
    /// The face's enrolment picture (for face sets that keep them, `storage.keep_face_images`).
    pub picture: bool,
}

/// One face and what was read off it.
#[derive(Debug, Clone)]
pub struct FaceAnalysis {
    pub detection: Detection,
    pub attributes: Option<Attributes>,
    pub pose: Option<Pose>,
    pub quality: Option<Quality>,
    /// Passive anti-spoof probability of a live face, 0..1.
    pub real_score: Option<f32>,
    pub embedding: Option<Embedding>,
    /// The mesh model's probability that this is a face, 0..1 (when the mesh ran).
    pub presence: Option<f32>,
    /// The face cut out for a face set to keep (when asked for).
    pub picture: Option<snapshot::FacePicture>,
}

/// Still-image analysis with one session per model (use one Analyzer per thread).
pub struct Analyzer {
    cfg: Config,
    settings: SessionSettings,
    detector: Detector,
    mesh: Option<mesh::MeshModel>,
    attributes: Option<attributes::AttributeModels>,
    antispoof: Option<antispoof::AntiSpoof>,
    embedder: Option<Embedder>,
}

impl Analyzer {
    pub fn open(cfg: &Config) -> Result<Self, ModelError> {
        let settings = SessionSettings::from_config(&cfg.models);
        let detector = Detector::open(&settings, &cfg.detector)?;
        Ok(Self {
            cfg: cfg.clone(),
            settings,
            detector,
            mesh: None,
            attributes: None,
            antispoof: None,
            embedder: None,
        })
    }

    /// An analyzer with every model video analysis reads opened up front, side by side: the
    /// detector, the mesh and the attribute models, and the embedder when tracks are searched.
    /// A missing or broken model then fails the daemon's start instead of its first face, and no
    /// frame waits 0.1–0.3 s for a model to load (the time of a short clip).
    pub fn open_for_video(cfg: &Config, embedder: bool) -> Result<Self, ModelError> {
        let settings = SessionSettings::from_config(&cfg.models);
        let (kind, attrs) = (cfg.models.embedder, &cfg.attributes);
        let s = &settings;
        // The analysis models run beside detection: their own thread budget.
        let a = &SessionSettings {
            intra_threads: match cfg.models.analysis_threads {
                0 => settings.intra_threads,
                n => n,
            },
            ..settings.clone()
        };
        let (detector, mesh, attributes, embedder) = std::thread::scope(|scope| {
            let mesh = scope.spawn(|| mesh::MeshModel::open(a));
            let attributes = scope.spawn(|| attributes::AttributeModels::open(a, attrs));
            let embedder = embedder.then(|| scope.spawn(|| Embedder::open(a, kind)));
            let detector = Detector::open(s, &cfg.detector);
            Ok::<_, ModelError>((
                detector?,
                crate::models::opened_beside(mesh.join(), s, "mesh")?,
                crate::models::opened_beside(attributes.join(), s, "attribute")?,
                match embedder {
                    Some(h) => Some(crate::models::opened_beside(h.join(), s, "embedder")?),
                    None => None,
                },
            ))
        })?;
        Ok(Self {
            cfg: cfg.clone(),
            settings,
            detector,
            mesh: Some(mesh),
            attributes: Some(attributes),
            antispoof: None,
            embedder,
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    pub fn detector(&mut self) -> &mut Detector {
        &mut self.detector
    }

    pub fn embedder(&mut self) -> Result<&mut Embedder, ModelError> {
        let (settings, kind) = (&self.settings, self.cfg.models.embedder);
        opened(&mut self.embedder, || Embedder::open(settings, kind))
    }

    pub fn mesh_model(&mut self) -> Result<&mut mesh::MeshModel, ModelError> {
        let settings = &self.settings;
        opened(&mut self.mesh, || mesh::MeshModel::open(settings))
    }

    /// Detects and analyses every face of one image.
    pub fn analyze(
        &mut self,
        frame: &Frame,
        want: Wanted,
    ) -> Result<Vec<FaceAnalysis>, ModelError> {
        let found = self.detect_verified(frame)?;
        self.analyze_found(frame, found, want)
    }

    /// Every face of an image (or only the largest with `single`), embedded for enrolment; empty
    /// when there is no face. Faces the embedder cannot align are left out.
    pub fn embed_faces(
        &mut self,
        frame: &Frame,
        single: bool,
    ) -> Result<Vec<(Detection, Embedding)>, ModelError> {
        let mut dets: Vec<Detection> = self
            .detect_verified(frame)?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        if single {
            if let Some(i) = largest(&dets) {
                dets = vec![dets.swap_remove(i)];
            }
        }
        let refs: Vec<_> = dets.iter().map(|d| (frame, d)).collect();
        let embs = self.embedder()?.embed(&refs)?;
        Ok(dets
            .into_iter()
            .zip(embs)
            .filter_map(|(d, e)| Some((d, e?)))
            .collect())
    }

    /// A kept enrolment picture embedded again (by the configured embedder), aligned on its
    /// stored landmarks.
    pub fn embed_picture(&mut self, p: &snapshot::FacePicture) -> Result<Embedding, String> {
        let (frame, det) = p.decode()?;
        self.embedder()
            .and_then(|e| e.embed(&[(&frame, &det)]))
            .map_err(|e| e.to_string())?
            .pop()
            .flatten()
            .ok_or_else(|| "its stored landmarks cannot be aligned".into())
    }

    /// Detections in a still image confirmed as human faces (`confirm.rs`).
    pub fn detect_verified(
        &mut self,
        frame: &Frame,
    ) -> Result<Vec<(Detection, Option<Mesh>)>, ModelError> {
        self.detect_confirmed(frame, confirm::Source::Still)
    }

    /// Detections confirmed as human faces (`confirm.rs`): by the mesh's face-presence output, or
    /// for faces the mesh doubts by the second look or a confident mask; in video, faces too
    /// small for the mesh rest on the detector. With `detector.min_presence` = 0 every detection
    /// is kept.
    pub fn detect_confirmed(
        &mut self,
        frame: &Frame,
        source: confirm::Source,
    ) -> Result<Vec<(Detection, Option<Mesh>)>, ModelError> {
        let dets = self.detector.detect(frame)?;
        let min = self.cfg.detector.min_presence;
        if min <= 0.0 || dets.is_empty() {
            return Ok(dets.into_iter().map(|d| (d, None)).collect());
        }
        let faces: Vec<(&Frame, &Detection)> = dets.iter().map(|d| (frame, d)).collect();
        let meshes = self.mesh_model()?.landmarks(&faces)?;
        let doubtful: Vec<usize> = (0..dets.len())
            .filter(|&i| meshes[i].presence < min)
            .filter(|&i| source == confirm::Source::Still || !confirm::too_small_for_mesh(&dets[i]))
            .collect();
        let doubted: Vec<(&Frame, &Detection)> = doubtful.iter().map(|&i| faces[i]).collect();
        let mut kept = vec![true; dets.len()];
        for (&i, ok) in doubtful.iter().zip(self.second_opinion(&doubted)?) {
            kept[i] = ok;
        }
        Ok(dets
            .into_iter()
            .zip(meshes)
            .zip(kept)
            .filter(|(_, ok)| *ok)
            .map(|((d, m), _)| (d, Some(m)))
            .collect())
    }

    /// The second look's score for each face (`confirm.rs`): the detector run again on the face
    /// re-framed at a fixed size, all faces in one batch.
    pub fn second_look(&mut self, faces: &[(&Frame, &Detection)]) -> Result<Vec<f32>, ModelError> {
        let (pictures, centres): (Vec<Frame>, Vec<[f32; 2]>) = faces
            .iter()
            .map(|(f, d)| confirm::second_look_picture(f, d))
            .unzip();
        let refs: Vec<&Frame> = pictures.iter().collect();
        Ok(self
            .detector
            .detect_batch(&refs)?
            .iter()
            .zip(centres)
            .map(|(found, c)| confirm::second_look_score(found, c))
            .collect())
    }

    /// Whether faces the mesh doubts are faces after all: the second look
    /// (`detector.min_second_look`, 0 = off), then, for those it does not confirm, a confident mask
    /// (masks hide the mesh's cues; a stricter bar than the mask attribute's threshold, since
    /// animal faces can score up to 0.5). Models open only when a face needs them.
    pub fn second_opinion(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<bool>, ModelError> {
        let min_look = self.cfg.detector.min_second_look;
        let mut ok = vec![false; faces.len()];
        if min_look > 0.0 && !faces.is_empty() {
            for (o, s) in ok.iter_mut().zip(self.second_look(faces)?) {
                *o = s >= min_look;
            }
        }
        let rest: Vec<usize> = (0..faces.len()).filter(|&i| !ok[i]).collect();
        if !rest.is_empty() {
            let doubted: Vec<(&Frame, &Detection)> = rest.iter().map(|&i| faces[i]).collect();
            let masked = self.attribute_models()?.mask_probabilities(&doubted)?;
            for (&i, p) in rest.iter().zip(masked) {
                ok[i] = p >= CONFIDENT_MASK;
            }
        }
        Ok(ok)
    }

    /// Age, gender and mask of faces (of any frames), in one run of each model.
    pub fn attributes(
        &mut self,
        faces: &[(&Frame, &Detection)],
    ) -> Result<Vec<Attributes>, ModelError> {
        self.attribute_models()?.classify(faces)
    }

    /// The mesh and the attribute models at once, to run side by side.
    pub fn mesh_and_attribute_models(
        &mut self,
    ) -> Result<(&mut mesh::MeshModel, &mut attributes::AttributeModels), ModelError> {
        let (settings, attrs) = (&self.settings, &self.cfg.attributes);
        let mesh = opened(&mut self.mesh, || mesh::MeshModel::open(settings))?;
        let attributes = opened(&mut self.attributes, || {
            attributes::AttributeModels::open(settings, attrs)
        })?;
        Ok((mesh, attributes))
    }

    fn attribute_models(&mut self) -> Result<&mut attributes::AttributeModels, ModelError> {
        let (settings, attrs) = (&self.settings, &self.cfg.attributes);
        opened(&mut self.attributes, || {
            attributes::AttributeModels::open(settings, attrs)
        })
    }

    fn antispoof_models(&mut self) -> Result<&mut antispoof::AntiSpoof, ModelError> {
        let settings = &self.settings;
        opened(&mut self.antispoof, || antispoof::AntiSpoof::open(settings))
    }

    /// Analyses faces already detected in `frame`; every model runs once over all faces (batched).
    pub fn analyze_found(
        &mut self,
        frame: &Frame,
        found: Vec<(Detection, Option<Mesh>)>,
        want: Wanted,
    ) -> Result<Vec<FaceAnalysis>, ModelError> {
        let (dets, mut meshes): (Vec<Detection>, Vec<Option<Mesh>>) = found.into_iter().unzip();
        let faces: Vec<(&Frame, &Detection)> = dets.iter().map(|d| (frame, d)).collect();
        if (want.attributes || want.quality) && meshes.iter().any(std::option::Option::is_none) {
            meshes = self
                .mesh_model()?
                .landmarks(&faces)?
                .into_iter()
                .map(Some)
                .collect();
        }
        let poses: Vec<Option<Pose>> = meshes
            .iter()
            .map(|m| m.as_ref().and_then(mesh::Mesh::pose))
            .collect();
        let presences = meshes
            .iter()
            .map(|m| m.as_ref().map(|m| m.presence))
            .collect();
        self.analyze_posed(frame, dets, poses, presences, want)
    }

    /// A tracked face of a video. The face mesh is not read here: its pose is the mesh's when
    /// the caller read one (to confirm a new track), else the pose from the detector's five
    /// landmarks, as close to labelled poses at a fraction of the cost (`landmark_pose.rs`).
    pub fn analyze_tracked(
        &mut self,
        frame: &Frame,
        det: Detection,
        mesh: Option<Mesh>,
        want: Wanted,
    ) -> Result<Option<FaceAnalysis>, ModelError> {
        let pose = match &mesh {
            Some(m) => m.pose(),
            None => landmark_pose::pose(&det),
        };
        let presence = mesh.map(|m| m.presence);
        Ok(self
            .analyze_posed(frame, vec![det], vec![pose], vec![presence], want)?
            .pop())
    }

    /// Every model but the mesh, once over all faces (batched), with their poses already read.
    fn analyze_posed(
        &mut self,
        frame: &Frame,
        dets: Vec<Detection>,
        poses: Vec<Option<Pose>>,
        presences: Vec<Option<f32>>,
        want: Wanted,
    ) -> Result<Vec<FaceAnalysis>, ModelError> {
        let faces: Vec<(&Frame, &Detection)> = dets.iter().map(|d| (frame, d)).collect();
        let attrs = if want.attributes {
            self.attribute_models()?
                .classify(&faces)?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; dets.len()]
        };
        let real = if want.antispoof {
            self.antispoof_models()?
                .real_scores(&faces)?
                .into_iter()
                .map(Some)
                .collect()
        } else {
            vec![None; dets.len()]
        };
        let embeddings = if want.embedding {
            self.embedder()?.embed(&faces)?
        } else {
            vec![None; dets.len()]
        };
        let gate = self.cfg.quality.clone();
        Ok(dets
            .iter()
            .zip(poses)
            .zip(attrs)
            .zip(real)
            .zip(embeddings)
            .zip(presences)
            .map(
                |(((((d, pose), attributes), real_score), embedding), presence)| FaceAnalysis {
                    presence,
                    quality: want
                        .quality
                        .then(|| quality::measure(frame, d, pose, &gate)),
                    detection: d.clone(),
                    attributes,
                    pose,
                    real_score,
                    embedding,
                    picture: want
                        .picture
                        .then(|| snapshot::enrolment_picture(frame, d))
                        .flatten(),
                },
            )
            .collect())
    }
}

/// The model in `slot`, opened on first use.
fn opened<T>(
    slot: &mut Option<T>,
    open: impl FnOnce() -> Result<T, ModelError>,
) -> Result<&mut T, ModelError> {
    match slot {
        Some(model) => Ok(model),
        None => Ok(slot.insert(open()?)),
    }
}

/// Index of the largest face (by box area), if any.
pub fn largest(dets: &[Detection]) -> Option<usize> {
    dets.iter()
        .enumerate()
        .max_by(|a, b| a.1.area().total_cmp(&b.1.area()))
        .map(|(i, _)| i)
}

/// Result of a 1:1 comparison of the largest face of two pictures.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub similarity: f32,
    pub same_person: bool,
    pub threshold: f32,
    pub face1: FaceAnalysis,
    pub face2: FaceAnalysis,
}

/// Which picture of a comparison had no face (1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFaceIn(pub u8);

impl Analyzer {
    /// Largest face of each picture, embedded in one batch and compared.
    pub fn compare(
        &mut self,
        f1: &Frame,
        f2: &Frame,
    ) -> Result<Result<Comparison, NoFaceIn>, ModelError> {
        let d1: Vec<Detection> = self
            .detect_verified(f1)?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let d2: Vec<Detection> = self
            .detect_verified(f2)?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        let Some(i1) = largest(&d1) else {
            return Ok(Err(NoFaceIn(1)));
        };
        let Some(i2) = largest(&d2) else {
            return Ok(Err(NoFaceIn(2)));
        };
        let (a, b) = (&d1[i1], &d2[i2]);
        let mut embs = self.embedder()?.embed(&[(f1, a), (f2, b)])?;
        let (Some(e2), Some(e1)) = (embs.pop().flatten(), embs.pop().flatten()) else {
            return Ok(Err(NoFaceIn(1)));
        };
        let similarity = e1.similarity(&e2).unwrap_or(0.0);
        let threshold = self.cfg.compare.threshold_for(self.cfg.models.embedder);
        let mk = |d: &Detection, e: Embedding| FaceAnalysis {
            detection: d.clone(),
            attributes: None,
            pose: None,
            quality: None,
            real_score: None,
            embedding: Some(e),
            presence: None,
            picture: None,
        };
        Ok(Ok(Comparison {
            similarity,
            same_person: similarity >= threshold,
            threshold,
            face1: mk(a, e1),
            face2: mk(b, e2),
        }))
    }
}
