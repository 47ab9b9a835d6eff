//! Publish: events leave the daemon — to MQTT (QoS 1, buffered while the broker is away) and/or a
//! JSONL file. The stage ends when its input closes, after flushing.

pub mod broker;
pub mod homeassistant;
pub mod journal;
pub mod jsonl;
pub mod mqtt;
pub mod outbox;

use crossbeam_channel::Receiver;

use crate::messages::Event;

/// Something events can be written to.
pub trait Sink: Send {
    fn send(&mut self, event: &Event);
    /// Called regularly (also when idle) so a sink can make progress (reconnect, flush).
    fn tick(&mut self) {}
    /// Delivers what is still buffered, waiting at most the sink's own flush timeout.
    fn finish(&mut self) {}
}

pub struct PublishStage {
    pub input: Receiver<Event>,
    pub sinks: Vec<Box<dyn Sink>>,
}

impl PublishStage {
    pub fn run(mut self) {
        loop {
            match self
                .input
                .recv_timeout(std::time::Duration::from_millis(20))
            {
                Ok(ev) => {
                    for s in &mut self.sinks {
                        s.send(&ev);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            for s in &mut self.sinks {
                s.tick();
            }
        }
        for s in &mut self.sinks {
            s.finish();
        }
    }
}
