//! Erlang C staffing arithmetic for the weekly report's "demand vs
//! capacity": how many consultants the phone line needs in an hour of the
//! day to answer a share of calls within a threshold (e.g. 80% within 20 s),
//! to set against the consultants actually on duty.
//!
//! This module owns the M/M/N queue formulas only: offered traffic, the
//! probability that a call waits (Erlang C), the service level, the average
//! speed of answer and the smallest staffing that meets a target. Where the
//! load comes from (call history) and how the answer is shown belong to the
//! callers.
//!
//! # Model and conventions
//!
//! - Calls arrive at random (Poisson) at `calls_per_hour`; handling times are
//!   exponential with mean `aht_seconds`; callers wait as long as needed (no
//!   abandonment); calls are answered in arrival order.
//! - Offered traffic is `A = calls_per_hour × aht_seconds / 3600` Erlangs.
//! - With `N` agents and `N <= A` the queue is *unstable*: it grows without
//!   bound, so every caller eventually waits. [`prob_wait`] then answers 1,
//!   [`service_level`] answers 0, [`asa_seconds`] refuses with
//!   [`ErlangError::Unstable`], and [`agents_needed`] never picks such an `N`.
//! - No traffic (`A = 0`, no calls or zero handling time) means nobody waits:
//!   probability 0, service level 1, speed of answer 0, zero agents needed,
//!   whatever the staffing.
//! - Erlang C is computed from the Erlang B recursion
//!   `B(0) = 1, B(k) = A·B(k−1) / (k + A·B(k−1))` and
//!   `C = N·B / (N − A·(1 − B))`: every step stays within [0, 1], so no
//!   factorial or power overflows, whatever `N`.
//! - At most [`MAX_AGENTS`] agents are considered: the recursion costs one
//!   step per agent, and no desk comes near that many.

use thiserror::Error;

/// Largest staffing the formulas accept; bounds the work of one call.
pub const MAX_AGENTS: u32 = 1_000_000;

/// The offered load of one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    /// Arrival rate.
    pub calls_per_hour: f64,
    /// Average handling time (talk plus wrap-up) of one call.
    pub aht_seconds: f64,
}

impl Load {
    /// The offered traffic in Erlangs, refusing loads the model cannot
    /// describe (negative, NaN or infinite parts, or a product too large
    /// for an `f64`).
    pub fn checked_traffic(&self) -> Result<f64, ErlangError> {
        let invalid = || ErlangError::InvalidLoad {
            calls_per_hour: self.calls_per_hour,
            aht_seconds: self.aht_seconds,
        };
        if !is_finite_non_negative(self.calls_per_hour) || !is_finite_non_negative(self.aht_seconds)
        {
            return Err(invalid());
        }
        let traffic = traffic_erlangs(self);
        if traffic.is_finite() {
            Ok(traffic)
        } else {
            Err(invalid())
        }
    }
}

/// Why a staffing figure could not be computed.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum ErlangError {
    #[error(
        "invalid load of {calls_per_hour} calls/h with an average handling time of \
         {aht_seconds} s: both must be finite and not negative"
    )]
    InvalidLoad {
        calls_per_hour: f64,
        aht_seconds: f64,
    },
    #[error("invalid traffic of {0} Erlangs: it must be finite and not negative")]
    InvalidTraffic(f64),
    #[error("invalid answer-time threshold of {0} s: it must not be negative or NaN")]
    InvalidThreshold(f64),
    #[error("invalid service-level target {0}: it must be between 0 and 1")]
    InvalidTarget(f64),
    #[error("{agents} agents is more than the {max} this model handles")]
    TooManyAgents { agents: u32, max: u32 },
    #[error(
        "{agents} agents cannot keep up with {traffic} Erlangs: the queue grows without \
         bound, so there is no average speed of answer"
    )]
    Unstable { agents: u32, traffic: f64 },
    #[error("no staffing of up to {max_agents} agents reaches a service level of {target}")]
    TargetUnreachable { target: f64, max_agents: u32 },
}

/// Offered traffic in Erlangs: the average number of calls in progress.
///
/// This is the plain product, unchecked: a negative, NaN or infinite part
/// gives a meaningless number here. [`Load::checked_traffic`] refuses those;
/// every other function of this module goes through it.
pub fn traffic_erlangs(load: &Load) -> f64 {
    load.calls_per_hour * load.aht_seconds / 3600.0
}

/// Erlang C: the probability that a call has to wait, with `agents` agents
/// and `traffic` Erlangs offered.
///
/// Defined answers: 0 when there is no traffic; 1 when `agents <= traffic`
/// (unstable queue, see the module documentation).
pub fn prob_wait(agents: u32, traffic: f64) -> Result<f64, ErlangError> {
    if !is_finite_non_negative(traffic) {
        return Err(ErlangError::InvalidTraffic(traffic));
    }
    check_agents(agents)?;
    if traffic == 0.0 {
        return Ok(0.0);
    }
    let n = f64::from(agents);
    if n <= traffic {
        return Ok(1.0);
    }
    Ok(erlang_c_from_b(n, traffic, erlang_b(agents, traffic)))
}

/// The share of calls answered within `threshold_seconds` of arriving:
/// `1 − C·exp(−(N − A)·t / AHT)`.
///
/// Defined answers: 1 when there is no traffic; 0 for an unstable queue.
/// An infinite threshold is accepted (every call of a stable queue is
/// answered eventually, so the answer is 1).
pub fn service_level(agents: u32, load: &Load, threshold_seconds: f64) -> Result<f64, ErlangError> {
    let traffic = load.checked_traffic()?;
    check_threshold(threshold_seconds)?;
    check_agents(agents)?;
    if traffic == 0.0 {
        return Ok(1.0);
    }
    let n = f64::from(agents);
    if n <= traffic {
        return Ok(0.0);
    }
    let c = erlang_c_from_b(n, traffic, erlang_b(agents, traffic));
    Ok(level_from_c(
        c,
        n,
        traffic,
        load.aht_seconds,
        threshold_seconds,
    ))
}

/// Average speed of answer over all calls (those answered at once count as
/// zero): `C·AHT / (N − A)`.
///
/// 0 when there is no traffic; [`ErlangError::Unstable`] when
/// `agents <= traffic`, where the wait has no finite average.
pub fn asa_seconds(agents: u32, load: &Load) -> Result<f64, ErlangError> {
    let traffic = load.checked_traffic()?;
    check_agents(agents)?;
    if traffic == 0.0 {
        return Ok(0.0);
    }
    let n = f64::from(agents);
    if n <= traffic {
        return Err(ErlangError::Unstable { agents, traffic });
    }
    let c = erlang_c_from_b(n, traffic, erlang_b(agents, traffic));
    Ok(c * load.aht_seconds / (n - traffic))
}

/// The smallest number of agents whose [`service_level`] for
/// `threshold_seconds` is at least `target_service_level` (0 to 1).
///
/// No traffic needs 0 agents. Only stable staffings (`N > A`) qualify, so a
/// target of 0 still gets enough agents to keep the queue finite.
/// [`ErlangError::TargetUnreachable`] when no staffing up to `max_agents`
/// (itself capped at [`MAX_AGENTS`]) is enough. The comparison is made in
/// `f64`: a target of exactly 1 is met by the first staffing whose shortfall
/// `C·exp(−(N − A)·t / AHT)` rounds away (below about 1e-16).
pub fn agents_needed(
    load: &Load,
    target_service_level: f64,
    threshold_seconds: f64,
    max_agents: u32,
) -> Result<u32, ErlangError> {
    let traffic = load.checked_traffic()?;
    if !(0.0..=1.0).contains(&target_service_level) {
        return Err(ErlangError::InvalidTarget(target_service_level));
    }
    check_threshold(threshold_seconds)?;
    if traffic == 0.0 {
        return Ok(0);
    }
    let limit = max_agents.min(MAX_AGENTS);
    let unreachable = ErlangError::TargetUnreachable {
        target: target_service_level,
        max_agents: limit,
    };
    if f64::from(limit) <= traffic {
        return Err(unreachable);
    }
    // One pass of the recursion serves every candidate N, so the search
    // costs O(answer) rather than O(answer²).
    let mut b = 1.0_f64;
    for agents in 1..=limit {
        let n = f64::from(agents);
        b = erlang_b_step(b, n, traffic);
        if n <= traffic {
            continue;
        }
        let c = erlang_c_from_b(n, traffic, b);
        let level = level_from_c(c, n, traffic, load.aht_seconds, threshold_seconds);
        if level >= target_service_level {
            return Ok(agents);
        }
    }
    Err(unreachable)
}

fn is_finite_non_negative(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn check_agents(agents: u32) -> Result<(), ErlangError> {
    if agents > MAX_AGENTS {
        return Err(ErlangError::TooManyAgents {
            agents,
            max: MAX_AGENTS,
        });
    }
    Ok(())
}

fn check_threshold(threshold_seconds: f64) -> Result<(), ErlangError> {
    // `>=` is false for NaN; +∞ is a meaningful "eventually".
    if threshold_seconds >= 0.0 {
        Ok(())
    } else {
        Err(ErlangError::InvalidThreshold(threshold_seconds))
    }
}

fn erlang_b_step(previous: f64, n: f64, traffic: f64) -> f64 {
    let x = traffic * previous;
    x / (n + x)
}

fn erlang_b(agents: u32, traffic: f64) -> f64 {
    let mut b = 1.0_f64;
    for k in 1..=agents {
        b = erlang_b_step(b, f64::from(k), traffic);
        // Once B underflows to zero it stays there; the remaining steps
        // would only burn time on a huge staffing.
        if b == 0.0 {
            break;
        }
    }
    b
}

fn erlang_c_from_b(n: f64, traffic: f64, b: f64) -> f64 {
    // For n > traffic the denominator is n − traffic + traffic·b > 0.
    let c = n * b / (n - traffic * (1.0 - b));
    c.clamp(0.0, 1.0)
}

fn level_from_c(c: f64, n: f64, traffic: f64, aht_seconds: f64, threshold_seconds: f64) -> f64 {
    // aht_seconds > 0 here: a positive traffic needs a positive handling time.
    let decay = (-(n - traffic) * threshold_seconds / aht_seconds).exp();
    (1.0 - c * decay).clamp(0.0, 1.0)
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Erlang C straight from its textbook definition,
    /// `C = (A^N/N!)·N/(N−A) / (Σ_{k<N} A^k/k! + (A^N/N!)·N/(N−A))`, with the
    /// terms rescaled by the largest one so that large N neither overflows
    /// nor underflows. Shares no code with the module's recursion.
    fn erlang_c_direct(n: u32, a: f64) -> f64 {
        let mut log_terms = Vec::with_capacity(n as usize + 1);
        let mut log_term = 0.0_f64; // ln(A^0/0!)
        log_terms.push(log_term);
        for k in 1..=n {
            log_term += a.ln() - f64::from(k).ln();
            log_terms.push(log_term);
        }
        let nf = f64::from(n);
        let log_last = log_terms[n as usize] + (nf / (nf - a)).ln();
        let max = log_terms[..n as usize]
            .iter()
            .copied()
            .fold(log_last, f64::max);
        let head: f64 = log_terms[..n as usize]
            .iter()
            .map(|l| (l - max).exp())
            .sum();
        let last = (log_last - max).exp();
        last / (head + last)
    }

    fn assert_close(got: f64, want: f64, tolerance: f64, what: &str) {
        assert!(
            (got - want).abs() <= tolerance,
            "{what}: got {got}, want {want} ± {tolerance}"
        );
    }

    // Reference 1: the R package ErlangC 0.1.0 (CRAN, 2024-12-05), README
    // example of `calculate_agents`: 100 calls per 30 minutes, AHT 180 s,
    // 20 s threshold, so A = 10 Erlangs. Its table, N = 11..14:
    //   P(wait) 0.6821182, 0.4493882, 0.2852705, 0.1741319;
    //   service level 0.3896138, 0.640158, 0.7955948, 0.88835;
    //   ASA 122.78127684408, 40.4449401868444, 17.1162271821896,
    //       7.83593701177724 s;
    // and 14 agents for an 80% target. Checked independently at 60 digits
    // with mpmath:
    // C(11,10) = 0.682118204689332, SL(14) = 0.888350019179467.
    const R_ERLANGC_TABLE: [(u32, f64, f64, f64); 4] = [
        (11, 0.6821182, 0.3896138, 122.78127684408),
        (12, 0.4493882, 0.640158, 40.4449401868444),
        (13, 0.2852705, 0.7955948, 17.1162271821896),
        (14, 0.1741319, 0.88835, 7.83593701177724),
    ];
    const R_LOAD: Load = Load {
        calls_per_hour: 200.0,
        aht_seconds: 180.0,
    };

    #[test]
    fn r_erlangc_example_wait_probability_service_level_and_asa() {
        assert_eq!(traffic_erlangs(&R_LOAD), 10.0);
        for (n, pw, sl, asa) in R_ERLANGC_TABLE {
            // The package prints 7 significant digits.
            assert_close(prob_wait(n, 10.0).unwrap(), pw, 6e-8, "P(wait)");
            assert_close(service_level(n, &R_LOAD, 20.0).unwrap(), sl, 6e-7, "SL");
            assert_close(asa_seconds(n, &R_LOAD).unwrap(), asa, 1e-9, "ASA");
            assert_close(
                prob_wait(n, 10.0).unwrap(),
                erlang_c_direct(n, 10.0),
                1e-12,
                "direct sum",
            );
        }
    }

    #[test]
    fn r_erlangc_example_needs_fourteen_agents_for_80_20() {
        assert_eq!(agents_needed(&R_LOAD, 0.8, 20.0, 200).unwrap(), 14);
        // 13 agents reach 0.7956 (table above), so a 79% target needs 13.
        assert_eq!(agents_needed(&R_LOAD, 0.79, 20.0, 200).unwrap(), 13);
        // The cap is honoured.
        assert_eq!(
            agents_needed(&R_LOAD, 0.8, 20.0, 13),
            Err(ErlangError::TargetUnreachable {
                target: 0.8,
                max_agents: 13
            })
        );
    }

    // Reference 2: a textbook M/M/m exercise, quoted in the public Q&A
    // thread "Queuing Theory: How to Calculate the Probability of a Customer
    // Joining a Queue via Erlang C Curve": 120 customers per hour, 3 minutes
    // each, 10 assistants, so A = 6; "from the Erlang C curve, it follows
    // that the probability of waiting is about 0.10". Read off a curve, so
    // only two digits; mpmath at 60 digits gives 0.101299242687417.
    #[test]
    fn textbook_curve_example_a6_n10() {
        let load = Load {
            calls_per_hour: 120.0,
            aht_seconds: 180.0,
        };
        let a = traffic_erlangs(&load);
        assert_eq!(a, 6.0);
        let c = prob_wait(10, a).unwrap();
        assert_close(c, 0.10, 0.005, "published curve reading");
        assert_close(c, 0.101299242687417, 1e-13, "60-digit value");
        assert_close(c, erlang_c_direct(10, a), 1e-13, "direct sum");
    }

    // Reference 3: large staffings, from the published test suite of a
    // Python call-centre staffing module (calc_wait_probability, values
    // rounded to 4 places): C(A = 123, N = 132) = 0.3211 and
    // C(A = 12345, N = 12421) = 0.3812; mpmath at 60 digits gives
    // 0.321116179261707 and 0.381225015061751. The second needs ~12 400
    // recursion steps, where A^N/N! alone would overflow an f64.
    #[test]
    fn large_staffing_published_values() {
        let c = prob_wait(132, 123.0).unwrap();
        assert_close(c, 0.3211, 5e-5, "published");
        assert_close(c, 0.321116179261707, 1e-11, "60-digit value");
        assert_close(c, erlang_c_direct(132, 123.0), 1e-11, "direct sum");

        let c = prob_wait(12_421, 12_345.0).unwrap();
        assert_close(c, 0.3812, 5e-5, "published");
        assert_close(c, 0.381225015061751, 1e-9, "60-digit value");
        assert_close(c, erlang_c_direct(12_421, 12_345.0), 1e-9, "direct sum");
    }

    // The "2 Erlangs, 3 agents" case has a closed form:
    // B = (8/6)/(1+2+2+8/6) = 4/19, C = 3·(4/19)/(3 − 2·15/19) = 4/9.
    #[test]
    fn two_erlangs_three_agents_is_four_ninths() {
        assert_close(prob_wait(3, 2.0).unwrap(), 4.0 / 9.0, 1e-15, "4/9");
        // One agent: M/M/1 waits with probability ρ.
        assert_close(prob_wait(1, 0.3).unwrap(), 0.3, 1e-15, "M/M/1");
    }

    #[test]
    fn five_hundred_agents_stay_finite_and_match_the_direct_sum() {
        for a in [400.0, 480.0, 499.5] {
            let c = prob_wait(500, a).unwrap();
            assert!(c.is_finite() && (0.0..=1.0).contains(&c));
            assert_close(c, erlang_c_direct(500, a), 1e-10, "direct sum");
        }
        let load = Load {
            calls_per_hour: 9_000.0,
            aht_seconds: 180.0,
        };
        // A = 450: the answer must exceed A and be found quickly.
        let n = agents_needed(&load, 0.8, 20.0, MAX_AGENTS).unwrap();
        assert!(n > 450 && n < 500, "{n}");
        assert!(service_level(n, &load, 20.0).unwrap() >= 0.8);
        assert!(service_level(n - 1, &load, 20.0).unwrap() < 0.8);
    }

    #[test]
    fn unstable_and_empty_queues_have_defined_answers() {
        // agents <= traffic: everybody waits, nobody within the threshold.
        assert_eq!(prob_wait(10, 10.0), Ok(1.0));
        assert_eq!(prob_wait(3, 7.5), Ok(1.0));
        assert_eq!(prob_wait(0, 0.5), Ok(1.0));
        assert_eq!(service_level(10, &R_LOAD, 20.0), Ok(0.0));
        assert_eq!(
            asa_seconds(10, &R_LOAD),
            Err(ErlangError::Unstable {
                agents: 10,
                traffic: 10.0
            })
        );
        // No traffic: nobody waits, even with nobody on duty.
        let idle = Load {
            calls_per_hour: 0.0,
            aht_seconds: 180.0,
        };
        assert_eq!(prob_wait(0, 0.0), Ok(0.0));
        assert_eq!(service_level(0, &idle, 20.0), Ok(1.0));
        assert_eq!(asa_seconds(0, &idle), Ok(0.0));
        assert_eq!(agents_needed(&idle, 0.8, 20.0, 100), Ok(0));
        let instant = Load {
            calls_per_hour: 500.0,
            aht_seconds: 0.0,
        };
        assert_eq!(agents_needed(&instant, 0.99, 0.0, 100), Ok(0));
        // A target of 0 still demands a stable queue.
        assert_eq!(agents_needed(&R_LOAD, 0.0, 20.0, 100), Ok(11));
        // A target of 1 is met once the shortfall rounds away in f64, and
        // not one agent earlier.
        let n = agents_needed(&R_LOAD, 1.0, 20.0, 1_000).unwrap();
        assert!(n > 14 && n < 1_000, "{n}");
        assert_eq!(service_level(n, &R_LOAD, 20.0), Ok(1.0));
        assert!(service_level(n - 1, &R_LOAD, 20.0).unwrap() < 1.0);
        // An infinite threshold is "answered eventually".
        assert_eq!(service_level(11, &R_LOAD, f64::INFINITY), Ok(1.0));
        // A zero threshold is the share answered at once.
        assert_close(
            service_level(11, &R_LOAD, 0.0).unwrap(),
            1.0 - 0.6821182,
            6e-8,
            "SL(0) = 1 − C",
        );
    }

    #[test]
    fn bad_inputs_are_refused() {
        for (calls, aht) in [
            (f64::NAN, 180.0),
            (-1.0, 180.0),
            (10.0, f64::NAN),
            (10.0, -0.5),
            (f64::INFINITY, 180.0),
            (10.0, f64::INFINITY),
            (1e300, 1e300), // finite parts, infinite product
        ] {
            let load = Load {
                calls_per_hour: calls,
                aht_seconds: aht,
            };
            let err = ErlangError::InvalidLoad {
                calls_per_hour: calls,
                aht_seconds: aht,
            };
            // NaN != NaN, so compare the variant rather than the payload.
            let is_invalid_load =
                |r: Result<f64, ErlangError>| matches!(r, Err(ErlangError::InvalidLoad { .. }));
            assert!(is_invalid_load(load.checked_traffic()), "{err}");
            assert!(is_invalid_load(service_level(5, &load, 20.0)));
            assert!(is_invalid_load(asa_seconds(5, &load)));
            assert!(matches!(
                agents_needed(&load, 0.8, 20.0, 100),
                Err(ErlangError::InvalidLoad { .. })
            ));
        }
        for traffic in [f64::NAN, -1.0, f64::INFINITY, f64::NEG_INFINITY] {
            assert!(matches!(
                prob_wait(5, traffic),
                Err(ErlangError::InvalidTraffic(_))
            ));
        }
        for threshold in [f64::NAN, -1.0, f64::NEG_INFINITY] {
            assert!(matches!(
                service_level(12, &R_LOAD, threshold),
                Err(ErlangError::InvalidThreshold(_))
            ));
            assert!(matches!(
                agents_needed(&R_LOAD, 0.8, threshold, 100),
                Err(ErlangError::InvalidThreshold(_))
            ));
        }
        for target in [f64::NAN, -0.1, 1.01, f64::INFINITY] {
            assert!(matches!(
                agents_needed(&R_LOAD, target, 20.0, 100),
                Err(ErlangError::InvalidTarget(_))
            ));
        }
        assert_eq!(
            prob_wait(u32::MAX, 10.0),
            Err(ErlangError::TooManyAgents {
                agents: u32::MAX,
                max: MAX_AGENTS
            })
        );
        assert!(matches!(
            service_level(MAX_AGENTS + 1, &R_LOAD, 20.0),
            Err(ErlangError::TooManyAgents { .. })
        ));
        // Huge but finite traffic: unstable for any allowed staffing, and
        // the search gives up without looping.
        assert_eq!(prob_wait(MAX_AGENTS, 1e200), Ok(1.0));
        let flood = Load {
            calls_per_hour: 1e12,
            aht_seconds: 3600.0,
        };
        assert!(matches!(
            agents_needed(&flood, 0.8, 20.0, u32::MAX),
            Err(ErlangError::TargetUnreachable {
                max_agents: MAX_AGENTS,
                ..
            })
        ));
        // The largest allowed staffing with a tiny load ends early.
        assert_eq!(prob_wait(MAX_AGENTS, 0.001), Ok(0.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn prob_wait_matches_the_direct_sum(n in 1u32..150, fraction in 0.01f64..0.999) {
            let a = f64::from(n) * fraction;
            let c = prob_wait(n, a).unwrap();
            let direct = erlang_c_direct(n, a);
            prop_assert!((c - direct).abs() <= 1e-10 * direct.max(1e-300) + 1e-14,
                "n={} a={} got {} direct {}", n, a, c, direct);
        }

        #[test]
        fn more_agents_wait_less_and_answer_sooner(
            calls in 1.0f64..2_000.0,
            aht in 10.0f64..900.0,
            threshold in 0.0f64..120.0,
        ) {
            let load = Load { calls_per_hour: calls, aht_seconds: aht };
            let a = traffic_erlangs(&load);
            let first = a.floor() as u32 + 1;
            let mut previous_c = 1.0;
            let mut previous_sl = 0.0;
            let mut previous_asa = f64::INFINITY;
            for n in first..first + 40 {
                let c = prob_wait(n, a).unwrap();
                let sl = service_level(n, &load, threshold).unwrap();
                let asa = asa_seconds(n, &load).unwrap();
                prop_assert!(c <= previous_c + 1e-12, "C rose at n={}", n);
                prop_assert!(sl >= previous_sl - 1e-12, "SL fell at n={}", n);
                prop_assert!(asa <= previous_asa * (1.0 + 1e-12), "ASA rose at n={}", n);
                prop_assert!((0.0..=1.0).contains(&c) && (0.0..=1.0).contains(&sl));
                previous_c = c;
                previous_sl = sl;
                previous_asa = asa;
            }
        }

        #[test]
        fn a_longer_threshold_never_lowers_the_service_level(
            calls in 1.0f64..2_000.0,
            aht in 10.0f64..900.0,
            extra_agents in 1u32..20,
            t in 0.0f64..300.0,
            dt in 0.0f64..300.0,
        ) {
            let load = Load { calls_per_hour: calls, aht_seconds: aht };
            let n = traffic_erlangs(&load).floor() as u32 + extra_agents;
            let short = service_level(n, &load, t).unwrap();
            let long = service_level(n, &load, t + dt).unwrap();
            prop_assert!(long >= short, "SL({}) = {} > SL({}) = {}", t, short, t + dt, long);
        }

        #[test]
        fn agents_needed_is_the_smallest_that_meets_the_target(
            calls in 0.5f64..3_000.0,
            aht in 5.0f64..1_200.0,
            target in 0.05f64..0.99,
            threshold in 0.0f64..90.0,
        ) {
            let load = Load { calls_per_hour: calls, aht_seconds: aht };
            let n = agents_needed(&load, target, threshold, 10_000).unwrap();
            prop_assert!(f64::from(n) > traffic_erlangs(&load));
            prop_assert!(service_level(n, &load, threshold).unwrap() >= target);
            prop_assert!(service_level(n - 1, &load, threshold).unwrap() < target,
                "{} agents would do", n - 1);
        }
    }
}
