//! Incidents: scheduled windows in which one service (or one of its routes) fails more often and
//! answers more slowly, so that SLO alerts have something real to fire on.
//!
//! An incident is written `service=checkout,route=/checkout/pay,start=+60s,duration=10m,errors=20,latency=3`
//! (`--incident` on the command line, `[[exporter.incident]]` in lab.toml):
//!
//! - `service` (required) and `route` (optional: every route of the service) pick the endpoints;
//! - `region` (optional: every region) limits it to the pages scraped with `?region=NAME`, as each
//!   region's vmagent in the lab scrapes; a scrape without it never sees a regional incident;
//! - `start` is `+DURATION` after the exporter starts, or an instant (Unix seconds or RFC 3339);
//!   [`Spec::resolve`] turns it into Unix seconds once, so the page stays a pure function of
//!   (seed, time, schedule);
//! - `duration` is how long it lasts;
//! - `errors` multiplies the server-error share of requests (successes give way, so the request
//!   rate stays what it was at average load; the share is capped at what the client errors leave);
//! - `latency` multiplies the median latency of every request made during the window.
//!
//! How the counters stay monotonic is [`super::fleet`]'s business: requests made inside the window
//! are counted by components of their own, with the multiplied rate and median.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// When an incident starts, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// This long after the exporter starts.
    After(Duration),
    /// At this Unix second.
    At(u64),
}

/// One incident as written, before its start is fixed.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub service: String,
    pub route: Option<String>,
    pub region: Option<String>,
    pub start: Start,
    pub duration: Duration,
    pub errors: f64,
    pub latency: f64,
}

/// One incident with its window fixed in Unix seconds: `[start, end)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    pub service: String,
    pub route: Option<String>,
    pub region: Option<String>,
    pub start: u64,
    pub end: u64,
    pub errors: f64,
    pub latency: f64,
}

impl Spec {
    /// Fixes the start: `+DURATION` counts from `now` (Unix seconds).
    pub fn resolve(&self, now: u64) -> Incident {
        let start = match self.start {
            Start::After(d) => now + d.as_secs(),
            Start::At(t) => t,
        };
        Incident {
            service: self.service.clone(),
            route: self.route.clone(),
            region: self.region.clone(),
            start,
            end: start + self.duration.as_secs(),
            errors: self.errors,
            latency: self.latency,
        }
    }
}

impl Incident {
    /// Whether the incident touches the endpoint `(service, route)`.
    pub fn targets(&self, service: &str, route: &str) -> bool {
        self.service == service && self.route.as_deref().is_none_or(|r| r == route)
    }

    /// Whether the incident shows on the page scraped for `region` (none: no `?region=`).
    pub fn shows_in(&self, region: Option<&str>) -> bool {
        match (&self.region, region) {
            (None, _) => true,
            (Some(mine), Some(r)) => mine == r,
            (Some(_), None) => false,
        }
    }

    /// Whether two incidents could touch one endpoint on one page at one time.
    fn overlaps(&self, o: &Incident) -> bool {
        let both = |a: &Option<String>, b: &Option<String>| match (a, b) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        self.service == o.service
            && both(&self.route, &o.route)
            && both(&self.region, &o.region)
            && self.start < o.end
            && o.start < self.end
    }
}

/// Checks a schedule: services and routes must exist (`endpoints` lists `(service, route)`), and
/// two incidents on one endpoint must not overlap in time.
pub fn check(schedule: &[Incident], endpoints: &[(&str, &str)]) -> Result<(), String> {
    for (i, inc) in schedule.iter().enumerate() {
        if !endpoints.iter().any(|(s, r)| inc.targets(s, r)) {
            let known: Vec<String> = endpoints.iter().map(|(s, r)| format!("{s} {r}")).collect();
            return Err(format!(
                "incident {}: no endpoint is service={}{} (known: {})",
                i + 1,
                inc.service,
                inc.route
                    .as_deref()
                    .map(|r| format!(",route={r}"))
                    .unwrap_or_default(),
                known.join(", ")
            ));
        }
        if let Some(j) = schedule[..i].iter().position(|o| o.overlaps(inc)) {
            return Err(format!(
                "incidents {} and {} overlap on {}: give them distinct windows",
                j + 1,
                i + 1,
                inc.service
            ));
        }
    }
    Ok(())
}

impl FromStr for Spec {
    type Err = String;

    fn from_str(s: &str) -> Result<Spec, String> {
        let (mut service, mut route, mut start, mut duration) = (None, None, None, None);
        let mut region = None;
        let (mut errors, mut latency) = (1.0, 1.0);
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not KEY=VALUE"))?;
            match k.trim() {
                "service" => service = Some(v.to_string()),
                "route" => route = Some(v.to_string()),
                "region" => region = Some(v.to_string()),
                "start" => start = Some(parse_start(v)?),
                "duration" => duration = Some(parse_duration(v)?),
                "errors" => errors = parse_factor("errors", v)?,
                "latency" => latency = parse_factor("latency", v)?,
                other => {
                    return Err(format!(
                        "unknown key `{other}` (service, route, region, start, duration, errors, latency)"
                    ))
                }
            }
        }
        let spec = Spec {
            service: service.ok_or("service= is required")?,
            route,
            region,
            start: start.ok_or("start= is required (+60s, or a Unix second)")?,
            duration: duration.ok_or("duration= is required (e.g. 10m)")?,
            errors,
            latency,
        };
        if latency == 0.0 {
            return Err("latency must be above 0".into());
        }
        Ok(spec)
    }
}

fn parse_duration(v: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(v).map_err(|e| format!("duration `{v}`: {e}"))?;
    if d.as_secs() == 0 {
        return Err(format!("duration `{v}`: must be at least one second"));
    }
    Ok(d)
}

fn parse_start(v: &str) -> Result<Start, String> {
    if let Some(after) = v.strip_prefix('+') {
        let d = humantime::parse_duration(after).map_err(|e| format!("start `{v}`: {e}"))?;
        return Ok(Start::After(d));
    }
    if let Ok(secs) = v.parse::<u64>() {
        return Ok(Start::At(secs));
    }
    let t = humantime::parse_rfc3339_weak(v)
        .map_err(|_| format!("start `{v}`: use +DURATION, Unix seconds or RFC 3339"))?;
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| format!("start `{v}`: before 1970"))?;
    Ok(Start::At(secs.as_secs()))
}

fn parse_factor(key: &str, v: &str) -> Result<f64, String> {
    match v.parse::<f64>() {
        Ok(f) if f.is_finite() && f >= 0.0 => Ok(f),
        _ => Err(format!(
            "{key} `{v}`: a factor of 0 or more, like 20 or 0.5"
        )),
    }
}

impl fmt::Display for Spec {
    /// The command-line form, which [`Spec::from_str`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "service={}", self.service)?;
        if let Some(r) = &self.route {
            write!(f, ",route={r}")?;
        }
        if let Some(r) = &self.region {
            write!(f, ",region={r}")?;
        }
        match self.start {
            Start::After(d) => write!(f, ",start=+{}s", d.as_secs())?,
            Start::At(t) => write!(f, ",start={t}")?,
        }
        write!(
            f,
            ",duration={}s,errors={},latency={}",
            self.duration.as_secs(),
            self.errors,
            self.latency
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_incident_reads_every_key() {
        let s: Spec =
            "service=checkout,route=/checkout/pay,region=eu-west-1,start=+60s,duration=10m,errors=20,latency=3"
                .parse()
                .unwrap();
        assert_eq!(s.start, Start::After(Duration::from_secs(60)));
        assert_eq!(s.duration, Duration::from_secs(600));
        assert_eq!((s.errors, s.latency), (20.0, 3.0));
        assert_eq!(s.to_string().parse::<Spec>().unwrap(), s);
        let inc = s.resolve(1000);
        assert_eq!((inc.start, inc.end), (1060, 1660));
    }

    #[test]
    fn parse_incident_refuses_bad_input() {
        let f = |s: &str, want: &str| {
            let e = s.parse::<Spec>().unwrap_err();
            assert!(e.contains(want), "{s}: {e}");
        };
        f("start=+1m,duration=1m", "service= is required");
        f("service=a,duration=1m", "start= is required");
        f("service=a,start=+1m", "duration= is required");
        f("service=a,start=+1m,duration=0s", "at least one second");
        f(
            "service=a,start=+1m,duration=1m,errors=-1",
            "a factor of 0 or more",
        );
        f("service=a,start=+1m,duration=1m,latency=0", "above 0");
        f("service=a,start=soon,duration=1m", "use +DURATION");
        f("service=a,colour=red", "unknown key `colour`");
        f("service", "is not KEY=VALUE");
    }

    #[test]
    fn check_refuses_unknown_endpoints_and_overlaps() {
        let eps = [("checkout", "/checkout/pay"), ("auth", "/auth/token")];
        let inc = |svc: &str, route: Option<&str>, start: u64| Incident {
            service: svc.into(),
            route: route.map(Into::into),
            region: None,
            start,
            end: start + 60,
            errors: 2.0,
            latency: 1.0,
        };
        assert!(check(&[inc("checkout", None, 0), inc("auth", None, 30)], &eps).is_ok());
        assert!(check(&[inc("checkout", None, 0), inc("checkout", None, 60)], &eps).is_ok());
        let e = check(&[inc("checkout", None, 0), inc("checkout", None, 30)], &eps).unwrap_err();
        assert!(e.contains("incidents 1 and 2 overlap"), "{e}");
        let mut eu = inc("checkout", None, 30);
        eu.region = Some("eu-west-1".into());
        let mut us = eu.clone();
        us.region = Some("us-east-1".into());
        assert!(check(&[eu.clone(), us], &eps).is_ok());
        assert!(check(&[inc("checkout", None, 0), eu.clone()], &eps).is_err());
        assert!(eu.shows_in(Some("eu-west-1")) && !eu.shows_in(Some("us-east-1")));
        assert!(!eu.shows_in(None) && inc("auth", None, 0).shows_in(None));
        let e = check(&[inc("checkout", Some("/nope"), 0)], &eps).unwrap_err();
        assert!(
            e.contains("no endpoint is service=checkout,route=/nope"),
            "{e}"
        );
    }
}
