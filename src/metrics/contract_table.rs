//! The contract as the Markdown table of docs/metrics.md, which a test holds
//! equal to what the code serves.

use super::contract::CONTRACT;

/// The contract as the Markdown table of `docs/metrics.md`.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| Metric | Type | Labels | Source | Help |\n|---|---|---|---|---|\n");
    for def in CONTRACT {
        let labels = if def.labels.is_empty() {
            "—".to_owned()
        } else {
            def.labels
                .iter()
                .map(|l| format!("`{l}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            def.name,
            def.kind.as_str(),
            labels,
            def.source,
            def.help
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_table_is_the_contract() {
        let doc = include_str!("../../docs/metrics.md");
        let table = markdown_table();
        assert!(
            doc.contains(&table),
            "docs/metrics.md must contain this table exactly (regenerate it from metrics::contract_table::markdown_table):\n{table}"
        );
    }
}
