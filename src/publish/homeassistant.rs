//! Home Assistant MQTT discovery (`[homeassistant]`, docs/homeassistant.md). Each camera is a
//! device with four entities, announced retained under the discovery prefix:
//! - sensor `last_person`: the last person recognised (attributes: similarity, time, track, set);
//! - sensor `faces`: faces in view now; binary sensor `face_present`;
//! - image `face`: the latest face (base64 JPEG on an image topic).
//!
//! All are available while `<prefix>/available` says `online` (the daemon's will says `offline`).
//! Discovery is sent at every connection and again when Home Assistant announces `online` on its
//! status topic; a camera that leaves this daemon's configuration has its entities removed (empty
//! retained configs). In a pool, cameras moving between daemons keep their entities (topics are
//! per camera, not per daemon); only `facestream camera remove` removes them.
//!
//! This module only builds messages; the MQTT sink sends them.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::outbox::Message;
use crate::config::HomeAssistantConfig;
use crate::messages::{Event, TrackPhase};

/// The entities of a camera: (component, object id).
const ENTITIES: [(&str, &str); 4] = [
    ("sensor", "last_person"),
    ("sensor", "faces"),
    ("binary_sensor", "face_present"),
    ("image", "face"),
];

pub struct HomeAssistant {
    cfg: HomeAssistantConfig,
    prefix: String,
    /// Cameras whose entities are announced.
    announced: BTreeSet<String>,
    /// Tracks in view per camera.
    in_view: BTreeMap<String, BTreeSet<u64>>,
    /// Whether cameras that disappear are removed (not in a pool).
    remove_gone: bool,
    /// In a pool: the pool's whole camera list at the last round (its removals are removed).
    site: Option<BTreeSet<String>>,
}

fn retained(topic: String, payload: Vec<u8>) -> Message {
    Message {
        seq: 0,
        topic,
        payload,
        retain: true,
    }
}

impl HomeAssistant {
    pub fn new(cfg: &HomeAssistantConfig, prefix: &str, remove_gone: bool) -> Self {
        Self {
            cfg: cfg.clone(),
            prefix: prefix.to_string(),
            announced: BTreeSet::new(),
            in_view: BTreeMap::new(),
            remove_gone,
            site: None,
        }
    }

    /// A pool's camera list after a round: the entities of cameras removed from the pool are
    /// removed, whichever daemon announced them (a camera that only moved stays in the list).
    /// Every daemon sends the same empty configs; Home Assistant takes them once.
    pub fn site_changed(&mut self, site: &BTreeSet<String>) -> Vec<Message> {
        let mut out = vec![];
        if let Some(before) = &self.site {
            for cam in before.difference(site) {
                self.announced.remove(cam);
                self.in_view.remove(cam);
                for (component, object) in ENTITIES {
                    out.push(retained(self.config_topic(component, cam, object), vec![]));
                }
            }
        }
        self.site = Some(site.clone());
        out
    }

    pub fn status_topic(&self) -> &str {
        &self.cfg.status_topic
    }

    fn config_topic(&self, component: &str, camera: &str, object: &str) -> String {
        format!(
            "{}/{component}/facestream_{camera}/{object}/config",
            self.cfg.discovery_prefix
        )
    }

    fn state_topic(&self, camera: &str, object: &str) -> String {
        format!("{}/{camera}/ha/{object}", self.prefix)
    }

    /// The discovery config of one entity.
    pub fn config(&self, camera: &str, component: &str, object: &str) -> Value {
        let mut c = json!({
            "unique_id": format!("facestream_{camera}_{object}"),
            "object_id": format!("facestream_{camera}_{object}"),
            "availability_topic": format!("{}/available", self.prefix),
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {
                "identifiers": [format!("facestream_{camera}")],
                "name": format!("facestream {camera}"),
                "manufacturer": "facestream",
                "model": "camera",
                "sw_version": env!("CARGO_PKG_VERSION"),
            },
            "origin": {"name": "facestream", "sw_version": env!("CARGO_PKG_VERSION")},
        });
        let state = self.state_topic(camera, object);
        let extra = match (component, object) {
            ("sensor", "last_person") => json!({
                "name": "Last recognised person",
                "state_topic": state,
                "json_attributes_topic": format!("{state}/attributes"),
                "icon": "mdi:account-check",
            }),
            ("sensor", "faces") => json!({
                "name": "Faces in view",
                "state_topic": state,
                "unit_of_measurement": "faces",
                "state_class": "measurement",
                "icon": "mdi:face-recognition",
            }),
            ("binary_sensor", "face_present") => json!({
                "name": "Face present",
                "state_topic": state,
                "payload_on": "ON",
                "payload_off": "OFF",
                "device_class": "occupancy",
            }),
            _ => json!({
                "name": "Latest face",
                "image_topic": state,
                "image_encoding": "b64",
                "content_type": "image/jpeg",
            }),
        };
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c
    }

    /// Discovery for `cameras` (all, as at a connection or Home Assistant's birth), with their
    /// current counts.
    pub fn announce_all(&mut self, cameras: &BTreeSet<String>) -> Vec<Message> {
        // Cameras gone since the last announcement stay marked, so they are removed, not forgotten.
        self.announced.retain(|c| !cameras.contains(c));
        self.sync(cameras)
    }

    /// Discovery for cameras not yet announced; removal for those gone (outside a pool).
    pub fn sync(&mut self, cameras: &BTreeSet<String>) -> Vec<Message> {
        // In a pool, a camera no longer in the pool's list is not announced again, though this
        // daemon may still hold it until its next round (it would be announced for good then).
        let held: BTreeSet<String>;
        let cameras = match &self.site {
            Some(site) => {
                held = cameras.intersection(site).cloned().collect();
                &held
            }
            None => cameras,
        };
        let mut out = vec![];
        for cam in cameras.difference(&self.announced.clone()) {
            for (component, object) in ENTITIES {
                let payload = self.config(cam, component, object).to_string().into_bytes();
                out.push(retained(self.config_topic(component, cam, object), payload));
            }
            out.extend(self.counts(cam));
            self.announced.insert(cam.clone());
        }
        let gone: Vec<String> = self.announced.difference(cameras).cloned().collect();
        for cam in gone {
            self.announced.remove(&cam);
            self.in_view.remove(&cam);
            if self.remove_gone {
                for (component, object) in ENTITIES {
                    out.push(retained(self.config_topic(component, &cam, object), vec![]));
                }
            }
        }
        out
    }

    fn counts(&self, camera: &str) -> Vec<Message> {
        let n = self.in_view.get(camera).map_or(0, BTreeSet::len);
        vec![
            retained(
                self.state_topic(camera, "faces"),
                n.to_string().into_bytes(),
            ),
            retained(
                self.state_topic(camera, "face_present"),
                if n > 0 { "ON" } else { "OFF" }.as_bytes().to_vec(),
            ),
        ]
    }

    /// The state updates an event causes.
    pub fn on_event(&mut self, ev: &Event) -> Vec<Message> {
        match ev {
            Event::Face(f) => {
                let tracks = self.in_view.entry(f.camera.clone()).or_default();
                let changed = match f.event {
                    TrackPhase::Start => tracks.insert(f.track_id),
                    TrackPhase::End => tracks.remove(&f.track_id),
                    _ => false,
                };
                let mut out = if changed {
                    self.counts(&f.camera)
                } else {
                    vec![]
                };
                if let (TrackPhase::End, Some(jpeg)) = (f.event, &f.snapshot_jpeg) {
                    out.push(retained(
                        self.state_topic(&f.camera, "face"),
                        jpeg.clone().into_bytes(),
                    ));
                }
                out
            }
            Event::Match(m) if m.event == "match" => {
                let who = m
                    .user_id
                    .clone()
                    .or_else(|| m.external_image_id.clone())
                    .unwrap_or_default();
                let state = self.state_topic(&m.camera, "last_person");
                let attributes = json!({
                    "similarity": m.similarity,
                    "time": crate::messages::utc_datetime(m.wall_time_ms) + "Z",
                    "wall_time_ms": m.wall_time_ms,
                    "track_id": m.track_id,
                    "face_set": m.face_set,
                    "camera": m.camera,
                });
                vec![
                    retained(
                        format!("{state}/attributes"),
                        attributes.to_string().into_bytes(),
                    ),
                    retained(state, who.into_bytes()),
                ]
            }
            _ => vec![],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cams(c: &[&str]) -> BTreeSet<String> {
        c.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn cameras_are_announced_once_and_removed_when_gone() {
        let mut ha = HomeAssistant::new(&HomeAssistantConfig::default(), "fs", true);
        let first = ha.sync(&cams(&["door", "yard"]));
        assert_eq!(
            first
                .iter()
                .filter(|m| m.topic.ends_with("/config"))
                .count(),
            8
        );
        assert!(first.iter().all(|m| m.retain));
        assert!(ha.sync(&cams(&["door", "yard"])).is_empty());
        let gone = ha.sync(&cams(&["door"]));
        assert_eq!(gone.len(), 4);
        assert!(gone
            .iter()
            .all(|m| m.payload.is_empty() && m.topic.contains("facestream_yard")));
        // Home Assistant came back: everything again.
        assert_eq!(ha.announce_all(&cams(&["door"])).len(), 6);
        // A camera removed just before Home Assistant's birth message is still removed.
        ha.sync(&cams(&["door", "gate"]));
        let again = ha.announce_all(&cams(&["door"]));
        assert_eq!(again.len(), 6 + 4, "door announced, gate removed");
        assert!(again
            .iter()
            .filter(|m| m.topic.contains("facestream_gate"))
            .all(|m| m.payload.is_empty()));
        let cfg = ha.config("door", "image", "face");
        assert_eq!(cfg["image_topic"], "fs/door/ha/face");
        assert_eq!(cfg["availability_topic"], "fs/available");
    }

    #[test]
    fn a_pool_keeps_entities_of_cameras_that_moved() {
        let mut ha = HomeAssistant::new(&HomeAssistantConfig::default(), "fs", false);
        ha.sync(&cams(&["door"]));
        assert!(ha.sync(&cams(&[])).is_empty());
        // The pool still lists it (it moved to another daemon): nothing removed.
        assert!(ha.site_changed(&cams(&["door", "yard"])).is_empty());
        assert!(ha.site_changed(&cams(&["door", "yard"])).is_empty());
        // Removed from the pool: its entities go, by this daemon too, though another held it.
        let gone = ha.site_changed(&cams(&["door"]));
        assert_eq!(gone.len(), 4);
        assert!(gone
            .iter()
            .all(|m| m.payload.is_empty() && m.retain && m.topic.contains("facestream_yard")));
        // A held camera removed from the pool is removed once, and not announced again while
        // this daemon still holds it until its next round.
        ha.sync(&cams(&["door"]));
        assert_eq!(ha.site_changed(&cams(&[])).len(), 4);
        assert!(ha.sync(&cams(&["door"])).is_empty());
        assert!(ha.sync(&cams(&[])).is_empty());
    }
}
