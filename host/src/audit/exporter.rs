//! The exporter: a task that, every interval and once more at shutdown, reads the events
//! appended since its last round, checks that they continue the chain it last anchored,
//! appends an anchor of the new head to the anchor sink and the events to the events sink
//! (if configured).
//!
//! It never anchors a chain that does not continue its last anchor: when the rows diverge
//! (rewritten, truncated) it logs the first diverging event and writes nothing more until
//! restarted — the anchors already written are the evidence `wicket audit verify` uses.
//!
//! Delivery to the events sink is at least once, by `seq`: at start the exporter reads the
//! sink's last complete line and goes on after its `seq`; a line a crash cut short is ended
//! with a newline and its event written again. Readers skip lines that are not JSON and
//! drop an event whose `seq` they have seen.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::anchor::{Anchor, AnchorKey, Placed};
use super::sink::{open_append, tail};
use super::verify::Verifier;
use super::{AuditEvent, AuditRows, Error, Finding, PAGE, Result, export_line};

/// What the exporter needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The key anchors are made with.
    pub key: AnchorKey,
    /// The installation whose chain is anchored (the database's id).
    pub installation: String,
    /// Where anchors are appended.
    pub anchor_file: PathBuf,
    /// Where events are appended as JSON lines, if anywhere.
    pub events_file: Option<PathBuf>,
    /// Time between two rounds.
    pub interval: Duration,
}

/// A file appended to.
#[derive(Debug)]
struct Sink {
    path: PathBuf,
    file: Arc<File>,
}

impl Sink {
    /// Opens `path` for appending; returns its last complete line's text (the tail) too. A
    /// last line a crash cut short is ended with a newline.
    fn open(path: PathBuf) -> Result<(Self, String)> {
        let mut file = open_append(&path)?;
        let (text, torn) = tail(&mut file, &path)?;
        if torn {
            (&file)
                .write_all(b"\n")
                .map_err(|e| sink_error(&path, &e))?;
        }
        Ok((
            Self {
                path,
                file: Arc::new(file),
            },
            text,
        ))
    }

    /// Appends `text` and syncs it to disk, off the async workers.
    async fn append(&self, text: String) -> Result<()> {
        let file = Arc::clone(&self.file);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            (&*file)
                .write_all(text.as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| sink_error(&path, &e))
        })
        .await
        .map_err(|e| sink_error(&self.path, &e))?
    }
}

fn sink_error(path: &std::path::Path, reason: &dyn std::fmt::Display) -> Error {
    Error::Sink {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The exporter of one chain.
#[derive(Debug)]
pub struct Exporter<S> {
    source: S,
    key: AnchorKey,
    installation: String,
    interval: Duration,
    anchors: Sink,
    events: Option<Sink>,
    /// Where the rows checked so far end.
    verifier: Verifier,
    /// The sink's last anchor found at start, until compared with the rows.
    unconfirmed: Option<Anchor>,
    anchored_seq: i64,
    events_seq: i64,
    /// The first divergence found; nothing is written after it.
    diverged: Option<Finding>,
}

impl<S: AuditRows + 'static> Exporter<S> {
    /// Opens the sinks and finds where the last run stopped: the newest authentic anchor of
    /// this installation in the anchor sink, the newest event in the events sink.
    pub fn open(source: S, settings: Settings) -> Result<Self> {
        let (anchors, anchor_tail) = Sink::open(settings.anchor_file)?;
        let last = anchor_tail
            .lines()
            .rev()
            .filter_map(|line| serde_json::from_str::<Anchor>(line).ok())
            .find(|anchor| {
                anchor.installation == settings.installation && anchor.is_authentic(&settings.key)
            });
        let (events, events_seq) = match settings.events_file {
            Some(path) => {
                let (sink, text) = Sink::open(path)?;
                let seq = text
                    .lines()
                    .rev()
                    .find_map(|line| serde_json::from_str::<AuditEvent>(line).ok())
                    .map_or(0, |event| event.seq);
                (Some(sink), seq)
            }
            None => (None, 0),
        };
        let anchored_seq = last.as_ref().map_or(0, |anchor| anchor.seq);
        // Events still to export that the last anchor covers are checked from the start.
        let verifier = match &last {
            Some(anchor) if events.is_none() || events_seq >= anchor.seq => {
                Verifier::after(anchor, Vec::new())
            }
            Some(anchor) => Verifier::new(vec![Placed {
                line: 0,
                anchor: anchor.clone(),
            }]),
            None => Verifier::new(Vec::new()),
        };
        Ok(Self {
            source,
            key: settings.key,
            installation: settings.installation,
            interval: settings.interval,
            anchors,
            events,
            verifier,
            unconfirmed: last,
            anchored_seq,
            events_seq,
            diverged: None,
        })
    }

    /// One round: checks, anchors and exports what was appended since the last; returns the
    /// anchor written, if the head moved.
    pub async fn round(&mut self) -> Result<Option<Anchor>> {
        if self.diverged.is_some() {
            return Ok(None);
        }
        if let Some(anchor) = self.unconfirmed.take() {
            self.confirm(&anchor).await?;
            if self.diverged.is_some() {
                return Ok(None);
            }
        }
        self.check_new_rows().await?;
        if let Some(finding) = &self.diverged {
            tracing::error!(%finding, anchored = self.anchored_seq, "the audit chain diverges from its last anchor; no more anchors are written: run `wicket audit verify`");
            return Ok(None);
        }
        let seq = self.verifier.last_seq();
        let mut written = None;
        if seq > self.anchored_seq {
            let anchor = Anchor::new(
                &self.key,
                &self.installation,
                seq,
                self.verifier.last_hash(),
            );
            self.anchors.append(anchor.to_line()).await?;
            self.anchored_seq = seq;
            written = Some(anchor);
        }
        self.export_events().await?;
        Ok(written)
    }

    /// Checks the rows appended since the last round against the chain.
    async fn check_new_rows(&mut self) -> Result<()> {
        loop {
            let rows = self
                .source
                .rows_after(self.verifier.last_seq(), PAGE)
                .await
                .map_err(Error::Source)?;
            if rows.is_empty() {
                return Ok(());
            }
            if !rows.iter().all(|row| self.verifier.push(row)) {
                self.diverged = self.verifier.broken().cloned();
                return Ok(());
            }
        }
    }

    /// Appends to the events sink the checked events it does not hold yet (also those a
    /// failed write left behind).
    async fn export_events(&mut self) -> Result<()> {
        let Some(events) = &self.events else {
            return Ok(());
        };
        while self.events_seq < self.verifier.last_seq() {
            let rows = self
                .source
                .rows_after(self.events_seq, PAGE)
                .await
                .map_err(Error::Source)?;
            let mut lines = String::new();
            let mut last = self.events_seq;
            for row in rows
                .iter()
                .take_while(|row| row.seq <= self.verifier.last_seq())
            {
                lines.push_str(&export_line(row)?);
                last = row.seq;
            }
            if last == self.events_seq {
                return Ok(());
            }
            events.append(lines).await?;
            self.events_seq = last;
        }
        Ok(())
    }

    /// Checks that the stored row at the last anchor's `seq` still has its hash (a chain cut
    /// back below it, or rewritten, does not).
    async fn confirm(&mut self, anchor: &Anchor) -> Result<()> {
        let rows = self
            .source
            .rows_after(anchor.seq - 1, 1)
            .await
            .map_err(Error::Source)?;
        let finding = match rows.first() {
            Some(row) if row.seq == anchor.seq && row.hash == anchor.hash => return Ok(()),
            Some(row) if row.seq == anchor.seq => Finding::Event {
                seq: row.seq,
                request_id: row.request_id.clone(),
                reason: super::Break::NotAnchored {
                    line: 0,
                    since: None,
                },
            },
            _ => Finding::EndsBefore {
                last: anchor.seq - 1,
                anchored: anchor.seq,
                line: 0,
            },
        };
        tracing::error!(%finding, anchored = anchor.seq, "the audit chain does not match its last anchor; no anchors are written: run `wicket audit verify`");
        self.diverged = Some(finding);
        Ok(())
    }

    /// The first divergence found, if any.
    pub fn diverged(&self) -> Option<&Finding> {
        self.diverged.as_ref()
    }

    /// Runs a round now, then every interval, and a last one when `stop` is sent.
    pub fn spawn(mut self) -> Running {
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            let mut last = false;
            loop {
                if let Err(error) = self.round().await {
                    tracing::error!(%error, "audit export round failed; retrying next round");
                }
                if last {
                    break;
                }
                tokio::select! {
                    () = tokio::time::sleep(self.interval) => {}
                    changed = stopped.changed() => last = changed.is_err() || *stopped.borrow(),
                }
            }
        });
        Running { stop, task }
    }
}

/// A running exporter.
#[derive(Debug)]
pub struct Running {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Running {
    /// Has the exporter run its last round (exporting and anchoring everything stored so
    /// far), then stops it.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "the audit exporter stopped abnormally");
        }
    }
}
