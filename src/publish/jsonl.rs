//! JSON Lines sink: one event per line, the same payload as MQTT plus `topic`.

use std::io::Write;

use super::Sink;
use crate::messages::Event;

pub struct JsonlSink {
    out: std::io::BufWriter<Box<dyn Write + Send>>,
    prefix: String,
    /// Face and match events only (the offline analysis output); status events are skipped.
    faces_only: bool,
}

impl JsonlSink {
    pub fn create(path: &std::path::Path, prefix: &str, faces_only: bool) -> std::io::Result<Self> {
        Ok(Self::new(
            Box::new(std::fs::File::create(path)?),
            prefix,
            faces_only,
        ))
    }

    pub fn new(out: Box<dyn Write + Send>, prefix: &str, faces_only: bool) -> Self {
        Self {
            out: std::io::BufWriter::new(out),
            prefix: prefix.to_string(),
            faces_only,
        }
    }
}

impl Sink for JsonlSink {
    fn send(&mut self, event: &Event) {
        if self.faces_only && matches!(event, Event::Status(_)) {
            return;
        }
        let line = event.to_json();
        // Add the topic as the first field so a line can be replayed to MQTT as is.
        let topic = format!("{}/{}/{}", self.prefix, event.camera(), event.kind());
        let with_topic = match line.strip_prefix('{') {
            Some(rest) => format!("{{\"topic\":{},{rest}", serde_json::Value::String(topic)),
            None => line,
        };
        if let Err(e) = writeln!(self.out, "{with_topic}") {
            tracing::error!(error = %e, "cannot write event file");
        }
    }

    fn finish(&mut self) {
        let _ = self.out.flush();
    }
}
