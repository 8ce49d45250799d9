//! Archives: an old segment of the chain in a file that verifies on its own. One JSON line
//! per event (`{"event":{…}}`, as exported) from the first event, then the anchor that vouches
//! for the last one (`{"anchor":{…}}`, exactly as the anchor sink holds it, MAC included). With
//! the key, [`verify`] recomputes the segment's chain from the genesis hash and checks that
//! the anchor is authentic and names the last event's hash.

use std::io::Write;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::anchor::{Anchor, AnchorKey, Anchors, BadAnchor, Placed};
use super::canonical::to_canonical_json_exact;
use super::verify::{Break, Finding, StoredRow, Verifier, VerifyReport};
use super::{AuditEvent, AuditRows, Error, PAGE, Result};

/// One line of an archive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    /// An event, as exported.
    Event(AuditEvent),
    /// An anchor, as the sink holds it.
    Anchor(Anchor),
}

/// What an archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Events written (from the first).
    pub events: u64,
    /// The anchor closing the archive.
    pub anchor: Anchor,
}

/// Writes the segment of `source`'s chain from its first event to the newest anchored event
/// before `before`, then that anchor. The rows are verified against every anchor up to it on
/// the way: a chain that does not match its anchors is not archived.
pub async fn write(
    source: &impl AuditRows,
    anchors: &Anchors,
    before: Timestamp,
    mut out: impl Write,
) -> Result<Written> {
    let refused = |reason: String| Error::Archive(reason);
    let end = match source
        .first_seq_since(before.as_millisecond())
        .await
        .map_err(Error::Source)?
    {
        Some(first_after) => first_after - 1,
        None => i64::MAX,
    };
    let Some(closing) = anchors
        .anchors
        .iter()
        .rev()
        .find(|placed| placed.anchor.seq <= end)
        .cloned()
    else {
        return Err(refused(format!(
            "no anchor vouches for an event before {before}: nothing to archive yet"
        )));
    };
    let covered: Vec<Placed> = anchors
        .anchors
        .iter()
        .filter(|placed| placed.anchor.seq <= closing.anchor.seq)
        .cloned()
        .collect();
    let mut verifier = Verifier::new(covered);
    let mut events = 0;
    'pages: while verifier.last_seq() < closing.anchor.seq {
        let rows = source
            .rows_after(verifier.last_seq(), PAGE)
            .await
            .map_err(Error::Source)?;
        if rows.is_empty() {
            break;
        }
        for row in rows.iter().take_while(|row| row.seq <= closing.anchor.seq) {
            if !verifier.push(row) {
                break 'pages;
            }
            let event = row.to_event().ok_or_else(|| {
                refused(format!(
                    "event {} cannot be read as an audit event",
                    row.seq
                ))
            })?;
            write_line(&mut out, &Line::Event(event))?;
            events += 1;
        }
    }
    let report = verifier.finish();
    if let Some(broken) = report.broken {
        return Err(refused(format!(
            "the audit chain does not match its anchors, nothing archived: {broken}"
        )));
    }
    write_line(&mut out, &Line::Anchor(closing.anchor.clone()))?;
    out.flush().map_err(Error::Write)?;
    Ok(Written {
        events,
        anchor: closing.anchor,
    })
}

fn write_line(out: &mut impl Write, line: &Line) -> Result<()> {
    let mut text =
        to_canonical_json_exact(line).map_err(|e| Error::Write(std::io::Error::other(e)))?;
    text.push('\n');
    out.write_all(text.as_bytes()).map_err(Error::Write)
}

/// Checks an archive's `text` on its own with `key`: every line readable, every anchor
/// authentic and of one installation, the chain whole from its first event, each anchor
/// matching its event, and the last event vouched for by an anchor.
pub fn verify(text: &str, key: &AnchorKey) -> Result<VerifyReport, BadAnchor> {
    let mut rows = Vec::new();
    let mut anchor_lines = String::new();
    let mut lines_of_anchors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|e| BadAnchor {
            line,
            reason: format!("not an archive line: {e}"),
        })?;
        match parsed {
            Line::Event(event) => {
                let row = StoredRow::from_event(&event).map_err(|e| BadAnchor {
                    line,
                    reason: format!("event cannot be written back as stored: {e}"),
                })?;
                rows.push(row);
            }
            Line::Anchor(anchor) => {
                anchor_lines.push_str(&anchor.to_line());
                lines_of_anchors.push(line);
            }
        }
    }
    let mut anchors = Anchors::read(&anchor_lines, key, None).map_err(|bad| BadAnchor {
        line: lines_of_anchors[bad.line - 1],
        reason: bad.reason,
    })?;
    if anchors.other_installations > 0 {
        return Err(BadAnchor {
            line: 0,
            reason: "the archive holds anchors of more than one installation".to_owned(),
        });
    }
    for placed in &mut anchors.anchors {
        placed.line = lines_of_anchors[placed.line - 1];
    }
    if anchors.anchors.is_empty() {
        return Err(BadAnchor {
            line: 0,
            reason: "the archive holds no anchor".to_owned(),
        });
    }
    let mut verifier = Verifier::new(anchors.anchors);
    for row in &rows {
        if !verifier.push(row) {
            break;
        }
    }
    let mut report = verifier.finish();
    if report.broken.is_none()
        && let Some((last, _)) = report.head
        && report.anchored != Some(last)
    {
        let first = report.anchored.unwrap_or(0) + 1;
        report.broken = Some(Finding::Event {
            seq: first,
            request_id: rows
                .iter()
                .find(|row| row.seq == first)
                .and_then(|row| row.request_id.clone()),
            reason: Break::Unanchored,
        });
        report.head = None;
    }
    Ok(report)
}
