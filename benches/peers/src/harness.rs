//! A small timing harness: warm up, then take samples of many iterations
//! each and report the median per-iteration time.
//!
//! Every measurement goes through [`Harness::run`], which separates the
//! preparation of a sample (building the inputs its iterations consume,
//! outside the clock) from the timed loop over them, like criterion's
//! `iter_batched`. [`Harness::iter`] is the common case of an operation
//! with no per-iteration input.
//!
//! On Linux, samples are timed in this thread's CPU time (user + system,
//! `CLOCK_THREAD_CPUTIME_ID`) by default: every operation measured is
//! single-threaded, and CPU time leaves out the intervals when another
//! process on a busy machine had the core. `--wall` times in wall-clock
//! time instead.

use std::hint::black_box;
use std::time::{Duration, Instant};

/// What a sample is timed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    /// This thread's CPU time (Linux only).
    ThreadCpu,
    /// Monotonic wall-clock time.
    Wall,
}

impl Clock {
    /// The default: thread CPU time where available.
    pub fn default_for_platform() -> Self {
        if cfg!(target_os = "linux") { Self::ThreadCpu } else { Self::Wall }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::ThreadCpu => "thread CPU time",
            Self::Wall => "wall-clock time",
        }
    }

    /// Runs `f` and returns how long it took on this clock.
    fn time(self, f: impl FnOnce()) -> Duration {
        match self {
            Self::Wall => {
                let start = Instant::now();
                f();
                start.elapsed()
            }
            Self::ThreadCpu => {
                let start = thread_cpu_time();
                f();
                thread_cpu_time().saturating_sub(start)
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(u64::try_from(t.tv_sec).unwrap_or(0), u32::try_from(t.tv_nsec).unwrap_or(0))
}

#[cfg(not(target_os = "linux"))]
fn thread_cpu_time() -> Duration {
    unreachable!("thread CPU time is only selected on Linux")
}

/// How long and how often to measure.
#[derive(Debug, Clone, Copy)]
pub struct Harness {
    /// Wall-clock time spent running the operation before sampling.
    pub warm_up: Duration,
    /// Number of samples; the median is reported.
    pub samples: usize,
    /// Each sample runs enough iterations to last at least this long.
    pub sample_time: Duration,
    /// What samples are timed with.
    pub clock: Clock,
}

impl Harness {
    /// The full run: ~100 ms warm-up, 31 samples of at least ~10 ms.
    pub fn full() -> Self {
        Self {
            warm_up: Duration::from_millis(100),
            samples: 31,
            sample_time: Duration::from_millis(10),
            clock: Clock::default_for_platform(),
        }
    }

    /// A smoke run for CI: numbers are noisy, but every path runs.
    pub fn quick() -> Self {
        Self {
            warm_up: Duration::from_millis(10),
            samples: 5,
            sample_time: Duration::from_millis(1),
            clock: Clock::default_for_platform(),
        }
    }

    /// Median time of one call of `f`, in microseconds.
    pub fn iter<O>(&self, mut f: impl FnMut() -> O) -> f64 {
        self.run(
            |_| (),
            |_, _| {
                black_box(f());
            },
        )
    }

    /// Median time of one iteration, in microseconds.
    ///
    /// For each batch of `n` iterations, `prepare(n)` builds the batch's
    /// state outside the clock (inputs for every iteration, and room for
    /// outputs whose drop should not be timed); then `routine(&mut state,
    /// i)` runs for `i` in `0..n` under the clock. The state is dropped
    /// after the clock stops.
    pub fn run<S>(&self, prepare: impl FnMut(usize) -> S, routine: impl FnMut(&mut S, usize)) -> f64 {
        self.run_capped(usize::MAX, prepare, routine)
    }

    /// [`Harness::run`] with batches of at most `cap` iterations, for
    /// inputs of which only so many can exist at once (one-time prekeys).
    pub fn run_capped<S>(
        &self,
        cap: usize,
        mut prepare: impl FnMut(usize) -> S,
        mut routine: impl FnMut(&mut S, usize),
    ) -> f64 {
        let mut timed_batch = |n: usize| -> Duration {
            let mut state = prepare(n);
            let elapsed = self.clock.time(|| {
                for i in 0..n {
                    routine(&mut state, i);
                }
            });
            drop(black_box(state));
            elapsed
        };

        // Warm up with doubling batches; the last (largest) batch gives the
        // per-iteration estimate that sizes the samples.
        let warm_up_start = Instant::now();
        let mut n = 1usize;
        let mut per_iteration = loop {
            let elapsed = timed_batch(n);
            if warm_up_start.elapsed() >= self.warm_up || elapsed >= self.warm_up {
                break elapsed / u32::try_from(n).unwrap_or(u32::MAX);
            }
            n = n.saturating_mul(2).min(cap);
        };
        if per_iteration.is_zero() {
            per_iteration = Duration::from_nanos(1);
        }
        let iterations = (self.sample_time.as_nanos().div_ceil(per_iteration.as_nanos())).max(1);
        let iterations = usize::try_from(iterations).unwrap_or(usize::MAX).min(cap);

        let mut samples: Vec<f64> =
            (0..self.samples).map(|_| timed_batch(iterations).as_secs_f64() * 1e6 / iterations as f64).collect();
        median(&mut samples)
    }
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => f64::NAN,
        len if len % 2 == 1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    }
}
