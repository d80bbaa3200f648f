//! The one list of output formats every report is rendered in, and the renderers of
//! the run report and the suite report behind it. Each `render` matches every format,
//! so a new format is a compile error wherever a report must decide what to do with it.

use super::baseline::BaselineDiff as Diff;
use super::suite::SuiteReport;
use super::Report;

/// An output format. The CLI offers each command the subset it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// For a person at a terminal.
    Table,
    /// The versioned JSON wire format of that report.
    Json,
    /// JUnit XML, for CI test reporters.
    Junit,
    /// SARIF, for code-scanning dashboards.
    Sarif,
    /// Markdown, for a pull request comment or a job summary.
    Markdown,
    /// One self-contained HTML page, for a browser or a printer.
    Html,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
            Format::Markdown => "markdown",
            Format::Html => "html",
        }
    }
}

/// A report asked for in a format it has no rendering in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the {report} has no {} rendering", .format.as_str())]
pub struct Unsupported {
    pub report: &'static str,
    pub format: Format,
}

impl Report {
    /// The report of `run` and `compare`; `color` only affects the table.
    pub fn render(&self, format: Format, color: bool) -> Result<String, Unsupported> {
        match format {
            Format::Table => Ok(self.to_table(color)),
            Format::Json => Ok(self.to_json()),
            Format::Html => Ok(super::html::run_page(self)),
            Format::Junit | Format::Sarif | Format::Markdown => Err(Unsupported {
                report: "run report",
                format,
            }),
        }
    }
}

impl SuiteReport {
    /// The report of `breakout test`; `diff` (against a baseline) only affects Markdown
    /// and HTML.
    /// Its table is libtest's own output, printed while the trials run.
    pub fn render(&self, format: Format, diff: Option<&Diff>) -> Result<String, Unsupported> {
        match format {
            Format::Json => {
                Ok(serde_json::to_string_pretty(self).expect("suite serialises") + "\n")
            }
            Format::Junit => Ok(super::junit::to_junit(self)),
            Format::Sarif => Ok(super::sarif::to_sarif(self)),
            Format::Markdown => Ok(super::markdown::to_markdown(self, diff)),
            Format::Html => Ok(super::html::suite_page(self, diff)),
            Format::Table => Err(Unsupported {
                report: "suite report",
                format,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_report_says_which_formats_it_lacks() {
        let suite = SuiteReport::new(None, Vec::new());
        for format in [
            Format::Json,
            Format::Junit,
            Format::Sarif,
            Format::Markdown,
            Format::Html,
        ] {
            assert!(suite.render(format, None).is_ok(), "{format:?}");
        }
        assert_eq!(
            suite.render(Format::Table, None).unwrap_err().to_string(),
            "the suite report has no table rendering"
        );
    }
}
