//! `labctl top`: the running lab, live in the terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::Args;
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::endpoints::EndpointArgs;
use super::{parse_duration, LabArgs, Outcome};
use crate::lab::dashboards;
use crate::lab::query::Client;
use crate::lab::top::draw::{self, Status};
use crate::lab::top::{self, Snapshot, Source, VIEWS};

/// Watch the running lab live in the terminal.
///
/// Four views, each a few tables refreshed every --interval:
///   1 overview   per region: samples/s ingested, age of the newest sample, vmagent queues;
///                RED by region (request rate, p50, p99); the writer's shards and lag
///   2 pipeline   vmagent queues and drops; the writer; vminsert rows/s, vmstorage rows,
///                vmselect queries/s, vmauth requests/s
///   3 probes     the probe latency matrix (p50, p99) and success ratios, source by target
///   4 red        request rate and 5xx ratio by region and service; latency by region
/// The queries are the Grafana dashboards' own panels (grafana/dashboards), run at one instant
/// with every region selected, through the panel's datasource (VictoriaMetrics through vmauth,
/// or the receiver); Grafana itself is not needed.
///
/// Keys: 1-4 or Tab / Shift-Tab / arrows switch views, r refreshes now, q, Esc or Ctrl-C quit.
///
///   $ labctl top
///   $ labctl top --interval 5s --view probes
///   $ labctl top --once --view pipeline     # one frame as plain text, for scripts
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TopArgs {
    #[command(flatten)]
    pub lab: LabArgs,

    #[command(flatten)]
    pub endpoints: EndpointArgs,

    /// How often to query the lab again.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration, help_heading = "View")]
    pub interval: Duration,

    /// The view to start with (or to print with --once): overview, pipeline, probes or red.
    #[arg(long, value_name = "VIEW", default_value = "overview", value_parser = parse_view, help_heading = "View")]
    pub view: usize,

    /// Print one frame of the view as plain text and exit: 0 when every query answered, 1 when
    /// one failed (its error is in the frame).
    #[arg(long, help_heading = "Output")]
    pub once: bool,

    /// Width of the --once frame, in columns.
    #[arg(long, value_name = "N", default_value_t = 120, help_heading = "Output")]
    pub width: u16,

    /// Folder of dashboard JSON files (default: grafana/dashboards beside lab.toml).
    #[arg(long, value_name = "DIR", help_heading = "Lab")]
    pub dir: Option<PathBuf>,
}

fn parse_view(s: &str) -> Result<usize, String> {
    draw::view_index(s).ok_or_else(|| {
        let names: Vec<&str> = VIEWS.iter().map(|v| v.name).collect();
        format!("no view {s:?} (views: {})", names.join(", "))
    })
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

pub fn run(args: TopArgs) -> anyhow::Result<Outcome> {
    let (t, e) = args.endpoints.resolve(&args.lab)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| args.lab.beside("grafana/dashboards"));
    let source = Source {
        dashboards: dashboards::load(&dir)?,
        datasources: BTreeMap::from([
            ("victoriametrics".to_string(), e.query.clone()),
            ("prometheus-receiver".to_string(), e.receiver.clone()),
        ]),
        vars: top::all_regions(
            (e.scrape_interval * 4).max(Duration::from_secs(1)),
            e.scrape_interval,
        ),
    };
    let lab = format!(
        "{} storage, {} regions, every {}",
        e.storage.as_str(),
        t.region.len(),
        humantime::format_duration(args.interval)
    );
    if args.once {
        return once(&args, &source, lab);
    }
    if !std::io::stdout().is_terminal() {
        bail!("labctl top needs a terminal; `labctl top --once` prints one frame as text");
    }
    live(&args, source, lab)
}

fn once(args: &TopArgs, source: &Source, lab: String) -> anyhow::Result<Outcome> {
    let client = Client::with_timeout(Duration::from_secs(10));
    let at = now();
    let snap = source.snapshot(&client, &top::all_queries(), at);
    let status = Status {
        lab,
        state: format!(
            "at {}",
            humantime::format_rfc3339_seconds(SystemTime::now())
        ),
    };
    print!("{}", draw::plain(args.view, &snap, &status, args.width));
    let failed = snap.answers.values().any(Result::is_err);
    Ok(if failed { Outcome::Failed } else { Outcome::Ok })
}

/// Queries the lab every `interval`, or at once when asked on `now`, until the receiver is gone.
fn poll(
    source: Source,
    interval: Duration,
    snaps: mpsc::Sender<Snapshot>,
    now: mpsc::Receiver<()>,
) {
    let client = Client::with_timeout(Duration::from_secs(5));
    let queries = top::all_queries();
    loop {
        if snaps
            .send(source.snapshot(&client, &queries, self::now()))
            .is_err()
        {
            return;
        }
        match now.recv_timeout(interval) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// What a key asks for.
enum Action {
    Quit,
    View(usize),
    Refresh,
    Nothing,
}

fn action(key: KeyEvent, view: usize) -> Action {
    let n = VIEWS.len();
    match key.code {
        KeyCode::Char('q') | KeyCode::Esc => Action::Quit,
        KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => Action::Quit,
        KeyCode::Char('r') => Action::Refresh,
        KeyCode::Char(c @ '1'..='9') => {
            let i = c as usize - '1' as usize;
            if i < n {
                Action::View(i)
            } else {
                Action::Nothing
            }
        }
        KeyCode::Tab | KeyCode::Right => Action::View((view + 1) % n),
        KeyCode::BackTab | KeyCode::Left => Action::View((view + n - 1) % n),
        _ => Action::Nothing,
    }
}

fn live(args: &TopArgs, source: Source, lab: String) -> anyhow::Result<Outcome> {
    let (snap_tx, snaps) = mpsc::channel();
    let (refresh, refresh_rx) = mpsc::channel();
    let interval = args.interval;
    std::thread::spawn(move || poll(source, interval, snap_tx, refresh_rx));
    let mut terminal = ratatui::init();
    let mut view = args.view;
    let mut snap = Snapshot::default();
    let mut status = Status {
        lab,
        state: "querying the lab…".into(),
    };
    let result = loop {
        while let Ok(s) = snaps.try_recv() {
            let failed = s.answers.values().filter(|a| a.is_err()).count();
            status.state = format!(
                "at {}{}",
                humantime::format_rfc3339_seconds(SystemTime::now()),
                if failed > 0 {
                    format!(", {failed} queries failed")
                } else {
                    String::new()
                }
            );
            snap = s;
        }
        if let Err(e) = terminal.draw(|f| draw::draw(f, view, &snap, &status)) {
            break Err(e.into());
        }
        match event::poll(Duration::from_millis(200)) {
            Ok(false) => continue,
            Ok(true) => {}
            Err(e) => break Err(e.into()),
        }
        let key = match event::read() {
            Ok(Event::Key(k)) if k.kind == KeyEventKind::Press => k,
            Ok(_) => continue,
            Err(e) => break Err(e.into()),
        };
        match action(key, view) {
            Action::Quit => break Ok(Outcome::Ok),
            Action::View(v) => view = v,
            Action::Refresh => {
                let _ = refresh.send(());
            }
            Action::Nothing => {}
        }
    };
    ratatui::restore();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn action_switches_views_and_quits() {
        assert!(matches!(
            action(key(KeyCode::Char('3')), 0),
            Action::View(2)
        ));
        assert!(matches!(
            action(key(KeyCode::Char('9')), 0),
            Action::Nothing
        ));
        assert!(matches!(action(key(KeyCode::Tab), 3), Action::View(0)));
        assert!(matches!(action(key(KeyCode::BackTab), 0), Action::View(3)));
        assert!(matches!(action(key(KeyCode::Char('q')), 1), Action::Quit));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(matches!(action(ctrl_c, 1), Action::Quit));
    }

    #[test]
    fn parse_view_names_the_views_it_knows() {
        assert_eq!(parse_view("red"), Ok(3));
        assert_eq!(
            parse_view("x").unwrap_err(),
            "no view \"x\" (views: overview, pipeline, probes, red)"
        );
    }
}
