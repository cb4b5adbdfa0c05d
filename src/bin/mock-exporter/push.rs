//! `mock-exporter push`: the command line of remote write from the model.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use hyper::Uri;
use remote_write_lab::exporter::fleet::Model;
use remote_write_lab::exporter::push::{self, stats::Stats, Config, Protocol};
use remote_write_lab::exporter::server;

/// Push the same series as the scrape page by remote write, continuously.
///
/// Every INTERVAL the page of that second (same seed, same values as `GET /metrics`) is sent to
/// every URL, stamped with that second, in requests of --batch-size samples, until --duration
/// ends. Histograms go as their `_bucket`, `_sum` and `_count` series. Nothing is kept per
/// sample: memory stays flat however long it runs.
///
/// Retries follow Prometheus: 5xx and connection errors are retried with back-off from 30 ms
/// doubling to 5 s, 4xx are dropped and counted, 429 is retried only with --retry-on-429.
/// Retrying stops --drain after the last round; what is still unsent then counts as dropped.
/// The figures (sent, written as the receiver reports it, retried, dropped, p50/p99 latency)
/// are printed at the end and served on /metrics with --listen.
///
/// Exit status: 0 when every sample was answered 2xx, 1 when some were dropped, 2 on bad input.
///
///   $ mock-exporter push --url http://127.0.0.1:8428/api/v1/write --protocol 1.0
///   $ mock-exporter push --url http://127.0.0.1:9090/api/v1/write --protocol 2.0 --scale 10
///   $ mock-exporter push --url http://127.0.0.1:8480/insert/0/prometheus/api/v1/write \
///         --url http://127.0.0.1:8490/insert/0/prometheus/api/v1/write --duration 1h --concurrency 4
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PushArgs {
    /// Remote-write URL (plain http); repeat to send every sample to each.
    #[arg(long, value_name = "URL", required = true, value_parser = parse_url)]
    url: Vec<Uri>,

    /// Protocol: 1.0 (prometheus.WriteRequest) or 2.0 (io.prometheus.write.v2.Request).
    #[arg(long, value_enum, value_name = "VERSION")]
    protocol: ProtocolArg,

    /// Time between rounds, in whole seconds (e.g. 15s, 1m).
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse_interval)]
    interval: Duration,

    /// How long to send. Rounds start at once and every INTERVAL while within DURATION.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = crate::parse_duration)]
    duration: Duration,

    /// Requests in flight per URL.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    concurrency: u16,

    /// Samples per request (Prometheus' max_samples_per_send; 2000 since 2.44, 500 in 2.42).
    #[arg(long, value_name = "N", default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    batch_size: u64,

    /// Retry 429 answers (honouring Retry-After) instead of dropping them.
    #[arg(long)]
    retry_on_429: bool,

    /// Stamp samples this much in the past (e.g. 3h), to see how a receiver treats old data.
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = humantime::parse_duration)]
    backdate: Duration,

    /// Keep retrying this long after the last round before giving up.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
    drain: Duration,

    /// Serve the running figures on http://ADDR/metrics (e.g. 127.0.0.1:2113). Off by default.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ProtocolArg {
    #[value(name = "1.0")]
    V1,
    #[value(name = "2.0")]
    V2,
}

fn parse_url(s: &str) -> Result<Uri, String> {
    let uri: Uri = s.parse().map_err(|e| format!("not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        Some("https") => Err("https is not supported: plain http only".into()),
        _ => Err("expected http://HOST:PORT/PATH".into()),
    }
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = crate::parse_duration(s)?;
    if d.subsec_nanos() != 0 {
        return Err("must be whole seconds (the model is quantised to the second)".into());
    }
    Ok(d)
}

pub fn main(model: Model, args: PushArgs) -> ExitCode {
    let urls: Vec<String> = args.url.iter().map(|u| u.to_string()).collect();
    let cfg = Config {
        urls: args.url,
        protocol: match args.protocol {
            ProtocolArg::V1 => Protocol::V1,
            ProtocolArg::V2 => Protocol::V2,
        },
        interval_secs: args.interval.as_secs(),
        duration: args.duration,
        start: push::unix_now(),
        backdate_ms: args.backdate.as_millis() as i64,
        concurrency: args.concurrency as usize,
        batch_size: args.batch_size,
        retry_on_429: args.retry_on_429,
        drain: args.drain,
        page: push::Page::default(),
    };
    let stats = Arc::new(Stats::new(&urls));
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-exporter: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(model, cfg, stats.clone(), args.listen));
    print!("{}", stats.summary());
    match result {
        Err(e) => {
            eprintln!("mock-exporter: {e:#}");
            ExitCode::from(2)
        }
        Ok(()) if stats.urls.iter().any(|u| u.dropped_total() > 0) => ExitCode::from(1),
        Ok(()) => ExitCode::SUCCESS,
    }
}

async fn run(
    model: Model,
    cfg: Config,
    stats: Arc<Stats>,
    listen: Option<SocketAddr>,
) -> anyhow::Result<()> {
    tracing::info!(
        protocol = cfg.protocol.as_str(),
        series = model.series_count(),
        rounds = cfg.rounds(),
        urls = cfg.urls.len(),
        "pushing"
    );
    let metrics = match listen {
        Some(addr) => Some(serve_stats(addr, stats.clone()).await?),
        None => None,
    };
    let result = tokio::select! {
        r = push::run(model, cfg, stats) => r,
        () = server::shutdown_signal() => {
            tracing::warn!("interrupted: the figures below cover what was done");
            Ok(())
        }
    };
    if let Some(m) = metrics {
        m.abort();
    }
    result
}

async fn serve_stats(
    addr: SocketAddr,
    stats: Arc<Stats>,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use warp::Filter;
    let listener = server::bind(addr).await?;
    tracing::info!(listen = %listener.local_addr()?, "serving the push figures on /metrics");
    let route = warp::path!("metrics").and(warp::get()).map(move || {
        warp::http::Response::builder()
            .header(
                "content-type",
                remote_write_lab::exporter::exposition::content_type(),
            )
            .body(stats.render())
            .expect("static headers are valid")
    });
    let service = warp::service(route.map(warp::Reply::into_response));
    Ok(tokio::spawn(server::accept(
        listener,
        service,
        std::future::pending(),
    )))
}
