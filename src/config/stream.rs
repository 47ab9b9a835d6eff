//! Daemon settings: cameras, pipeline buffers, tracking, MQTT, HTTP. Part of the one TOML file.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{invalid, ConfigError};

/// One video source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Name used in MQTT topics and metrics: 1–64 of letters, digits, `-`, `_`.
    pub id: String,
    /// `rtsp://…`, `file:///…`, or a plain file path.
    pub uri: String,
    /// Frames per second fed to detection (0 = every frame).
    #[serde(default)]
    pub detect_fps: f32,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Files only: start again at the end instead of stopping.
    #[serde(default, rename = "loop")]
    pub looping: bool,
    /// Face sets each track of this camera is searched in (matches go to `<prefix>/<camera>/match`).
    #[serde(default)]
    pub face_sets: Vec<String>,
}

impl CameraConfig {
    /// What is wrong with this camera's settings, if anything: (field, message). The config file
    /// and the pool's camera commands check cameras the same way.
    pub fn problem(&self) -> Option<(&'static str, String)> {
        if !valid_id(&self.id) {
            return Some((
                "id",
                format!("{:?}: use 1-64 letters, digits, - or _", self.id),
            ));
        }
        if self.uri.trim().is_empty() {
            return Some(("uri", "must not be empty".into()));
        }
        if let Some(bad) = self.face_sets.iter().find(|s| !valid_id(s)) {
            return Some(("face_sets", format!("{bad:?} is not a valid face set name")));
        }
        if !(0.0..=240.0).contains(&self.detect_fps) {
            return Some(("detect_fps", "must be 0..=240 (0 = every frame)".into()));
        }
        None
    }
}

fn yes() -> bool {
    true
}

/// What a full buffer does with a new item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenFull {
    /// Wait for room (offline analysis: nothing is lost).
    Block,
    /// Drop the oldest queued item to make room (live cameras: stay current).
    DropOldest,
    /// Drop the new item.
    DropNewest,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PipelineConfig {
    /// Frames per detection run, across cameras (1..=32).
    pub batch_size: usize,
    /// Longest wait for more frames once a batch has some, in ms (the frames already waiting
    /// always join it). 0: none — a live frame goes to detection at once, and batches form from
    /// the frames that wait while detection is busy (same CPU at 1, 8 and 16 cameras; events
    /// ~40 ms sooner than at 40, the default until session 42: docs/performance.md).
    pub batch_timeout_ms: u64,
    /// Frames queued per camera between ingest and detection (1..=256).
    pub frame_queue: usize,
    /// Policy of the per-camera frame queue when detection falls behind.
    pub frame_queue_when_full: WhenFull,
    /// Items queued between the later stages (they always block: events are never dropped).
    pub stage_queue: usize,
    /// Longest side of a frame after ingest (64..=4096): larger frames are scaled down so that
    /// neither side exceeds it (aspect kept; the width of a landscape frame, the height of a
    /// portrait one), smaller ones are never scaled up. Detection and analysis see this frame.
    pub ingest_width: u32,
    /// A camera that delivers no frame for this long is restarted (ms).
    pub no_frame_timeout_ms: u64,
    /// First reconnect delay (ms); doubles per failure up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// RTSP jitter-buffer latency (ms).
    pub rtsp_latency_ms: u32,
    /// RTSP over TCP only. Off: UDP first with rtspsrc's automatic TCP fallback.
    pub rtsp_tcp_only: bool,
    /// Threads of each camera's software video decoder (1..=64). Absent: one when the
    /// configuration names several cameras (they decode side by side anyway, and each decoder's
    /// own threads only cost memory: 4 cameras of 1080p ~25 MB a camera less at the same CPU);
    /// for a single camera, chosen by its stream's size — one up to 1280×720, one per core above
    /// (a lone 1080p stream decodes faster so; smaller ones ran 1–8 % faster on one thread while
    /// detection and analysis kept the cores busy; docs/performance.md). Cameras added after the
    /// start keep the choice made at the start.
    pub decoder_threads: Option<u32>,
}

impl PipelineConfig {
    /// Threads for each camera's decoder when `cameras` are configured (0: chosen by the stream's
    /// size, `ingest::gst`).
    pub fn decoder_threads_for(&self, cameras: usize) -> u32 {
        self.decoder_threads
            .unwrap_or(if cameras > 1 { 1 } else { 0 })
    }
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            batch_size: 4,
            batch_timeout_ms: 0,
            frame_queue: 4,
            frame_queue_when_full: WhenFull::DropOldest,
            stage_queue: 64,
            ingest_width: 640,
            no_frame_timeout_ms: 5000,
            backoff_initial_ms: 500,
            backoff_max_ms: 30_000,
            rtsp_latency_ms: 100,
            rtsp_tcp_only: false,
            decoder_threads: None,
        }
    }
}

/// Where a video face's head pose comes from (`tracking.pose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoseSource {
    /// The face mesh on every track event.
    #[default]
    Mesh,
    /// The detector's five landmarks; the mesh only to confirm new tracks.
    Landmarks,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrackingConfig {
    /// Smallest overlap (IoU) between a predicted track box and a detection to join them.
    pub min_iou: f32,
    /// A track unseen for this long ends (ms of stream time).
    pub max_missed_ms: u64,
    /// Detections before a track is announced (filters one-frame false positives).
    pub min_hits: u32,
    /// Least time between two `update` events of a track (ms).
    pub update_interval_ms: u64,
    /// Attach the best face of a track as a base64 JPEG to `end` events.
    pub snapshot: bool,
    /// Least likeness (0..1) of a track's face and a detection's (a cheap signature) to join them
    /// when no embedder settles it; below 0.9 the daemon asks the face embedder instead (see
    /// `min_identity`). 0 turns appearance checks off: overlap alone decides.
    pub min_appearance: f32,
    /// Least embedding similarity of a track's face and a doubtful detection to join them: a
    /// different person at the same place starts a new track.
    pub min_identity: f32,
    /// A frame whose picture differs from the previous one by more than this (mean absolute
    /// difference of a 16×9 colour thumbnail, 0..255, after the overall brightness change) is a
    /// scene cut and ends every track. 0 turns the check off.
    pub scene_cut_threshold: f32,
    /// Where a track event's head pose comes from: `mesh` (the face mesh, read on every event) or
    /// `landmarks` (the detector's five landmarks: the mesh then runs only to confirm a new
    /// track's face of 64 px and more). Measured
    /// (docs/performance.md): `landmarks` gives 13–19 % more frames a second on clips with many
    /// small faces, as close to labelled poses on near-frontal faces, but reads small turned faces
    /// as nearer frontal than they are (yaw error 15° against the mesh's 11° at 24 px).
    pub pose: PoseSource,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        Self {
            min_iou: 0.3,
            max_missed_ms: 1000,
            min_hits: 2,
            update_interval_ms: 1000,
            snapshot: true,
            min_appearance: 0.6,
            min_identity: 0.35,
            scene_cut_threshold: 12.0,
            pose: PoseSource::Mesh,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MqttConfig {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub client_id: String,
    /// Topics are `<topic_prefix>/<camera>/face`, `…/status` and `<topic_prefix>/available`.
    pub topic_prefix: String,
    pub username: Option<String>,
    pub password: Option<String>,
    /// TLS to the broker (use the broker's TLS port, usually 8883).
    pub tls: bool,
    /// PEM file of the CA(s) to trust for the broker's certificate; the system's roots when absent.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate and key, for brokers that require client certificates.
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Events held while the broker is unreachable; beyond this the oldest are dropped and counted.
    pub buffer_capacity: usize,
    /// Start a private Mosquitto on `host:port` (loopback only) and stop it on exit.
    pub embedded_broker: bool,
    /// Journal every undelivered event on disk in this folder (`mqtt-journal.jsonl`): events survive
    /// a stop, a crash or `kill -9` and are sent first after the next start. Off when absent.
    pub spool_dir: Option<PathBuf>,
    /// Seconds to keep trying to deliver buffered events at shutdown.
    pub flush_timeout_s: u64,
    /// Largest liveness request (`<prefix>/<camera>/liveness/request`) read, in bytes; a larger
    /// one is answered with `FRS.0611` and the link stays up. Messages over 1 MiB cannot be read
    /// at all (the MQTT client refuses the packet and reconnects): cap them at the broker
    /// (Mosquitto: `message_size_limit 1048576`), see docs/mqtt.md.
    pub max_request_bytes: usize,
    /// Brokers to use in turn, `"host:port"` each (e.g. `["mqtt-a:1883", "mqtt-b:1883"]`): when
    /// the one in use cannot be reached `failover_after` times in a row, the daemon moves to the
    /// next, keeping its buffered and journaled events (delivery stays at least once: subscribers
    /// de-duplicate by `event_id`). Empty (default): `host` and `port`.
    pub hosts: Vec<String>,
    /// Failed connection attempts on one broker before moving to the next of `hosts`.
    pub failover_after: u32,
}

impl MqttConfig {
    /// The brokers to use, in order: `hosts`, or `host:port` alone.
    pub fn brokers(&self) -> Vec<(String, u16)> {
        if self.hosts.is_empty() {
            return vec![(self.host.clone(), self.port)];
        }
        self.hosts
            .iter()
            .filter_map(|h| {
                let (host, port) = h.rsplit_once(':')?;
                Some((
                    host.trim_matches(['[', ']']).to_string(),
                    port.parse().ok()?,
                ))
            })
            .collect()
    }

    /// The client certificate and key, when both are set.
    pub fn client_pair(&self) -> Option<(&std::path::Path, &std::path::Path)> {
        Some((self.client_cert.as_deref()?, self.client_key.as_deref()?))
    }
}

impl Default for MqttConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: "127.0.0.1".into(),
            port: 1883,
            client_id: "facestream".into(),
            topic_prefix: "facestream".into(),
            username: None,
            password: None,
            tls: false,
            ca_file: None,
            client_cert: None,
            client_key: None,
            buffer_capacity: 10_000,
            embedded_broker: false,
            spool_dir: None,
            flush_timeout_s: 5,
            max_request_bytes: 16 * 1024,
            hosts: vec![],
            failover_after: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SearchConfig {
    /// Similarity (0..1) a camera track needs to match an enrolled face. Default: 0.55 with
    /// MobileFaceNet, calibrated on video for at most 1 % of never-enrolled people's tracks falsely
    /// matched (higher than `compare.threshold`, 0.46, because a stranger meets every enrolled
    /// face); with dlib, `compare`'s threshold.
    pub threshold: Option<f32>,
    /// Embeddings searched per track at most (taken from its analysed, quality-checked frames).
    pub max_embeddings_per_track: usize,
    /// Smallest face (px) worth embedding in a stream.
    pub min_face_px: f32,
    /// Largest |yaw| and |pitch| (degrees) worth embedding.
    pub max_pose_deg: f32,
}

impl Default for SearchConfig {
    fn default() -> Self {
        Self {
            threshold: None,
            max_embeddings_per_track: 5,
            min_face_px: 40.0,
            max_pose_deg: 35.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of `/metrics` (Prometheus) and `/healthz`; empty turns them off.
    pub bind: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9464".into(),
        }
    }
}

/// One API key. Requests send it as `X-Auth-Token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    pub key: String,
    /// Tenant (letters and digits): the key sees only its own tenant's face sets.
    pub tenant: String,
    /// Secret key for AK/SK request signing (`key` is then the access key); absent: token only.
    #[serde(default)]
    pub secret: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Address of the FRS-compatible HTTP API; empty (default) turns it off.
    pub bind: String,
    /// Require `X-Auth-Token` (on by default; off only for trusted local use).
    pub auth: bool,
    pub keys: Vec<ApiKey>,
    /// Largest request body (bytes).
    pub max_body_bytes: usize,
    /// Inference jobs run at once. More wait up to `queue_timeout_ms`, then get 503 `FRS.0503`.
    /// A job keeps its slot until its work ends, even when its client was already answered
    /// `FRS.0504` or has gone, so work in flight (and the memory it takes) never exceeds this.
    pub max_concurrent: usize,
    /// Longest wait (ms) for an inference slot before 503 `FRS.0503`.
    pub queue_timeout_ms: u64,
    /// Longest request (ms) before 503 `FRS.0504` (its work still finishes inside its slot).
    pub request_timeout_ms: u64,
    /// http(s) `image_url` / `video_url` downloads run at once, before and outside the inference
    /// slots (a slow image host never holds a slot). More wait up to `queue_timeout_ms`, then 503.
    pub max_downloads: usize,
    /// `image_url` may name files under this folder (`file:///…` or a path); none when absent.
    pub image_dir: Option<PathBuf>,
    /// Requests per second per key (token bucket); 0 = unlimited. Over it: 429 with Retry-After.
    pub rate_per_second: f64,
    /// Bucket size: requests a key may send at once.
    pub burst: f64,
    /// Largest difference between `X-Sdk-Date` and the server clock for signed requests (seconds).
    pub signature_skew_s: i64,
    /// Hosts `image_url` / `video_url` may fetch from over http(s): "host" (any port) or
    /// "host:port". Empty (default): http(s) URLs are refused.
    pub image_url_hosts: Vec<String>,
    /// Longest download of an http(s) `image_url` (ms).
    pub image_url_timeout_ms: u64,
    /// PEM CA certificate(s) trusted for https `image_url`s (an internal CA); default: the
    /// Mozilla CA roots built into facestream.
    pub image_url_ca_file: Option<PathBuf>,
    /// PEM certificate chain and private key: with both set the API speaks HTTPS only.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: String::new(),
            auth: true,
            keys: vec![],
            max_body_bytes: 8 * 1024 * 1024,
            max_concurrent: 2,
            queue_timeout_ms: 2000,
            request_timeout_ms: 30_000,
            max_downloads: 4,
            image_dir: None,
            rate_per_second: 20.0,
            burst: 40.0,
            signature_skew_s: 900,
            image_url_hosts: vec![],
            image_url_timeout_ms: 5000,
            image_url_ca_file: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Where the daemon keeps its state.
    pub dir: PathBuf,
    /// Keep a picture of each face enrolled into a face set (the face with a margin, JPEG, about
    /// 20 KB) next to its vector, so `facestream faceset reembed` can move the set to another
    /// embedder without the original photos. Off by default: no image is stored.
    pub keep_face_images: bool,
    /// Where face sets live: empty (default) for SQLite in `dir`; `postgres://user:pass@host:port/db`
    /// for PostgreSQL, shared by a pool of daemons (docs/scaling.md). The daemon applies the schema's
    /// migrations at start (`facestream db migrate` does it alone). A password in the URL is never
    /// shown in logs or errors.
    pub url: String,
    /// Encrypt the connection to PostgreSQL (TLS 1.2+) and verify the server's certificate and
    /// host name against `tls_ca_file` or, without it, the system's CA roots. Off by default; also
    /// on when the URL says `sslmode=require`. (`sslmode=prefer`, the URL's default, means plain.)
    pub tls: bool,
    /// PEM file of the CA that signed the database server's certificate (with `tls`).
    pub tls_ca_file: Option<PathBuf>,
    /// PEM certificate and key for servers that authenticate clients by certificate (with `tls`).
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Connections each daemon keeps to PostgreSQL at most (1..=64): the face sets, the camera
    /// pool's lease rounds and the camera API share them; the change listener has one more.
    pub pool_size: u32,
    /// Face sets with at least this many faces are searched through a graph index (usearch's
    /// HNSW, saved in `dir`/graphs); smaller ones are scanned exactly (1 ms at 50 000 faces).
    pub graph_from: usize,
    /// The graph's search breadth (ef, 16..=4096): higher finds the best face more often and
    /// takes longer. 0 (default): by the set's size, 60 × √(faces / 1 000 000), at least 60.
    pub graph_breadth: usize,
    /// A search with a match threshold that finds no face at or above it through the graph
    /// looks again with this many candidates (16..=4096; 0: never). At 10⁶ faces a group of real
    /// faces unlike the rest of the set lost matches at the default breadth that a breadth of 256
    /// finds (docs/facesets.md, "Real faces among a million"); the cost falls on searches with no
    /// match (strangers), ~2.5× their time.
    pub graph_retry_breadth: usize,
    /// How the graph keeps each vector: "f16" (default, half floats) or "i8" (a byte a dimension:
    /// 29 % less on disk, a restart 2.5 s instead of 4.3 s at 10⁶ faces and 1.7× faster searches
    /// at 10⁵, but at 10⁶ no faster and a little lower recall, measured in docs/facesets.md). The
    /// graph only proposes candidates; the full vectors rank them. Sets compared by distance
    /// (dlib) always use f16.
    pub graph_precision: String,
    /// Move each graph's memory to 2 MiB pages after it is read or built (Linux ≥ 6.1; only
    /// pages already in use, so nothing grows). At 10⁶ faces a search walks ~1.4 GB at random,
    /// and small pages cost a page-table walk on nearly every read (docs/facesets.md). Again
    /// after each twentieth of the set (at least 4 096 faces) added in place. On by default; off
    /// leaves the memory as usearch maps it.
    pub graph_huge_pages: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            dir: std::env::var_os("STATE_DIRECTORY")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/lib/facestream")),
            keep_face_images: false,
            url: String::new(),
            tls: false,
            tls_ca_file: None,
            tls_cert: None,
            tls_key: None,
            pool_size: 4,
            graph_from: 50_000,
            graph_breadth: 0,
            graph_retry_breadth: 256,
            graph_precision: "f16".into(),
            graph_huge_pages: true,
        }
    }
}

/// A pool of daemons sharing cameras through the PostgreSQL database of `storage.url`
/// (docs/scaling.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Take part in a pool: cameras live in the database (`facestream camera …`; `cameras` in this
    /// file are added there at start) and each daemon watches those it holds a lease on.
    pub enabled: bool,
    /// This daemon's name in the pool (unique per daemon). Default: the host name.
    pub node_id: String,
    /// Most cameras this daemon watches at once.
    pub capacity: usize,
    /// Seconds a lease lasts without renewal (renewed every third of it): a daemon that dies or
    /// loses the database has its cameras watched by others within this, and stops them itself
    /// by then.
    pub lease_timeout_s: f64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            node_id: std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "facestream".into()),
            capacity: 8,
            lease_timeout_s: 15.0,
        }
    }
}

/// `host:port` with a numeric port (`127.0.0.1:8080`, `[::]:80`, `localhost:8080`).
fn valid_bind(bind: &str) -> bool {
    bind.parse::<std::net::SocketAddr>().is_ok()
        || bind.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !host.contains([':', '[', ']', ' ']) && port.parse::<u16>().is_ok()
        })
}

/// The largest MQTT packet the daemon reads (its client refuses bigger ones by dropping the link).
pub const MQTT_MAX_INCOMING_BYTES: usize = 1024 * 1024;

/// A camera id or face-set name: 1–64 of `A-Z a-z 0-9 - _`.
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn validate(cfg: &super::Config) -> Result<(), ConfigError> {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in cfg.cameras.iter().enumerate() {
        let key = |k: &str| format!("cameras[{i}].{k}");
        if let Some((field, message)) = c.problem() {
            return Err(invalid(&key(field), message));
        }
        if !seen.insert(c.id.clone()) {
            return Err(invalid(&key("id"), format!("{:?} is used twice", c.id)));
        }
    }
    let p = &cfg.pipeline;
    if !(1..=32).contains(&p.batch_size) {
        return Err(invalid("pipeline.batch_size", "must be 1..=32"));
    }
    if p.decoder_threads.is_some_and(|n| !(1..=64).contains(&n)) {
        return Err(invalid("pipeline.decoder_threads", "must be 1..=64"));
    }
    // A longer wait would hold a live frame back for no batch worth it.
    if p.batch_timeout_ms > 1000 {
        return Err(invalid("pipeline.batch_timeout_ms", "must be 0..=1000"));
    }
    if !(1..=256).contains(&p.frame_queue) {
        return Err(invalid("pipeline.frame_queue", "must be 1..=256"));
    }
    if p.stage_queue == 0 {
        return Err(invalid("pipeline.stage_queue", "must be at least 1"));
    }
    if !(64..=4096).contains(&p.ingest_width) {
        return Err(invalid("pipeline.ingest_width", "must be 64..=4096"));
    }
    if p.backoff_initial_ms == 0 || p.backoff_max_ms < p.backoff_initial_ms {
        return Err(invalid(
            "pipeline.backoff_max_ms",
            "backoff_initial_ms must be > 0 and <= backoff_max_ms",
        ));
    }
    if p.no_frame_timeout_ms < 500 {
        return Err(invalid(
            "pipeline.no_frame_timeout_ms",
            "must be at least 500",
        ));
    }
    super::unit("tracking.min_iou", cfg.tracking.min_iou)?;
    let m = &cfg.mqtt;
    if m.client_cert.is_some() != m.client_key.is_some() {
        return Err(invalid(
            "mqtt.client_cert",
            "client_cert and client_key go together",
        ));
    }
    if m.enabled && m.tls {
        // Build it once now so a bad file fails the start, naming the key.
        crate::tls::client_config(m.ca_file.as_deref(), m.client_pair()).map_err(|e| {
            let key = match &e {
                crate::tls::TlsError::File { path, .. } if Some(path) == m.client_cert.as_ref() => {
                    "mqtt.client_cert"
                }
                crate::tls::TlsError::File { path, .. } if Some(path) == m.client_key.as_ref() => {
                    "mqtt.client_key"
                }
                _ => "mqtt.ca_file",
            };
            invalid(key, e.to_string())
        })?;
    }
    let a = &cfg.api;
    if a.tls_cert.is_some() != a.tls_key.is_some() {
        return Err(invalid("api.tls_cert", "tls_cert and tls_key go together"));
    }
    if let Some(ca) = &a.image_url_ca_file {
        crate::tls::client_config(Some(ca), None)
            .map_err(|e| invalid("api.image_url_ca_file", e.to_string()))?;
    }
    if let (Some(c), Some(k)) = (&a.tls_cert, &a.tls_key) {
        crate::tls::server_config(c, k).map_err(|e| invalid("api.tls_cert", e.to_string()))?;
    }
    if m.enabled && m.hosts.is_empty() && (m.host.is_empty() || m.port == 0) {
        return Err(invalid(
            "mqtt.host",
            "host and port are required when mqtt.enabled",
        ));
    }
    if let Some((i, bad)) = m.hosts.iter().enumerate().find(|(_, h)| {
        !h.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0)
        })
    }) {
        return Err(invalid(
            &format!("mqtt.hosts[{i}]"),
            format!("{bad:?} is not host:port"),
        ));
    }
    if m.failover_after == 0 {
        return Err(invalid("mqtt.failover_after", "must be at least 1"));
    }
    if m.topic_prefix.is_empty() || m.topic_prefix.contains(['#', '+']) {
        return Err(invalid(
            "mqtt.topic_prefix",
            "must be non-empty without wildcards",
        ));
    }
    let a = &cfg.api;
    if !a.bind.is_empty() && a.auth && a.keys.is_empty() {
        return Err(invalid(
            "api.keys",
            "authentication is on (api.auth) but no key is configured",
        ));
    }
    let mut keys_seen = std::collections::HashSet::new();
    for (i, k) in a.keys.iter().enumerate() {
        if !keys_seen.insert(k.key.as_str()) {
            return Err(invalid(
                &format!("api.keys[{i}].key"),
                "the same key is configured twice: a key names exactly one tenant",
            ));
        }
        if k.key.len() < 16 {
            return Err(invalid(
                &format!("api.keys[{i}].key"),
                "must be at least 16 characters",
            ));
        }
        if k.tenant.is_empty()
            || k.tenant.len() > 16
            || !k.tenant.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Err(invalid(
                &format!("api.keys[{i}].tenant"),
                "1-16 letters or digits",
            ));
        }
    }
    for (key, v) in [
        ("api.max_concurrent", a.max_concurrent as u64),
        ("api.max_body_bytes", a.max_body_bytes as u64),
        ("api.max_downloads", a.max_downloads as u64),
        ("api.request_timeout_ms", a.request_timeout_ms),
        ("api.image_url_timeout_ms", a.image_url_timeout_ms),
    ] {
        if v == 0 {
            return Err(invalid(key, "must be positive"));
        }
    }
    if a.signature_skew_s <= 0 {
        return Err(invalid(
            "api.signature_skew_s",
            "must be a positive number of seconds",
        ));
    }
    if !a.rate_per_second.is_finite() || a.rate_per_second < 0.0 {
        return Err(invalid(
            "api.rate_per_second",
            "must be 0 (unlimited) or more",
        ));
    }
    if !a.burst.is_finite() || (a.rate_per_second > 0.0 && a.burst < 1.0) {
        return Err(invalid(
            "api.burst",
            "must be at least 1 when rate_per_second is set",
        ));
    }
    for (key, bind) in [("api.bind", &a.bind), ("http.bind", &cfg.http.bind)] {
        if !bind.is_empty() && !valid_bind(bind) {
            return Err(invalid(
                key,
                format!("{bind:?} is not an address like 127.0.0.1:8080 or [::1]:8080"),
            ));
        }
    }
    if !(256..=MQTT_MAX_INCOMING_BYTES).contains(&m.max_request_bytes) {
        return Err(invalid(
            "mqtt.max_request_bytes",
            format!("must be 256..={}", MQTT_MAX_INCOMING_BYTES),
        ));
    }
    let cl = &cfg.cluster;
    if cl.enabled {
        if cfg.storage.url.is_empty() {
            return Err(invalid(
                "cluster.enabled",
                "a pool shares its cameras through PostgreSQL: set storage.url",
            ));
        }
        if !valid_id(&cl.node_id) {
            return Err(invalid(
                "cluster.node_id",
                "use 1-64 letters, digits, - or _",
            ));
        }
        if cl.capacity == 0 {
            return Err(invalid("cluster.capacity", "must be at least 1"));
        }
        if !(1.0..=600.0).contains(&cl.lease_timeout_s) {
            return Err(invalid("cluster.lease_timeout_s", "must be 1..=600"));
        }
    }
    let url = &cfg.storage.url;
    if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(invalid(
            "storage.url",
            "must be empty (SQLite in storage.dir) or a postgres:// URL",
        ));
    }
    let st = &cfg.storage;
    if url.is_empty()
        && (st.tls || st.tls_ca_file.is_some() || st.tls_cert.is_some() || st.tls_key.is_some())
    {
        return Err(invalid(
            "storage.tls",
            "TLS settings are for a PostgreSQL storage.url; SQLite is a local file",
        ));
    }
    if st.tls_cert.is_some() != st.tls_key.is_some() {
        return Err(invalid(
            "storage.tls_cert",
            "a client certificate needs both tls_cert and tls_key",
        ));
    }
    if !(1..=64).contains(&st.pool_size) {
        return Err(invalid("storage.pool_size", "must be 1..=64"));
    }
    if st.graph_from == 0 {
        return Err(invalid("storage.graph_from", "must be at least 1"));
    }
    if !matches!(st.graph_precision.as_str(), "i8" | "f16") {
        return Err(invalid(
            "storage.graph_precision",
            format!("must be \"i8\" or \"f16\", got {:?}", st.graph_precision),
        ));
    }
    if st.graph_retry_breadth != 0 && !(16..=4096).contains(&st.graph_retry_breadth) {
        return Err(invalid(
            "storage.graph_retry_breadth",
            "must be 0 (never) or 16..=4096",
        ));
    }
    if st.graph_breadth != 0 && !(16..=4096).contains(&st.graph_breadth) {
        return Err(invalid(
            "storage.graph_breadth",
            "must be 0 (by the set's size) or 16..=4096",
        ));
    }
    if m.buffer_capacity == 0 {
        return Err(invalid("mqtt.buffer_capacity", "must be at least 1"));
    }
    Ok(())
}
