//! Seeded, closed-form signals: the arithmetic behind every value the exporter serves.
//!
//! Each simulated host has a [`Load`] curve `d(t) = 1 + Σ aⱼ·cos(ωⱼ·t + φⱼ)`: a daily wave plus a
//! few faster seeded waves that read as noise. Every counter is the integral of a non-negative
//! rate `a + b·d(t) + c·d(t)²` ([`Rate`]), and both integrals of `d` have closed forms, so a
//! counter's value at any instant costs a handful of `sin` calls and needs no state: the page at
//! time `t` is a pure function of (seed, `t`), and two exporters with one seed agree.
//!
//! Noise that keeps counters monotonic: time is cut into one-second quanta; a counter at quantum
//! `k` is `F(k) + j·u(k)`, where `F` is the integral, `u(k) ∈ [0, 1)` a hash of (key, k) and `j`
//! at most one quantum's worth of the minimum rate. Then `F(k) − F(k−1) ≥ j ≥ j·(u(k−1) − u(k))`,
//! so the jittered counter never goes down.
//!
//! Incidents multiply a rate by a constant factor inside a window `[s, e)`: the counter is then
//! `F(t) + (f − 1)·(F(min(t, e)) − F(min(t, s)))`, still closed form and, for `f ≥ 0`, still the
//! integral of a non-negative rate. [`Rate::counter_without`] keeps the jitter argument intact.
//!
//! Transcendental functions come from the `libm` crate, not the platform's maths library, so the
//! same seed gives the same digits on every platform (glibc, musl and macOS round differently).
//!
//! This module knows nothing of metric names; [`super::fleet`] decides what each signal means.

use rand::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

/// Length of a time quantum in seconds: values change once per quantum.
pub const QUANTUM_SECS: u64 = 1;

const DAY: f64 = 86_400.0;

/// Parameters drawn once per (seed, stream): a host's uptime and size, a load curve's waves.
///
/// The values must stay a pure function of the seed across dependency upgrades, so this uses
/// only what promises that: xoshiro256++ from `rand_xoshiro` (a named algorithm, seeded by its
/// SplitMix64 `seed_from_u64`; its releases name any change of output as breaking) and raw
/// `next_u64`. Ranges and choices are computed here rather than by `rand`'s samplers, which may
/// change their values in any minor release.
pub struct Draw(Xoshiro256PlusPlus);

impl Draw {
    pub fn new(seed: u64, stream: u64) -> Draw {
        let seed = mix(seed ^ mix(stream.wrapping_add(0x5851_f42d_4c95_7f2d)));
        Draw(Xoshiro256PlusPlus::seed_from_u64(seed))
    }

    /// A uniform value in `[0, 1)`: the top 53 bits of the next output.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform value between `lo` and `hi`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// One of `items`, each as likely: the high word of `next_u64 · len` (no modulo).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        let i = (u128::from(self.0.next_u64()) * items.len() as u128) >> 64;
        items[i as usize]
    }
}

/// SplitMix64 finaliser: a fast, well-distributed 64-bit hash.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform value in `[0, 1)` from a key and a quantum index.
pub fn unit(key: u64, k: u64) -> f64 {
    (mix(key ^ mix(k)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Stable 64-bit key for a series, from its parts.
pub fn key(parts: &[&str]) -> u64 {
    // FNV-1a over the parts, separated so ("ab","c") and ("a","bc") differ.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    mix(h)
}

/// One cosine term of a load curve.
#[derive(Debug, Clone, Copy)]
struct Wave {
    amp: f64,
    omega: f64,
    phase: f64,
}

/// A load curve `d(t) = 1 + Σ aⱼ·cos(ωⱼ·t + φⱼ)` with its two integrals in closed form.
///
/// `t` is seconds since the curve's origin (the simulated host's boot).
#[derive(Debug, Clone)]
pub struct Load {
    waves: Vec<Wave>,
    min: f64,
    max: f64,
}

impl Load {
    /// The load of one simulated host: a daily wave peaking in the host's afternoon (UTC offset
    /// `utc_peak_hour`), plus three seeded waves with periods between 7 and 90 minutes.
    pub fn seeded(seed: u64, stream: u64, boot_epoch: f64, utc_peak_hour: f64) -> Load {
        let mut draw = Draw::new(seed, stream);
        let omega = std::f64::consts::TAU / DAY;
        // Peak when (boot_epoch + t) mod DAY == peak hour: ω·t + φ = 0 there.
        let phase = -omega * (utc_peak_hour * 3600.0 - boot_epoch.rem_euclid(DAY));
        let mut waves = vec![Wave {
            amp: 0.35,
            omega,
            phase,
        }];
        for _ in 0..3 {
            let period = draw.range(420.0, 5400.0);
            waves.push(Wave {
                amp: draw.range(0.03, 0.08),
                omega: std::f64::consts::TAU / period,
                phase: draw.range(0.0, std::f64::consts::TAU),
            });
        }
        Load::from_waves(waves)
    }

    fn from_waves(waves: Vec<Wave>) -> Load {
        let swing: f64 = waves.iter().map(|w| w.amp.abs()).sum();
        Load {
            waves,
            min: 1.0 - swing,
            max: 1.0 + swing,
        }
    }

    /// `d(t)`.
    pub fn at(&self, t: f64) -> f64 {
        1.0 + self
            .waves
            .iter()
            .map(|w| w.amp * libm::cos(w.omega * t + w.phase))
            .sum::<f64>()
    }

    /// A lower bound of `d` over all time (positive by construction).
    pub fn min(&self) -> f64 {
        self.min
    }

    /// An upper bound of `d` over all time.
    pub fn max(&self) -> f64 {
        self.max
    }

    /// `∫₀ᵗ d(s) ds`.
    pub fn integral(&self, t: f64) -> f64 {
        t + self
            .waves
            .iter()
            .map(|w| w.amp * int_cos(w.omega, w.phase, t))
            .sum::<f64>()
    }

    /// `∫₀ᵗ d(s)² ds`, expanding `cos·cos` into sums of cosines.
    pub fn integral_sq(&self, t: f64) -> f64 {
        let mut acc = t + 2.0 * (self.integral(t) - t);
        for a in &self.waves {
            for b in &self.waves {
                let k = 0.5 * a.amp * b.amp;
                acc += k * int_cos(a.omega - b.omega, a.phase - b.phase, t);
                acc += k * int_cos(a.omega + b.omega, a.phase + b.phase, t);
            }
        }
        acc
    }

    /// Both integrals at once, for evaluating many [`Rate`]s at one instant.
    pub fn integrals(&self, t: f64) -> Integrals {
        Integrals {
            t,
            d1: self.integral(t),
            d2: self.integral_sq(t),
            dmin: self.min,
        }
    }
}

/// `∫₀ᵗ cos(ω·s + φ) ds`, including the `ω = 0` case.
fn int_cos(omega: f64, phase: f64, t: f64) -> f64 {
    if omega.abs() < 1e-15 {
        t * libm::cos(phase)
    } else {
        (libm::sin(omega * t + phase) - libm::sin(phase)) / omega
    }
}

/// The integrals of a [`Load`] at one instant.
#[derive(Debug, Clone, Copy)]
pub struct Integrals {
    /// Seconds since the origin.
    pub t: f64,
    /// `∫ d`.
    pub d1: f64,
    /// `∫ d²`.
    pub d2: f64,
    /// Lower bound of `d`.
    pub dmin: f64,
}

/// A non-negative rate `a + b·d(t) + c·d(t)²`, in units per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate {
    pub a: f64,
    pub b: f64,
    pub c: f64,
}

impl Rate {
    pub const ZERO: Rate = Rate {
        a: 0.0,
        b: 0.0,
        c: 0.0,
    };

    /// A rate that follows the load linearly.
    pub fn linear(b: f64) -> Rate {
        Rate { b, ..Rate::ZERO }
    }

    /// A rate that grows with the square of the load: errors, timeouts, slow tails.
    pub fn stress(c: f64) -> Rate {
        Rate { c, ..Rate::ZERO }
    }

    /// A constant rate.
    pub fn constant(a: f64) -> Rate {
        Rate { a, ..Rate::ZERO }
    }

    pub fn scaled(self, f: f64) -> Rate {
        Rate {
            a: self.a * f,
            b: self.b * f,
            c: self.c * f,
        }
    }

    pub fn plus(self, o: Rate) -> Rate {
        Rate {
            a: self.a + o.a,
            b: self.b + o.b,
            c: self.c + o.c,
        }
    }

    /// The rate at load `d`.
    pub fn at(&self, d: f64) -> f64 {
        self.a + self.b * d + self.c * d * d
    }

    /// The counter's smooth value: `∫ rate`.
    pub fn integral(&self, i: &Integrals) -> f64 {
        self.a * i.t + self.b * i.d1 + self.c * i.d2
    }

    /// `∫ rate` between two instants (`from` no later than `to`).
    pub fn integral_between(&self, from: &Integrals, to: &Integrals) -> f64 {
        self.integral(to) - self.integral(from)
    }

    /// The counter's value at the quantum of `i`, with monotonic jitter keyed by `key`.
    pub fn counter(&self, i: &Integrals, key: u64, k: u64) -> f64 {
        self.counter_without(i, 0.0, key, k)
    }

    /// The counter less `inside`, what it earned inside some windows of time (counted elsewhere),
    /// with its jitter read at quantum `k`. While inside a window the remainder stands still, so
    /// the caller passes the window's first quantum as `k` there: the jitter stands still too,
    /// and the first quantum after the window adds at least one quantum's worth of rate, which
    /// covers any change of jitter.
    pub fn counter_without(&self, i: &Integrals, inside: f64, key: u64, k: u64) -> f64 {
        let jitter = self.at(i.dmin) * QUANTUM_SECS as f64 * unit(key, k);
        self.integral(i) - inside + jitter
    }
}

/// Cumulative distribution of a log-normal with the given median and shape.
pub fn lognormal_cdf(x: f64, median: f64, sigma: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    0.5 * (1.0 + libm::erf(libm::log(x / median) / (sigma * std::f64::consts::SQRT_2)))
}

/// Mean of a log-normal with the given median and shape.
pub fn lognormal_mean(median: f64, sigma: f64) -> f64 {
    median * libm::exp(sigma * sigma / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that a closed form agrees with midpoint integration of `f` over `[0, t]`.
    fn assert_matches_numeric(closed: f64, f: impl Fn(f64) -> f64, t: f64) {
        let n = 200_000;
        let h = t / n as f64;
        let want: f64 = (0..n).map(|i| f((i as f64 + 0.5) * h) * h).sum();
        assert!((closed - want).abs() < 1e-3, "{closed} vs {want}");
    }

    #[test]
    fn integral_matches_numeric() {
        let load = Load::seeded(7, 1, 1_767_225_600.0, 14.0);
        assert_matches_numeric(load.integral(20_000.0), |s| load.at(s), 20_000.0);
    }

    #[test]
    fn integral_sq_matches_numeric() {
        let load = Load::seeded(7, 2, 1_767_225_600.0, 3.0);
        let closed = load.integral_sq(20_000.0);
        assert_matches_numeric(closed, |s| load.at(s).powi(2), 20_000.0);
    }

    /// The drawn parameters are pinned: a change here changes every page.
    #[test]
    fn draw_is_stable_for_seed_1() {
        let mut d = Draw::new(1, 0);
        let got = [d.unit(), d.range(420.0, 5400.0), d.pick(&[2.0, 4.0, 8.0])];
        assert_eq!(got, [0.13468423138444552, 4368.115849726442, 8.0]);
    }

    #[test]
    fn draw_stays_in_range_and_picks_every_item() {
        let mut d = Draw::new(7, 3);
        let mut seen = [false; 4];
        for _ in 0..1000 {
            let x = d.range(13.0, 16.0);
            assert!((13.0..=16.0).contains(&x), "{x}");
            seen[d.pick(&[0usize, 1, 2, 3])] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn load_stays_within_bounds() {
        let load = Load::seeded(42, 3, 0.0, 14.0);
        assert!(load.min() > 0.3);
        for s in (0..200_000).step_by(37) {
            let d = load.at(s as f64);
            assert!(d >= load.min() && d <= load.max());
        }
    }

    #[test]
    fn jittered_counter_never_decreases() {
        let load = Load::seeded(1, 1, 0.0, 14.0);
        let rate = Rate {
            a: 0.2,
            b: 3.0,
            c: 0.5,
        };
        let mut last = f64::MIN;
        for k in 0..50_000u64 {
            let v = rate.counter(&load.integrals(k as f64), 99, k);
            assert!(v >= last, "decreased at {k}: {v} < {last}");
            last = v;
        }
    }

    #[test]
    fn daily_wave_peaks_at_requested_hour() {
        let boot = 1_767_225_600.0 - 5.0 * 3600.0;
        let load = Load::from_waves(Load::seeded(1, 1, boot, 14.0).waves[..1].to_vec());
        let t_peak = 14.0 * 3600.0 + DAY - (boot.rem_euclid(DAY));
        assert!((load.at(t_peak) - load.max()).abs() < 1e-9);
    }

    #[test]
    fn lognormal_cdf_is_half_at_median() {
        assert!((lognormal_cdf(0.07, 0.07, 0.3) - 0.5).abs() < 1e-12);
        assert!(lognormal_cdf(0.5, 0.07, 0.3) > 0.999);
    }
}
