//! The MQTT sink's on-disk journal (`mqtt.spool_dir`): every event is appended before it is sent,
//! and the sequence number of the last acknowledged one is recorded, so events survive a crash or
//! `kill -9` while the broker is away, not only a clean shutdown. Delivery stays at least once:
//! after a crash, events acknowledged in the last sync interval may be sent again.
//!
//! Files: `mqtt-journal.jsonl` (one `{"seq","topic","payload","retain"}` per line) and
//! `mqtt-journal.acked` (the highest acknowledged seq). Lines are written straight to the OS (they
//! survive a process crash); `sync` fsyncs them for power loss, a few times per second.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One journaled event.
pub struct Entry {
    pub seq: u64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

pub struct Journal {
    path: PathBuf,
    acked_path: PathBuf,
    file: File,
    next_seq: u64,
    acked: u64,
    written_acked: u64,
    lines: usize,
    /// Rewrite the journal with only pending events once it holds this many lines.
    compact_at: usize,
    /// When the journal was last synced, on the sink's clock (`None`: never).
    last_sync: Option<Duration>,
}

/// How often acknowledgements are recorded and the journal fsynced.
const SYNC_EVERY: Duration = Duration::from_millis(200);

fn line(e: &Entry) -> String {
    format!(
        "{}\n",
        serde_json::json!({"seq": e.seq, "topic": e.topic,
            "payload": String::from_utf8_lossy(&e.payload), "retain": e.retain})
    )
}

impl Journal {
    /// Opens the journal in `dir` and returns the events a previous run did not get acknowledged
    /// (at most `capacity`, the newest), renumbered into a fresh journal.
    pub fn open(dir: &Path, capacity: usize) -> std::io::Result<(Journal, Vec<Entry>)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("mqtt-journal.jsonl");
        let acked_path = dir.join("mqtt-journal.acked");
        let acked: u64 = std::fs::read_to_string(&acked_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        let mut pending: Vec<Entry> = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            // A torn last line (crash mid-write) does not parse and is skipped.
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| {
                Some(Entry {
                    seq: v["seq"].as_u64()?,
                    topic: v["topic"].as_str()?.to_string(),
                    payload: v["payload"].as_str()?.as_bytes().to_vec(),
                    retain: v["retain"].as_bool().unwrap_or(false),
                })
            })
            .filter(|e| e.seq > acked)
            .collect();
        if pending.len() > capacity {
            pending.drain(..pending.len() - capacity);
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let mut j = Journal {
            path,
            acked_path,
            file,
            next_seq: 1,
            acked: 0,
            written_acked: u64::MAX,
            lines: 0,
            compact_at: capacity.saturating_mul(2).max(1000),
            last_sync: None,
        };
        for (i, e) in pending.iter_mut().enumerate() {
            e.seq = i as u64 + 1;
        }
        j.rewrite(pending.iter())?;
        j.next_seq = pending.len() as u64 + 1;
        // The old acknowledgement mark belongs to the old numbering.
        j.sync(pending.iter(), pending.len(), true, Duration::ZERO)?;
        Ok((j, pending))
    }

    /// Appends an event; returns its seq.
    pub fn append(&mut self, topic: &str, payload: &[u8], retain: bool) -> std::io::Result<u64> {
        let e = Entry {
            seq: self.next_seq,
            topic: topic.to_string(),
            payload: payload.to_vec(),
            retain,
        };
        self.file.write_all(line(&e).as_bytes())?;
        self.next_seq += 1;
        self.lines += 1;
        Ok(e.seq)
    }

    /// The broker acknowledged `seq` (and, delivery being in order, everything before it).
    pub fn acked(&mut self, seq: u64) {
        self.acked = self.acked.max(seq);
    }

    /// Records acknowledgements and fsyncs, at most every `SYNC_EVERY` of `now` (the sink's clock) unless `force`; empties the
    /// journal when nothing is pending and compacts it when it has grown large.
    pub fn sync<'a>(
        &mut self,
        pending: impl Iterator<Item = &'a Entry>,
        pending_len: usize,
        force: bool,
        now: Duration,
    ) -> std::io::Result<()> {
        if !force
            && self
                .last_sync
                .is_some_and(|t| now.saturating_sub(t) < SYNC_EVERY)
        {
            return Ok(());
        }
        self.last_sync = Some(now);
        if pending_len == 0 && self.lines > 0 {
            self.rewrite(std::iter::empty())?;
        } else if self.lines >= self.compact_at {
            self.rewrite(pending)?;
        } else {
            self.file.sync_data()?;
        }
        if self.acked != self.written_acked {
            let tmp = self.acked_path.with_extension("tmp");
            std::fs::write(&tmp, self.acked.to_string())?;
            std::fs::rename(&tmp, &self.acked_path)?;
            self.written_acked = self.acked;
        }
        Ok(())
    }

    /// Replaces the journal with `pending` (atomically: temp file, fsync, rename).
    fn rewrite<'a>(&mut self, pending: impl Iterator<Item = &'a Entry>) -> std::io::Result<()> {
        let tmp = self.path.with_extension("tmp");
        let mut f = File::create(&tmp)?;
        let mut n = 0;
        for e in pending {
            f.write_all(line(e).as_bytes())?;
            n += 1;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        self.file = OpenOptions::new().append(true).open(&self.path)?;
        self.lines = n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Removed after the test.
    fn dir(name: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(&format!("fs-journal-{name}-"))
            .tempdir()
            .unwrap()
    }

    #[test]
    fn unacknowledged_events_survive_a_crash_and_acknowledged_ones_do_not_come_back() {
        let tmp = dir("crash");
        let d = tmp.path();
        let (mut j, old) = Journal::open(d, 100).unwrap();
        assert!(old.is_empty());
        for i in 0..10 {
            j.append("t/face", format!("e{i}").as_bytes(), false)
                .unwrap();
        }
        j.acked(4);
        j.sync(std::iter::empty(), 6, true, Duration::ZERO).unwrap();
        // "Crash": drop without any shutdown step, and a torn half line at the end.
        drop(j);
        let mut f = OpenOptions::new()
            .append(true)
            .open(d.join("mqtt-journal.jsonl"))
            .unwrap();
        f.write_all(b"{\"seq\":11,\"topic\":\"t/fa").unwrap();
        let (mut j, pending) = Journal::open(d, 100).unwrap();
        let payloads: Vec<String> = pending
            .iter()
            .map(|e| String::from_utf8_lossy(&e.payload).into())
            .collect();
        assert_eq!(payloads, ["e4", "e5", "e6", "e7", "e8", "e9"]);
        assert_eq!(
            pending.iter().map(|e| e.seq).collect::<Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );
        // New events continue after the recovered ones; all acknowledged empties the journal.
        assert_eq!(j.append("t/face", b"new", false).unwrap(), 7);
        j.acked(7);
        j.sync(std::iter::empty(), 0, true, Duration::ZERO).unwrap();
        drop(j);
        let (_, pending) = Journal::open(d, 100).unwrap();
        assert!(pending.is_empty());
    }

    #[test]
    fn recovery_keeps_the_newest_capacity_events_and_compaction_keeps_pending_ones() {
        let tmp = dir("cap");
        let d = tmp.path();
        let (mut j, _) = Journal::open(d, 3).unwrap();
        for i in 0..5 {
            j.append("t", format!("{i}").as_bytes(), false).unwrap();
        }
        drop(j);
        let (mut j, pending) = Journal::open(d, 3).unwrap();
        let p: Vec<String> = pending
            .iter()
            .map(|e| String::from_utf8_lossy(&e.payload).into())
            .collect();
        assert_eq!(p, ["2", "3", "4"]);
        // Grow past the compaction mark with one event left pending: only it stays on disk.
        let mut last = None;
        for i in 0..1200 {
            let seq = j.append("t", format!("x{i}").as_bytes(), false).unwrap();
            last = Some(Entry {
                seq,
                topic: "t".into(),
                payload: format!("x{i}").into_bytes(),
                retain: false,
            });
        }
        j.acked(1202);
        let keep = last.unwrap();
        j.sync(std::iter::once(&keep), 1, true, Duration::ZERO)
            .unwrap();
        let text = std::fs::read_to_string(d.join("mqtt-journal.jsonl")).unwrap();
        assert_eq!(text.lines().count(), 1);
        drop(j);
        let (_, pending) = Journal::open(d, 3).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].payload, b"x1199");
    }
}
