//! Aligned tables for people (`--json` is for scripts), made by comfy-table: on a terminal they
//! fit its width, long cells wrapped, except the first column (the id or object to copy into the
//! next command), which is never broken. Piped, nothing is wrapped.

use comfy_table::{ColumnConstraint, ContentArrangement, Table};

pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    render_within(headers, rows, None)
}

/// The table within `width` columns (the terminal's when `None` and there is one).
fn render_within(headers: &[&str], rows: &[Vec<String>], width: Option<u16>) -> String {
    let mut table = Table::new();
    table.load_style(comfy_table::presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(headers.to_vec()).add_rows(rows.iter().cloned());
    if let Some(width) = width {
        table.set_width(width);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    if let Some(first) = table.column_mut(0) {
        first.set_constraint(ColumnConstraint::ContentWidth);
    }
    table.trim_fmt() + "\n"
}

/// A stored RFC 3339 time as a table shows it: UTC, to the second (`2026-12-05 13:56:22`).
pub fn time(value: &serde_json::Value) -> String {
    match value.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S").to_string(),
        None => crate::client::text(value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_to_the_widest_cell() {
        let out = render(&["A", "BB"], &[vec!["long".into(), "x".into()], vec!["s".into(), "yy".into()]]);
        assert_eq!(out, "A     BB\nlong  x\ns     yy\n");
    }

    #[test]
    fn a_narrow_terminal_wraps_long_cells_but_never_the_first_column() {
        let id = "0193a6f2-7d1c-7b5e-9f00-3c2d1e0f4a5b";
        let rows = [vec![id.to_string(), "UpdateHost".into(), "failed: Zabbix said no to this host, twice".into()]];
        let out = render_within(&["ID", "NAME", "RESULT"], &rows, Some(60));
        assert!(out.lines().all(|l| l.chars().count() <= 60), "{out}");
        assert!(out.lines().any(|l| l.starts_with(id)), "{out}");
    }

    #[test]
    fn times_are_shown_to_the_second_in_utc() {
        assert_eq!(time(&serde_json::json!("2026-12-05T13:56:22.123456+01:00")), "2026-12-05 12:56:22");
        assert_eq!(time(&serde_json::json!(null)), "-");
    }
}
