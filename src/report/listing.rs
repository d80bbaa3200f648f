//! Renderings of the commands that report no verdicts: the probe catalog (`probes`)
//! and what `clean` removed.

use super::format::{Format, Unsupported};
use crate::catalog::{ProbeInfo, CATALOG};
use crate::ledger::Swept;
use breakout_wire::routes::Route;

/// A catalog entry as `probes --format json` lists it: with its routes.
#[derive(serde::Serialize)]
struct Listed {
    #[serde(flatten)]
    info: &'static ProbeInfo,
    routes: &'static [Route],
}

/// `breakout probes`: the catalog as a table or as JSON.
pub fn catalog(format: Format) -> Result<String, Unsupported> {
    match format {
        Format::Json => {
            let listed: Vec<Listed> = CATALOG
                .iter()
                .map(|info| Listed {
                    info,
                    routes: info.routes(),
                })
                .collect();
            Ok(serde_json::to_string_pretty(&listed).expect("catalog serialises") + "\n")
        }
        Format::Table => {
            // The id, the goal, then the technique with what it tries, what blocks it
            // and its routes under it.
            let mut table = super::table::grid(false);
            for p in CATALOG {
                let mut about = format!(
                    "{}\ntries: {}\nblocked by: {}",
                    p.technique, p.tries, p.blocked_by
                );
                for r in p.routes() {
                    let calls: Vec<&str> = r.calls.iter().map(|c| c.syscall).collect();
                    about.push_str(&format!(
                        "\nroute: {} [{}: {}]",
                        r.name,
                        r.entry.as_str(),
                        calls.join(", ")
                    ));
                }
                table.add_row(vec![p.id.to_string(), p.goal.as_str().to_string(), about]);
            }
            if let Some(id) = table.column_mut(0) {
                id.set_padding((0, 1));
            }
            Ok(table.trim_fmt() + "\n")
        }
        Format::Junit | Format::Sarif | Format::Markdown | Format::Html => Err(Unsupported {
            report: "probe catalog",
            format,
        }),
    }
}

/// `breakout clean`: what was swept.
pub fn swept(swept: &Swept, format: Format) -> Result<String, Unsupported> {
    match format {
        Format::Json => Ok(serde_json::to_string_pretty(swept).expect("serialises") + "\n"),
        Format::Table => Ok(format!(
            "removed {} run(s) of {} dead breakout process(es): {} container(s), {} mount(s), {} network namespace(s)\n",
            swept.runs, swept.owners, swept.containers, swept.mounts, swept.netns
        )),
        Format::Junit | Format::Sarif | Format::Markdown | Format::Html => Err(Unsupported {
            report: "clean summary",
            format,
        }),
    }
}
