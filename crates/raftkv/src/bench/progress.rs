//! The progress bar (indicatif, on stderr; hidden with --no-progress or when stderr is
//! not a terminal): time or requests done, and the current throughput.

use super::args::{Plan, Stop};
use super::histogram::Shared;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const REFRESH: Duration = Duration::from_millis(200);

pub struct Progress {
    bar: ProgressBar,
    task: JoinHandle<()>,
}

impl Progress {
    pub fn start(plan: &Plan, shared: Shared, start: Instant, visible: bool) -> Progress {
        let bar = match plan.stop {
            Stop::After(duration) => ProgressBar::new((plan.warmup + duration).as_millis() as u64),
            Stop::Requests(requests) => ProgressBar::new(requests),
        };
        bar.set_draw_target(if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
                .expect("valid template"),
        );
        let (stop, warmup) = (plan.stop, plan.warmup);
        let updating = bar.clone();
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(REFRESH);
            let mut previous = (Instant::now(), 0u64);
            loop {
                interval.tick().await;
                let now = Instant::now();
                let completed = shared.completed();
                let rate = (completed - previous.1) as f64
                    / now.duration_since(previous.0).as_secs_f64().max(1e-3);
                previous = (now, completed);
                let elapsed = start.elapsed();
                match stop {
                    Stop::After(_) => updating.set_position(elapsed.as_millis() as u64),
                    Stop::Requests(_) => updating.set_position(shared.measured()),
                }
                let phase = if elapsed < warmup {
                    "warm-up"
                } else {
                    "measuring"
                };
                updating.set_message(format!("{phase}: {completed} requests, {rate:.0}/s"));
            }
        });
        Progress { bar, task }
    }

    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
