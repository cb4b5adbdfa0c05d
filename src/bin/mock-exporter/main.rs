//! mock-exporter: realistic, deterministic Prometheus metrics for load and pipeline tests.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use remote_write_lab::exporter::fleet::{Churn, FleetOptions, Model};
use remote_write_lab::exporter::incident::Spec;
use remote_write_lab::exporter::{reference, server};

mod compat;
mod push;

/// Serve realistic, deterministic Prometheus metrics.
///
/// HTTP RED histograms and counters, node_exporter-style USE metrics, application and business
/// metrics, and cross-region probes between us-east-1, eu-west-1, ap-southeast-1 and sa-east-1
/// with latencies shaped by measured inter-region round-trip times. Values are a pure function of
/// the seed and the current second: two exporters with one seed serve the same page.
///
/// Endpoints: /metrics (text format 0.0.4), /healthz.
///
///   $ mock-exporter                          # 900-odd series on 127.0.0.1:2112
///   $ mock-exporter --scale 112              # about 100,000 series
///   $ mock-exporter --scale 20 --churn-interval 10m --churn-fraction 0.2
///   $ mock-exporter --incident 'service=checkout,start=+60s,duration=10m,errors=20,latency=3'
///   $ mock-exporter --list-metrics > docs/metrics/reference.md
///   $ mock-exporter push --url http://127.0.0.1:8428/api/v1/write --protocol 1.0
///   $ mock-exporter compat --out docs/compatibility.md
#[derive(Debug, Parser)]
#[command(name = "mock-exporter", version, verbatim_doc_comment)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,

    /// Address to listen on.
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:2112",
        env = "MOCK_EXPORTER_LISTEN"
    )]
    listen: SocketAddr,

    /// Seed of every simulated value; the same seed gives the same page at the same second.
    #[arg(long, value_name = "N", default_value_t = 1, global = true)]
    seed: u64,

    /// Number of simulated hosts. Each serves the whole catalogue with its own `host` label, so
    /// the page holds SCALE times the series of one host (about 112 for 100,000 series).
    #[arg(long, value_name = "N", default_value_t = 1, global = true, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    scale: u32,

    /// Replace a fraction of the hosts with new ones every DURATION (e.g. 10m): their series
    /// disappear and new ones with fresh `host` labels start from zero. Off by default.
    #[arg(long, value_name = "DURATION", global = true, value_parser = parse_duration)]
    churn_interval: Option<Duration>,

    /// Fraction of hosts replaced at each churn interval.
    #[arg(long, value_name = "F", default_value_t = 0.1, global = true, value_parser = parse_fraction)]
    churn_fraction: f64,

    /// Schedule an incident: one service (or one route of it) answers with more server errors
    /// and more slowly for a while. Repeat for several; two on one endpoint must not overlap.
    ///
    /// Keys: service (required), route (default: every route of the service), region (default:
    /// every page; with it, only /metrics?region=NAME shows the incident, as the lab's vmagents
    /// scrape), start (+DURATION after the exporter starts, Unix seconds or RFC 3339), duration,
    /// errors (factor on the server-error share; successes give way so the request rate stays),
    /// latency (factor on the median latency). Services and routes are listed by --list-metrics.
    ///
    ///   --incident 'service=checkout,start=+60s,duration=10m,errors=20,latency=3'
    ///   --incident 'service=auth,route=/auth/token,region=eu-west-1,start=+5m,duration=2m,errors=50'
    #[arg(long, value_name = "SPEC", global = true, verbatim_doc_comment)]
    incident: Vec<Spec>,

    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,

    /// Print the metric catalogue as Markdown and exit.
    #[arg(long)]
    list_metrics: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    Push(push::PushArgs),
    Compat(compat::CompatArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{e} (try 30s, 10m or 1h)"))?;
    if d.as_secs() == 0 {
        return Err("must be at least one second".into());
    }
    Ok(d)
}

fn parse_fraction(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|_| format!("not a number: {s}"))?;
    if (0.0..=1.0).contains(&f) {
        Ok(f)
    } else {
        Err("must be between 0 and 1".into())
    }
}

/// Lets SIGPIPE end the process quietly (`mock-exporter --list-metrics | head`), as other
/// command-line tools do, instead of a panic on the next write. Only for printing: the server
/// keeps Rust's default, so that a client gone mid-answer is an error, not the end.
fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: installs the default disposition before any thread is started; no handler runs.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

fn main() -> ExitCode {
    let args = Args::parse();
    let model = Model::new(FleetOptions {
        seed: args.seed,
        scale: args.scale as usize,
        churn: args.churn_interval.map(|d| Churn {
            interval_secs: d.as_secs(),
            fraction: args.churn_fraction,
        }),
        first_host: 0,
    });
    let now = server::unix_now();
    let schedule = args.incident.iter().map(|s| s.resolve(now)).collect();
    let model = match model.with_incidents(schedule) {
        Ok(model) => model,
        Err(e) => {
            eprintln!("mock-exporter: --incident: {e}");
            return ExitCode::from(2);
        }
    };
    if args.list_metrics {
        default_sigpipe();
        print!("{}", reference::markdown(&model));
        return ExitCode::SUCCESS;
    }
    init_logging(args.log_format);
    match args.command {
        Some(Command::Push(push)) => return push::main(model, push),
        Some(Command::Compat(c)) => return compat::main(c),
        None => {}
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mock-exporter: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args.listen, model)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mock-exporter: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(listen: SocketAddr, model: Model) -> anyhow::Result<()> {
    let listener = server::bind(listen).await?;
    let opts = model.options();
    tracing::info!(
        listen = %listener.local_addr()?,
        seed = opts.seed,
        scale = opts.scale,
        series = model.series_count(),
        "serving /metrics"
    );
    for inc in model.incidents() {
        tracing::info!(
            service = inc.service,
            route = inc.route.as_deref().unwrap_or("*"),
            start = inc.start,
            end = inc.end,
            errors = inc.errors,
            latency = inc.latency,
            "incident scheduled"
        );
    }
    server::serve(listener, model, server::shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}
