//! The service catalog from configuration: a TOML file, or the default shipped in the
//! binary (`default-catalog.toml`, at least ten real INPS services).

use std::path::Path;

use anyhow::Context;
use pin_domain::{Category, Level, ServiceCatalog, ServiceEntry, ServiceId};
use serde::Deserialize;

/// The catalog the binary ships.
pub const DEFAULT_CATALOG: &str = include_str!("default-catalog.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    services: Vec<ServiceLine>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceLine {
    id: String,
    name: String,
    consult: Vec<String>,
    submit: Vec<String>,
    consult_level: String,
    submit_level: String,
    hold_ordinary_submissions: bool,
}

fn level(id: &str, field: &str, value: &str) -> anyhow::Result<Level> {
    match value {
        "ORDINARY" => Ok(Level::Ordinary),
        "DISPOSITIVE" => Ok(Level::Dispositive),
        other => anyhow::bail!("service {id}: {field} {other:?} is not ORDINARY or DISPOSITIVE"),
    }
}

fn categories(
    id: &str,
    field: &str,
    names: &[String],
) -> anyhow::Result<std::collections::BTreeSet<Category>> {
    names
        .iter()
        .map(|name| {
            Category::parse(name).map_err(|error| anyhow::anyhow!("service {id}: {field}: {error}"))
        })
        .collect()
}

/// Parses and checks a catalog written in TOML.
pub fn parse(text: &str) -> anyhow::Result<ServiceCatalog> {
    let file: CatalogFile = toml::from_str(text).context("the catalog is not valid")?;
    let entries = file
        .services
        .into_iter()
        .map(|line| {
            let id = ServiceId::parse(&line.id)
                .map_err(|error| anyhow::anyhow!("service id {:?}: {error}", line.id))?;
            Ok(ServiceEntry {
                consult: categories(&line.id, "consult", &line.consult)?,
                submit: categories(&line.id, "submit", &line.submit)?,
                consult_level: level(&line.id, "consult_level", &line.consult_level)?,
                submit_level: level(&line.id, "submit_level", &line.submit_level)?,
                hold_ordinary_submissions: line.hold_ordinary_submissions,
                name: line.name,
                id,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(ServiceCatalog::new(entries)?)
}

/// The catalog at `path`, or the default one.
pub fn load(path: Option<&Path>) -> anyhow::Result<ServiceCatalog> {
    match path {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read catalog {}", path.display()))?;
            parse(&text).with_context(|| format!("catalog {}", path.display()))
        }
        None => parse(DEFAULT_CATALOG).context("the default catalog"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_default_catalog_is_valid_and_has_at_least_ten_services() {
        let catalog = parse(DEFAULT_CATALOG).unwrap();
        assert!(catalog.len() >= 10, "{}", catalog.len());
    }

    #[test]
    fn a_bad_catalog_names_the_service() {
        let text = "[[services]]\nid = \"naspi\"\nname = \"NASpI\"\nconsult = [\"PRIVATE_SECTOR_WORKER\"]\n\
                    submit = []\nconsult_level = \"SOMETIMES\"\nsubmit_level = \"DISPOSITIVE\"\n\
                    hold_ordinary_submissions = false\n";
        let error = format!("{:#}", parse(text).unwrap_err());
        assert!(
            error.contains("naspi") && error.contains("SOMETIMES"),
            "{error}"
        );
    }
}
