//! The rule of `change-window`, as a pure function.

use alloc::format;

use wicket_sdk::{AccessRequest, Decision, Grant};

use crate::settings::{Outside, Settings};
use crate::time::Day;

const DAY: i64 = 86_400;

/// Decides `request` against the calendar, with `request.now()` (the evaluation's time) as now:
///
/// - a cluster the calendar does not apply to: not this policy's concern (abstain);
/// - inside a freeze: denied;
/// - inside a window: allowed as requested, the TTL capped so that access ends with the window
///   (and before the next freeze);
/// - outside the windows: denied, or with `outside: cap_ttl` allowed as requested for at most
///   `outside_max_ttl` (and not into the next freeze).
pub fn decide(settings: &Settings, request: &AccessRequest) -> Decision {
    if !settings.applies_to(&request.cluster) {
        return Decision::abstain(format!(
            "the change calendar does not apply to cluster `{}`",
            request.cluster
        ));
    }
    let now = request.now();
    if let Some(freeze) = settings
        .freezes
        .iter()
        .find(|f| f.start.0 <= now && now < f.end.0)
    {
        let why = if freeze.reason.is_empty() {
            "change freeze"
        } else {
            freeze.reason.as_str()
        };
        return Decision::deny(format!("{why}: no access until {}", freeze.end.0));
    }
    let seconds = now.as_second();
    let until_freeze = settings
        .freezes
        .iter()
        .map(|f| f.start.0.as_second())
        .filter(|start| *start > seconds)
        .min()
        .map(|start| start.abs_diff(seconds));
    let local = seconds + settings.utc_offset.0;
    let cap = match (window_left(settings, local), settings.outside) {
        (Some(left), _) => left,
        (None, Outside::CapTtl) => settings.outside_max_ttl.as_secs(),
        (None, Outside::Deny) => {
            let day = Day::of_epoch_day(local.div_euclid(DAY));
            let minute = local.rem_euclid(DAY) / 60;
            return Decision::deny(format!(
                "{day} {:02}:{:02} ({}) is outside every change window",
                minute / 60,
                minute % 60,
                settings.utc_offset
            ));
        }
    };
    let cap = until_freeze.map_or(cap, |until| cap.min(until));
    Decision::allow(Grant::from_request(request).cap_ttl(cap))
}

/// Seconds left in the open window that stays open longest at local time `local` (seconds
/// since the epoch, shifted by the offset), or `None` outside every window.
fn window_left(settings: &Settings, local: i64) -> Option<u64> {
    let today = local.div_euclid(DAY);
    settings
        .windows
        .iter()
        .flat_map(|window| {
            // A window that opened yesterday may still be open past midnight.
            [today - 1, today].into_iter().filter_map(move |day| {
                if !window.days.contains(&Day::of_epoch_day(day)) {
                    return None;
                }
                let start = day * DAY + i64::from(window.start.0) * 60;
                let mut end = day * DAY + i64::from(window.end.0) * 60;
                if window.end <= window.start {
                    end += DAY;
                }
                (start <= local && local < end).then(|| end.abs_diff(local))
            })
        })
        .max()
}
