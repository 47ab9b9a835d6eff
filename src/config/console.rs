//! What people see beyond MQTT: the event history, lasting ids for unknown faces, the web console
//! and Home Assistant discovery (docs/console.md, docs/homeassistant.md).

use serde::{Deserialize, Serialize};

use super::{invalid, unit, ConfigError};

/// The event history: face, match, unknown and liveness events with their best-face snapshot,
/// kept in the store (SQLite in `storage.dir/events.db`, or PostgreSQL with `storage.url`) and
/// queried by the console, `GET /facestream/v1/events` and `facestream events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventsConfig {
    /// Keep events at all. On by default.
    pub enabled: bool,
    /// Events older than this many days are pruned (0.01..=3650).
    pub retention_days: f64,
    /// Beyond this many bytes (payloads and snapshots) the oldest events are pruned first
    /// (at least 1 MiB).
    pub max_bytes: u64,
    /// Keep each event's face snapshot (a JPEG of at most 160 px, a few KB). Off: no image is kept.
    pub keep_snapshots: bool,
    /// How often pruning runs, in seconds (1..=86400).
    pub prune_every_s: u64,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            retention_days: 30.0,
            max_bytes: 1 << 30,
            keep_snapshots: true,
            prune_every_s: 60,
        }
    }
}

/// Lasting identities for faces that match nobody: a track that ends `unknown` is compared with the
/// strangers seen before and gets their `unknown-N` id, or a new one. Their faces live in the face
/// set `face_set` (one person per id), so the id survives restarts, cameras and daemons of a pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UnknownConfig {
    /// Give unknown tracks lasting ids. On by default (only cameras with face sets search at all).
    pub enabled: bool,
    /// Similarity at which a new unknown track is the same stranger as one seen before
    /// (docs/console.md has the merge and split rates measured for it).
    pub threshold: f32,
    /// The similarity needed instead when none of the track's faces is well lit and sharp (the
    /// quality gate's illumination and blur): dark or blurred faces look alike to the embedder,
    /// and at `threshold` different strangers seen in dim light shared ids.
    pub poor_light_threshold: f32,
    /// The face set holding strangers' faces.
    pub face_set: String,
    /// Faces kept per stranger (the track's best embeddings; older ones make room).
    pub faces_per_identity: usize,
    /// Most strangers kept; beyond it the least recently seen is forgotten.
    pub capacity: usize,
}

impl Default for UnknownConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            threshold: 0.55,
            poor_light_threshold: 0.75,
            face_set: "strangers".into(),
            faces_per_identity: 6,
            capacity: 10_000,
        }
    }
}

/// The web console at `/console/` on the API's address (`api.bind`): cameras and live views, the
/// event timeline, the face library, naming strangers and correcting matches. Signing in takes
/// an API key (`api.keys`); a key's tenant sees its own face sets and matches, `admin` sees all.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Serve the console. Off by default; needs `api.bind`.
    pub enabled: bool,
    /// Sign-ins last this many hours.
    pub session_hours: f64,
    /// Live views refresh at most this often (frames per second, 0.1..=5).
    pub live_fps: f64,
    /// The face set that naming a stranger enrols into, when the form does not name one.
    pub default_face_set: String,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            session_hours: 12.0,
            live_fps: 1.0,
            default_face_set: "people".into(),
        }
    }
}

/// Home Assistant MQTT discovery: each camera becomes a device with the sensors "last recognised
/// person" and "faces in view", the binary sensor "face present" and an image entity with the
/// latest face (docs/homeassistant.md).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HomeAssistantConfig {
    /// Announce the entities (retained) and keep their states. Off by default.
    pub enabled: bool,
    /// Home Assistant's discovery prefix.
    pub discovery_prefix: String,
    /// Home Assistant's birth/will topic: when it says `online`, discovery is sent again.
    pub status_topic: String,
}

impl Default for HomeAssistantConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            discovery_prefix: "homeassistant".into(),
            status_topic: "homeassistant/status".into(),
        }
    }
}

pub(super) fn validate(cfg: &super::Config) -> Result<(), ConfigError> {
    let e = &cfg.events;
    if !(0.01..=3650.0).contains(&e.retention_days) {
        return Err(invalid("events.retention_days", "must be 0.01..=3650"));
    }
    if e.max_bytes < 1 << 20 {
        return Err(invalid(
            "events.max_bytes",
            "must be at least 1048576 (1 MiB)",
        ));
    }
    if !(1..=86_400).contains(&e.prune_every_s) {
        return Err(invalid("events.prune_every_s", "must be 1..=86400"));
    }
    let u = &cfg.unknown;
    unit("unknown.threshold", u.threshold)?;
    unit("unknown.poor_light_threshold", u.poor_light_threshold)?;
    if u.poor_light_threshold < u.threshold {
        return Err(invalid(
            "unknown.poor_light_threshold",
            "must not be below unknown.threshold",
        ));
    }
    if !super::stream::valid_id(&u.face_set) {
        return Err(invalid(
            "unknown.face_set",
            "use 1-64 letters, digits, - or _",
        ));
    }
    if !(1..=100).contains(&u.faces_per_identity) {
        return Err(invalid("unknown.faces_per_identity", "must be 1..=100"));
    }
    if u.capacity == 0 {
        return Err(invalid("unknown.capacity", "must be at least 1"));
    }
    let c = &cfg.console;
    if c.enabled && cfg.api.bind.is_empty() {
        return Err(invalid(
            "console.enabled",
            "the console is served on the API's address: set api.bind",
        ));
    }
    if !(0.1..=720.0).contains(&c.session_hours) {
        return Err(invalid("console.session_hours", "must be 0.1..=720"));
    }
    if !(0.1..=5.0).contains(&c.live_fps) {
        return Err(invalid("console.live_fps", "must be 0.1..=5"));
    }
    if !super::stream::valid_id(&c.default_face_set) {
        return Err(invalid(
            "console.default_face_set",
            "use 1-64 letters, digits, - or _",
        ));
    }
    let h = &cfg.homeassistant;
    if h.enabled && !cfg.mqtt.enabled {
        return Err(invalid(
            "homeassistant.enabled",
            "discovery travels over MQTT: enable mqtt",
        ));
    }
    for (key, topic) in [
        ("homeassistant.discovery_prefix", &h.discovery_prefix),
        ("homeassistant.status_topic", &h.status_topic),
    ] {
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(invalid(key, "a topic without wildcards"));
        }
    }
    Ok(())
}
