//! The one TOML configuration file, deserialised into documented structs and validated at start.
//! Every key has a default, so an empty file (or no file) is a valid configuration.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod console;
pub mod stream;
pub use console::{ConsoleConfig, EventsConfig, HomeAssistantConfig, UnknownConfig};
pub use stream::{
    ApiConfig, CameraConfig, ClusterConfig, HttpConfig, MqttConfig, PipelineConfig, PoseSource,
    SearchConfig, StorageConfig, TrackingConfig, WhenFull, MQTT_MAX_INCOMING_BYTES,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config key `{key}`: {message}")]
    Invalid { key: String, message: String },
}

pub(crate) fn invalid(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_string(),
        message: message.into(),
    }
}

/// Top level of `facestream.toml`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the models and ONNX Runtime are found and how inference runs.
    pub models: ModelsConfig,
    /// Face detector settings.
    pub detector: DetectorConfig,
    /// Limits applied to still images before any pixel is decoded.
    pub images: ImageLimits,
    /// The quality gate (seeds' defaults).
    pub quality: QualityGate,
    /// Face attribute settings.
    pub attributes: AttributesConfig,
    /// Face comparison (1:1) settings.
    pub compare: CompareConfig,
    /// Video sources watched by `facestream run`.
    pub cameras: Vec<CameraConfig>,
    /// Buffers and batching between the daemon's stages.
    pub pipeline: PipelineConfig,
    /// Multi-face tracking per camera.
    pub tracking: TrackingConfig,
    /// Event delivery.
    pub mqtt: MqttConfig,
    /// Searching camera tracks in face sets.
    pub search: SearchConfig,
    /// The FRS-compatible HTTP API.
    pub api: ApiConfig,
    /// Metrics and health endpoint.
    pub http: HttpConfig,
    pub storage: StorageConfig,
    pub cluster: ClusterConfig,
    /// The event history (console, `/facestream/v1/events`, `facestream events`).
    pub events: EventsConfig,
    /// Lasting `unknown-N` ids for faces that match nobody.
    pub unknown: UnknownConfig,
    /// The web console.
    pub console: ConsoleConfig,
    /// Home Assistant MQTT discovery.
    pub homeassistant: HomeAssistantConfig,
}

/// Which face embedder turns an aligned face into a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum EmbedderKind {
    /// MobileFaceNet, 192-d, cosine similarity (default).
    #[default]
    Mobilefacenet,
    /// dlib ResNet, 128-d, Euclidean distance.
    Dlib,
}

impl EmbedderKind {
    pub const ALL: [EmbedderKind; 2] = [EmbedderKind::Mobilefacenet, EmbedderKind::Dlib];

    /// The name stored with every face and face set (a set's `model` in the API and CLI).
    pub fn stored_name(self) -> &'static str {
        match self {
            EmbedderKind::Mobilefacenet => "mobilefacenet-192",
            EmbedderKind::Dlib => "dlib-resnet-128",
        }
    }

    /// The embedder a stored name stands for; `None` for a name no embedder has.
    pub fn from_stored_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.stored_name() == name)
    }

    /// Serialises as the stored name (the published `model` field).
    pub fn serialize_stored<S: serde::Serializer>(k: &Self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(k.stored_name())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelsConfig {
    /// Folder with the .onnx files named in models/manifest.toml. Default: `models` next to the
    /// binary's crate, or `$FACESTREAM_MODELS`.
    pub dir: PathBuf,
    /// Path of libonnxruntime.so. Default: `$ORT_DYLIB_PATH`, then the set-up script's location
    /// `/opt/onnxruntime/onnxruntime/capi/libonnxruntime.so.1.31.1`.
    pub onnxruntime: Option<PathBuf>,
    /// Intra-op threads per ONNX session (1..=64). On 2 cores, decode and inference compete: keep it small.
    pub intra_threads: usize,
    /// Intra-op threads of the video analysis models (face mesh, attributes, embedder) in the
    /// daemon and `analyze`, which run beside detection (0..=64; 0: `intra_threads`). One by
    /// default: the mesh, the age/gender and the mask model of the waiting track events run side
    /// by side, each on one thread (at one face a run none of them fills two), and a stage whose
    /// threads outnumber the cores left to it waits for descheduled partners at every layer.
    pub analysis_threads: usize,
    /// Embedder used for comparison and search.
    pub embedder: EmbedderKind,
    /// Verify each model file's sha256 against the manifest when it is loaded.
    pub verify_sha256: bool,
    /// Run the rewritten graphs `scripts/optimize-models.py` (called by the set-up script)
    /// writes beside the age/gender, face mesh and MobileFaceNet models: the same arithmetic
    /// (outputs equal to float rounding), 20–45 % less time. A model without one runs as shipped.
    pub fast_graphs: bool,
    /// Run the age/gender model as the int8 graph `scripts/quantize-models.sh` (called by the
    /// run and test scripts) writes beside it: weights and activations in 8 bits, calibrated on
    /// faces of the sample media; about 2× less time a face, gender as often right as the float
    /// model's and age within a year or two on average (measured by condition in docs/models.md).
    /// Without that file, or with `false`, the float model runs.
    pub int8_age_gender: bool,
    /// Run the mask model as the int8 graph `scripts/quantize-models.sh` writes beside it: its
    /// first six convolutions (the 112-px layers) stay float, the rest in 8 bits; about 2× less
    /// time a face, as often right as the float model on masked and bare faces of every size and
    /// light measured (docs/models.md). Without that file, or with `false`, the float model runs.
    pub int8_mask: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            dir: default_models_dir(),
            onnxruntime: None,
            intra_threads: 2,
            analysis_threads: 1,
            embedder: EmbedderKind::Mobilefacenet,
            verify_sha256: false,
            fast_graphs: true,
            int8_age_gender: true,
            int8_mask: true,
        }
    }
}

fn default_models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FACESTREAM_MODELS") {
        return PathBuf::from(dir);
    }
    let beside_crate = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    if beside_crate.is_dir() {
        return beside_crate;
    }
    PathBuf::from("/usr/share/facestream/models")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectorConfig {
    /// Longest image side fed to the detector, in pixels (64..=4096). Larger images are downscaled:
    /// YuNet finds faces of about 10 to 300 px, so big faces need a smaller input.
    pub max_side: u32,
    /// Minimum face score 0..1.
    pub score_threshold: f32,
    /// IoU above which overlapping detections are merged (non-maximum suppression).
    pub nms_iou: f32,
    /// At most this many faces per image, best first.
    pub max_faces: usize,
    /// Each detection is confirmed by the 468-point mesh model's face-presence probability (0..1);
    /// 0 turns the check (and the second look) off. YuNet alone scores some animal faces like
    /// human ones.
    pub min_presence: f32,
    /// A face the mesh doubts is still confirmed when the detector, shown the face again re-framed
    /// at 64 px in a 160 px picture, scores it at least this (0..1; 0 turns this second look off).
    /// The mesh rejects dark faces in dim light; this look does not, and animal faces fail it
    /// (docs/calibration.md).
    pub min_second_look: f32,
    /// Most detector input pixels in one inference run (≥ 4096): a batch of large frames is run
    /// in parts of at most this many pixels. ONNX Runtime on CPU runs 640-px inputs slower a
    /// frame in batches than one by one (the activations leave the cache; a single-threaded
    /// worker most of all), and small ones faster in batches (docs/performance.md). Default: one
    /// 640×384 input.
    pub batch_pixels: usize,
    /// Detector sessions that run the frames of a batch side by side, one thread each (1..=16;
    /// 1: a single session with `models.intra_threads`). Frames are independent, so two
    /// single-threaded runs at once keep two cores busy without the per-layer waits of one
    /// two-threaded run (docs/performance.md). Each worker holds its own copy of the model's
    /// working memory.
    pub workers: usize,
    /// While every face a camera shows is large, detect most frames at a smaller input: one where
    /// the smallest face still measures this many pixels (shorter side), and only around the
    /// faces (a crop, when it is at most 60 % of the frame); a full-size frame every
    /// `zoom_full_every_ms`, and at once when a face goes missing, nears a crop's edge or
    /// appears, looks for small and new ones. 0 turns it off. Measured in docs/performance.md
    /// ("Detection sized to the faces", "Session 37").
    pub zoom_face_px: f32,
    /// Longest stream time between two full-size frames of a camera while zoomed (ms, 1..=10000).
    pub zoom_full_every_ms: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            max_side: 640,
            score_threshold: 0.6,
            nms_iou: 0.3,
            max_faces: 100,
            min_presence: 0.9,
            min_second_look: 0.75,
            batch_pixels: 640 * 384,
            workers: 2,
            zoom_face_px: 48.0,
            zoom_full_every_ms: 250,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageLimits {
    /// Largest accepted width or height in pixels, checked from the header before decoding.
    pub max_dimension: u32,
    /// Largest accepted pixel count (width × height), checked before decoding. The decoded
    /// buffer may take at most `max_pixels` × 4 bytes (an 8-bit RGBA picture at this size), so
    /// 16-bit pictures are held to fewer pixels.
    pub max_pixels: u64,
    /// Smallest accepted height and width in pixels.
    pub min_dimension: u32,
    /// Largest accepted file size in bytes.
    pub max_file_bytes: u64,
}

impl Default for ImageLimits {
    fn default() -> Self {
        Self {
            max_dimension: 8192,
            max_pixels: 40_000_000,
            min_dimension: 64,
            max_file_bytes: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttributesConfig {
    /// P(mask) at or above which a face is called masked. The classifier was trained on looser boxes
    /// than YuNet's; on YuNet boxes some bare faces in group photos score up to 0.4 and some masked faces
    /// as little as 0.16: 0.2 balances the two (docs/calibration.md).
    pub mask_threshold: f32,
    /// Also read the mask on a square of 1.2 × the face box's longer side and publish the geometric
    /// mean of the two readings (a face whose box reads under `mask_threshold`² is read once).
    /// Far fewer small and blurred bare faces called masked on video, at a second run of the mask
    /// model for the others (docs/calibration.md, "Two views of a face"); false: the face box alone
    /// (until session 33).
    pub mask_square_view: bool,
    /// A face whose shorter side is under this many pixels (of the frame as analysed: video is
    /// scaled to `pipeline.ingest_width` first) and reads at or over `mask_threshold` is published
    /// with `mask_state` "unknown" and `mask` false, not masked: under 26 px the model called 21 %
    /// of bare faces and 23 % of the clips' faces masked (docs/calibration.md, "Mask unknown").
    /// A reading under the threshold is "bare" at any size. 0 (with `mask_sure_face_px` 0): the
    /// threshold alone, as before.
    pub mask_min_face_px: f32,
    /// Faces under this many pixels are called masked only from `mask_sure_threshold` up; a reading
    /// between `mask_threshold` and it is "unknown" (on faces of 26–64 px such readings were
    /// masked faces and bare ones about equally often).
    pub mask_sure_face_px: f32,
    /// P(mask) from which a face under `mask_sure_face_px` is masked (≥ `mask_threshold`).
    pub mask_sure_threshold: f32,
    /// Faces whose shorter side is under this many pixels are read by the mask model at 112 px
    /// instead of 224 (they are blown up either way; a quarter of the time a run), and judged by
    /// `mask_small_threshold` and `mask_small_sure_threshold`. Needs the mask graph
    /// scripts/setup.sh rewrites to take any size; 0: every face at 224.
    pub mask_small_face_px: f32,
    /// `mask_threshold` for faces read at 112 px: the model reads a face lower there (calibrated
    /// on the same faces: docs/calibration.md, "Small faces at 112 px").
    pub mask_small_threshold: f32,
    /// `mask_sure_threshold` for faces read at 112 px (≥ `mask_small_threshold`).
    pub mask_small_sure_threshold: f32,
}

impl Default for AttributesConfig {
    fn default() -> Self {
        Self {
            mask_threshold: 0.2,
            mask_square_view: true,
            mask_min_face_px: 26.0,
            mask_sure_face_px: 64.0,
            mask_sure_threshold: 0.5,
            mask_small_face_px: 64.0,
            mask_small_threshold: 0.05,
            mask_small_sure_threshold: 0.4,
        }
    }
}

/// A face passes the gate when every check holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityGate {
    /// Largest |yaw|, |pitch| and |roll| in degrees.
    pub max_pose_deg: f32,
    /// Largest blur (0 sharp .. 1 blurred).
    pub max_blur: f32,
    /// Smallest mean luma of the face (0..255).
    pub min_illumination: f32,
    /// Smallest face size (shorter side of the box) in pixels.
    pub min_face_px: f32,
    /// Smallest share of the face box inside the image (0..1).
    pub min_completeness: f32,
}

impl Default for QualityGate {
    fn default() -> Self {
        Self {
            max_pose_deg: 20.0,
            max_blur: 0.7,
            min_illumination: 40.0,
            min_face_px: 80.0,
            min_completeness: 0.9,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompareConfig {
    /// Similarity (0..1) at or above which two faces are called the same person. Calibrated on the
    /// gallery (docs/calibration.md) for MobileFaceNet; for dlib the similarity is 1 - L2/2 (0.7 ≈ L2 0.6).
    pub threshold: Option<f32>,
}

/// Calibrated same-person thresholds on the similarity scale (docs/calibration.md).
pub const MOBILEFACENET_THRESHOLD: f32 = 0.46;
pub const DLIB_THRESHOLD: f32 = 0.70;
/// The open-set threshold for camera tracks with MobileFaceNet, calibrated on video for ≤ 1 % of
/// never-enrolled people's tracks falsely matched (docs/calibration.md, "Open-set threshold on
/// video"): a stranger meets every enrolled face, so 1:N needs a higher bar than 1:1.
pub const MOBILEFACENET_TRACK_THRESHOLD: f32 = 0.55;

impl CompareConfig {
    pub fn threshold_for(&self, kind: EmbedderKind) -> f32 {
        self.threshold.unwrap_or(match kind {
            EmbedderKind::Mobilefacenet => MOBILEFACENET_THRESHOLD,
            EmbedderKind::Dlib => DLIB_THRESHOLD,
        })
    }
}

impl Config {
    /// The similarity a camera track needs to match: `search.threshold`, else the video-calibrated
    /// default for MobileFaceNet, else (dlib, not calibrated on video) `compare`'s threshold.
    pub fn track_threshold(&self) -> f32 {
        self.search.threshold.unwrap_or(match self.models.embedder {
            EmbedderKind::Mobilefacenet => MOBILEFACENET_TRACK_THRESHOLD,
            EmbedderKind::Dlib => self.compare.threshold_for(EmbedderKind::Dlib),
        })
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        Self::parse(&text, path)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.into(),
            message: e.to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads `path` when given, else the defaults; validates either way.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self, ConfigError> {
        match path {
            Some(p) => Self::load(p),
            None => {
                let cfg = Config::default();
                cfg.validate()?;
                Ok(cfg)
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let m = &self.models;
        if !(1..=64).contains(&m.intra_threads) {
            return Err(invalid(
                "models.intra_threads",
                format!("must be 1..=64, got {}", m.intra_threads),
            ));
        }
        if m.analysis_threads > 64 {
            return Err(invalid(
                "models.analysis_threads",
                format!("must be 0..=64, got {}", m.analysis_threads),
            ));
        }
        let d = &self.detector;
        if !(64..=4096).contains(&d.max_side) {
            return Err(invalid(
                "detector.max_side",
                format!("must be 64..=4096, got {}", d.max_side),
            ));
        }
        unit("detector.score_threshold", d.score_threshold)?;
        unit("detector.nms_iou", d.nms_iou)?;
        unit("detector.min_presence", d.min_presence)?;
        unit("detector.min_second_look", d.min_second_look)?;
        if d.max_faces == 0 {
            return Err(invalid("detector.max_faces", "must be at least 1"));
        }
        if d.batch_pixels < 4096 {
            return Err(invalid(
                "detector.batch_pixels",
                format!("must be at least 4096, got {}", d.batch_pixels),
            ));
        }
        if !(1..=16).contains(&d.workers) {
            return Err(invalid(
                "detector.workers",
                format!("must be 1..=16, got {}", d.workers),
            ));
        }
        if !(d.zoom_face_px == 0.0 || (16.0..=1024.0).contains(&d.zoom_face_px)) {
            return Err(invalid(
                "detector.zoom_face_px",
                format!("must be 0 (off) or 16..=1024, got {}", d.zoom_face_px),
            ));
        }
        if !(1..=10_000).contains(&d.zoom_full_every_ms) {
            return Err(invalid(
                "detector.zoom_full_every_ms",
                format!("must be 1..=10000, got {}", d.zoom_full_every_ms),
            ));
        }
        let i = &self.images;
        if i.min_dimension < 16 || i.min_dimension >= i.max_dimension {
            return Err(invalid(
                "images.min_dimension",
                "must be at least 16 and below images.max_dimension",
            ));
        }
        if i.max_pixels == 0 || i.max_file_bytes == 0 {
            return Err(invalid("images.max_pixels", "limits must be positive"));
        }
        let q = &self.quality;
        if !(0.0..=90.0).contains(&q.max_pose_deg) {
            return Err(invalid("quality.max_pose_deg", "must be 0..=90"));
        }
        unit("quality.max_blur", q.max_blur)?;
        let at = &self.attributes;
        unit("attributes.mask_threshold", at.mask_threshold)?;
        unit("attributes.mask_sure_threshold", at.mask_sure_threshold)?;
        if at.mask_sure_threshold < at.mask_threshold {
            return Err(invalid(
                "attributes.mask_sure_threshold",
                "must not be below attributes.mask_threshold",
            ));
        }
        if !(0.0..=10_000.0).contains(&at.mask_min_face_px) {
            return Err(invalid("attributes.mask_min_face_px", "must be 0..=10000"));
        }
        unit("attributes.mask_small_threshold", at.mask_small_threshold)?;
        unit(
            "attributes.mask_small_sure_threshold",
            at.mask_small_sure_threshold,
        )?;
        if at.mask_small_sure_threshold < at.mask_small_threshold {
            return Err(invalid(
                "attributes.mask_small_sure_threshold",
                "must not be below attributes.mask_small_threshold",
            ));
        }
        if !(0.0..=10_000.0).contains(&at.mask_small_face_px) {
            return Err(invalid(
                "attributes.mask_small_face_px",
                "must be 0..=10000",
            ));
        }
        if !(at.mask_min_face_px..=10_000.0).contains(&at.mask_sure_face_px) {
            return Err(invalid(
                "attributes.mask_sure_face_px",
                "must be attributes.mask_min_face_px..=10000",
            ));
        }
        unit("quality.min_completeness", q.min_completeness)?;
        if !(0.0..=255.0).contains(&q.min_illumination) {
            return Err(invalid("quality.min_illumination", "must be 0..=255"));
        }
        if q.min_face_px < 0.0 {
            return Err(invalid("quality.min_face_px", "must not be negative"));
        }
        if let Some(t) = self.compare.threshold {
            unit("compare.threshold", t)?;
        }
        stream::validate(self)?;
        console::validate(self)
    }
}

pub(crate) fn unit(key: &str, v: f32) -> Result<(), ConfigError> {
    if !(0.0..=1.0).contains(&v) {
        return Err(invalid(key, format!("must be between 0 and 1, got {v}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Absent, one thread per core for a lone camera (0: FFmpeg's choice), one for several.
    #[test]
    fn decoders_get_their_threads_by_how_many_cameras_there_are() {
        let auto = PipelineConfig::default();
        assert_eq!(auto.decoder_threads_for(0), 0);
        assert_eq!(auto.decoder_threads_for(1), 0);
        assert_eq!(auto.decoder_threads_for(2), 1);
        assert_eq!(auto.decoder_threads_for(16), 1);
        let c = Config::parse("[pipeline]\ndecoder_threads = 2\n", Path::new("x.toml")).unwrap();
        assert_eq!(c.pipeline.decoder_threads_for(1), 2);
        assert_eq!(c.pipeline.decoder_threads_for(8), 2);
    }

    #[test]
    fn empty_file_is_default() {
        let c = Config::parse("", Path::new("x.toml")).unwrap();
        assert_eq!(c.detector.max_side, 640);
    }

    #[test]
    fn bad_value_names_the_key() {
        let e =
            Config::parse("[detector]\nscore_threshold = 1.5\n", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("detector.score_threshold"), "{e}");
        let e = Config::parse("[detector]\nmax_sid = 5\n", Path::new("x.toml")).unwrap_err();
        assert!(e.to_string().contains("max_sid"), "{e}");
    }

    /// Every refusal names the key at fault, so a user finds the line to fix.
    #[test]
    fn each_invalid_setting_is_refused_naming_its_key() {
        let cam = "[[cameras]]\nid = \"door\"\nuri = \"file:///x.mp4\"\n";
        let cases: &[(&str, String)] = &[
            ("detector.max_faces", "[detector]\nmax_faces = 0\n".into()),
            (
                "detector.batch_pixels",
                "[detector]\nbatch_pixels = 100\n".into(),
            ),
            ("detector.workers", "[detector]\nworkers = 0\n".into()),
            (
                "attributes.mask_sure_threshold",
                "[attributes]\nmask_threshold = 0.3\nmask_sure_threshold = 0.25\n".into(),
            ),
            (
                "attributes.mask_min_face_px",
                "[attributes]\nmask_min_face_px = nan\n".into(),
            ),
            (
                "attributes.mask_sure_face_px",
                "[attributes]\nmask_min_face_px = 40.0\nmask_sure_face_px = 30.0\n".into(),
            ),
            ("detector.workers", "[detector]\nworkers = 17\n".into()),
            (
                "detector.zoom_face_px",
                "[detector]\nzoom_face_px = 8.0\n".into(),
            ),
            (
                "detector.zoom_face_px",
                "[detector]\nzoom_face_px = nan\n".into(),
            ),
            (
                "detector.zoom_full_every_ms",
                "[detector]\nzoom_full_every_ms = 0\n".into(),
            ),
            (
                "quality.max_pose_deg",
                "[quality]\nmax_pose_deg = 95.0\n".into(),
            ),
            ("pipeline.batch_size", "[pipeline]\nbatch_size = 0\n".into()),
            (
                "unknown.poor_light_threshold",
                "[unknown]\nthreshold = 0.6\npoor_light_threshold = 0.5\n".into(),
            ),
            (
                "pipeline.batch_size",
                "[pipeline]\nbatch_size = 33\n".into(),
            ),
            (
                "pipeline.frame_queue",
                "[pipeline]\nframe_queue = 1000\n".into(),
            ),
            (
                "pipeline.decoder_threads",
                "[pipeline]\ndecoder_threads = 0\n".into(),
            ),
            (
                "pipeline.batch_timeout_ms",
                "[pipeline]\nbatch_timeout_ms = 3600000\n".into(),
            ),
            (
                "pipeline.ingest_width",
                "[pipeline]\ningest_width = 32\n".into(),
            ),
            (
                "mqtt.topic_prefix",
                "[mqtt]\ntopic_prefix = \"a/#\"\n".into(),
            ),
            (
                "mqtt.buffer_capacity",
                "[mqtt]\nbuffer_capacity = 0\n".into(),
            ),
            ("api.tls_cert", "[api]\ntls_cert = \"/c.pem\"\n".into()),
            (
                "api.rate_per_second",
                "[api]\nrate_per_second = -1.0\n".into(),
            ),
            (
                "cameras[0].uri",
                "[[cameras]]\nid = \"door\"\nuri = \" \"\n".into(),
            ),
            ("cameras[1].id", format!("{cam}{cam}")),
            (
                "cameras[0].id",
                "[[cameras]]\nid = \"a b\"\nuri = \"x\"\n".into(),
            ),
            (
                "cameras[0].detect_fps",
                "[[cameras]]\nid = \"d\"\nuri = \"x\"\ndetect_fps = 1000.0\n".into(),
            ),
            (
                "pipeline.unknown_key",
                "[pipeline]\nunknown_key = 1\n".into(),
            ),
            ("storage.url", "[storage]\nurl = \"mysql://x\"\n".into()),
            (
                "storage.pool_size",
                "[storage]\nurl = \"postgres://h/db\"\npool_size = 0\n".into(),
            ),
            ("storage.tls", "[storage]\ntls = true\n".into()),
            ("storage.graph_from", "[storage]\ngraph_from = 0\n".into()),
            (
                "models.analysis_threads",
                "[models]\nanalysis_threads = 65\n".into(),
            ),
            (
                "storage.graph_breadth",
                "[storage]\ngraph_breadth = 8\n".into(),
            ),
            (
                "storage.graph_retry_breadth",
                "[storage]\ngraph_retry_breadth = 5\n".into(),
            ),
            (
                "storage.graph_breadth",
                "[storage]\ngraph_breadth = 5000\n".into(),
            ),
            (
                "storage.graph_precision",
                "[storage]\ngraph_precision = \"f8\"\n".into(),
            ),
            (
                "storage.tls_cert",
                "[storage]\nurl = \"postgres://h/db\"\ntls = true\ntls_cert = \"c.pem\"\n".into(),
            ),
        ];
        for (key, text) in cases {
            match Config::parse(text, Path::new("x.toml")) {
                Ok(_) => panic!("{key}: accepted {text:?}"),
                Err(e) => {
                    // serde names an unknown key by itself, with its table in the path.
                    let leaf = key.rsplit('.').next().unwrap_or(key);
                    let named = e.to_string().contains(key)
                        || (key.ends_with("unknown_key") && e.to_string().contains(leaf));
                    assert!(named, "{key}: {e}");
                }
            }
        }
        assert!(
            Config::parse(cam, Path::new("x.toml")).is_ok(),
            "one camera is fine"
        );
    }
}
