//! Renderings of the commands that report no verdicts: the probe catalog (`probes`)
//! and what `clean` removed.

use super::format::{Format, Unsupported};
use crate::catalog::{ProbeInfo, CATALOG};
use breakout_wire::routes::Route;

/// A catalog entry as `probes --format json` lists it: with its routes.
#[derive(serde::Serialize)]
struct Listed {
    #[serde(flatten)]
    info: &'static ProbeInfo,
    routes: &'static [Route],
}
use crate::ledger::Swept;

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
            let mut text = String::new();
            for p in CATALOG {
                text.push_str(&format!(
                    "{:<18} {:<6} {}\n{:<25} tries: {}\n{:<25} blocked by: {}\n",
                    p.id,
                    p.goal.as_str(),
                    p.technique,
                    "",
                    p.tries,
                    "",
                    p.blocked_by
                ));
                for r in p.routes() {
                    let calls: Vec<&str> = r.calls.iter().map(|c| c.syscall).collect();
                    text.push_str(&format!(
                        "{:<25} route: {} [{}: {}]\n",
                        "",
                        r.name,
                        r.entry.as_str(),
                        calls.join(", ")
                    ));
                }
            }
            Ok(text)
        }
        Format::Junit | Format::Sarif | Format::Markdown => Err(Unsupported {
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
        Format::Junit | Format::Sarif | Format::Markdown => Err(Unsupported {
            report: "clean summary",
            format,
        }),
    }
}
