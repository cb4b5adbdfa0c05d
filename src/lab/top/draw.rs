//! `labctl top`'s screen, drawn with ratatui: a header line with the views, then each section of
//! the current view as a bordered table. The same drawing gives `--once` its plain text, through
//! ratatui's in-memory `TestBackend`.

use ratatui::backend::TestBackend;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table};
use ratatui::{Frame, Terminal};

use super::{grid, Grid, Snapshot, View, VIEWS};

/// What the header line says besides the views.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// The lab's description, e.g. "single storage, 127.0.0.1".
    pub lab: String,
    /// When the snapshot was taken, or what is happening.
    pub state: String,
}

/// Rows a section takes: borders, header, its rows (at least one), its errors.
fn height(g: &Grid) -> u16 {
    let rows = g.rows.len().max(1) + g.errors.len();
    (rows + 3) as u16
}

/// Draws view `view` of `snap` on `frame`.
pub fn draw(frame: &mut Frame, view: usize, snap: &Snapshot, status: &Status) {
    let grids: Vec<Grid> = VIEWS[view].sections.iter().map(|s| grid(s, snap)).collect();
    let mut constraints = vec![Constraint::Length(2)];
    constraints.extend(grids.iter().map(|g| Constraint::Length(height(g))));
    constraints.push(Constraint::Min(0));
    let areas = Layout::vertical(constraints).split(frame.area());
    frame.render_widget(header(view, status), areas[0]);
    for (g, area) in grids.iter().zip(areas.iter().skip(1)) {
        draw_grid(frame, g, *area);
    }
}

fn header(view: usize, status: &Status) -> Paragraph<'static> {
    let mut spans = vec![Span::styled(
        "remote-write-lab top",
        Style::default().add_modifier(Modifier::BOLD),
    )];
    for (i, v) in VIEWS.iter().enumerate() {
        let label = format!("  {}:{}", i + 1, v.name);
        spans.push(if i == view {
            Span::styled(label, Style::default().add_modifier(Modifier::REVERSED))
        } else {
            Span::raw(label)
        });
    }
    spans.push(Span::raw(format!("   {}", status.lab)));
    let keys = format!(
        "{}   keys: 1-4 or tab switch view, r refresh, q quit",
        status.state
    );
    Paragraph::new(vec![Line::from(spans), Line::from(keys)])
}

fn draw_grid(frame: &mut Frame, g: &Grid, area: Rect) {
    let columns = g.header.len().max(1);
    let widths: Vec<Constraint> = (0..columns)
        .map(|i| {
            let longest = g
                .rows
                .iter()
                .filter_map(|r| r.get(i))
                .chain(g.header.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(1);
            Constraint::Length(longest as u16 + 2)
        })
        .collect();
    let mut rows: Vec<Row> = g
        .rows
        .iter()
        .map(|r| Row::new(r.iter().map(|c| Cell::from(c.clone()))))
        .collect();
    if g.rows.is_empty() {
        rows.push(Row::new(vec![Cell::from("no data yet")]));
    }
    rows.extend(
        g.errors
            .iter()
            .map(|e| Row::new(vec![Cell::from(format!("error: {e}"))])),
    );
    let header = Row::new(g.header.iter().map(|h| Cell::from(h.clone())))
        .style(Style::default().add_modifier(Modifier::BOLD));
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(format!(" {} ", g.title)));
    frame.render_widget(table, area);
}

/// One frame of view `view` as plain text, `width` columns wide, trailing spaces trimmed.
pub fn plain(view: usize, snap: &Snapshot, status: &Status, width: u16) -> String {
    let sections = &VIEWS[view].sections;
    let height: u16 = 2 + sections.iter().map(|s| height(&grid(s, snap))).sum::<u16>();
    let mut terminal =
        Terminal::new(TestBackend::new(width, height)).expect("an in-memory terminal");
    terminal
        .draw(|f| draw(f, view, snap, status))
        .expect("drawing in memory");
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for row in buffer.content.chunks(usize::from(width)) {
        let line: String = row.iter().map(|c| c.symbol()).collect();
        out += line.trim_end();
        out.push('\n');
    }
    out
}

/// The view named `name`.
pub fn view_index(name: &str) -> Option<usize> {
    VIEWS.iter().position(|v: &View| v.name == name)
}

#[cfg(test)]
mod tests {
    use super::super::{Answer, PanelRef};
    use super::*;

    #[test]
    fn plain_draws_the_header_and_every_section_of_the_view() {
        let q: PanelRef = VIEWS[1].sections[1].queries()[0];
        let shards: Answer = Ok(vec![(
            [("remote_name".to_string(), "receiver".to_string())].into(),
            1.0,
        )]);
        let snap = Snapshot {
            at: 0.0,
            answers: [(q, shards)].into(),
        };
        let status = Status {
            lab: "single storage".into(),
            state: "at 12:00:00".into(),
        };
        let text = plain(1, &snap, &status, 100);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[0].starts_with("remote-write-lab top  1:overview  2:pipeline"),
            "{text}"
        );
        assert!(lines[1].starts_with("at 12:00:00   keys: 1-4"), "{text}");
        assert!(text.contains("┌ vmagent queues ─"), "{text}");
        assert!(text.contains("│no data yet"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("│receiver") && l.contains(" 1 ")),
            "{text}"
        );
        assert!(text.contains("┌ VictoriaMetrics: vminsert"), "{text}");
    }

    #[test]
    fn view_index_knows_every_view() {
        assert_eq!(view_index("probes"), Some(2));
        assert_eq!(view_index("nope"), None);
    }
}
