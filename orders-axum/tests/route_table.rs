//! The route table of the crate's documentation (`src/route_table.md`) and
//! the OpenAPI document say the same: the same operations (method and
//! path), each with the same response statuses.

use std::collections::BTreeMap;

use orders_axum::Api;
use serde_json::Value;

/// The documented table, as included in the crate's rustdoc.
const TABLE: &str = include_str!("../src/route_table.md");

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// `(METHOD, path)` to the sorted response statuses.
type Routes = BTreeMap<(String, String), Vec<String>>;

/// The rows of the documented table.
fn documented() -> Routes {
    let mut routes = Routes::new();
    for line in TABLE.lines() {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let [method, path, _what, statuses] = cells[..] else {
            continue;
        };
        if !METHODS.contains(&method.to_ascii_lowercase().as_str()) {
            continue; // the header and separator rows
        }
        let mut statuses: Vec<String> = statuses.split(',').map(|s| s.trim().to_owned()).collect();
        statuses.sort();
        let key = (method.to_owned(), path.trim_matches('`').to_owned());
        assert!(
            routes.insert(key.clone(), statuses).is_none(),
            "{key:?} is twice in the table"
        );
    }
    routes
}

/// The operations of the library's OpenAPI document, and a table row for
/// each (method, path, summary, statuses).
fn served() -> (Routes, String) {
    let doc: Value = serde_json::from_str(&Api::base_openapi().to_json().unwrap()).unwrap();
    let mut routes = Routes::new();
    let mut rows = String::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            let Some(operation) = item.get(method) else {
                continue;
            };
            let mut statuses: Vec<String> = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .cloned()
                .collect();
            statuses.sort();
            let summary = operation["summary"].as_str().unwrap_or("");
            rows.push_str(&format!(
                "| {} | `{path}` | {summary} | {} |\n",
                method.to_ascii_uppercase(),
                statuses.join(", ")
            ));
            routes.insert((method.to_ascii_uppercase(), path.clone()), statuses);
        }
    }
    (routes, rows)
}

#[test]
fn the_documented_route_table_is_the_openapi_documents() {
    let documented = documented();
    let (served, rows) = served();
    assert!(!served.is_empty());
    let missing: Vec<_> = served
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    let extra: Vec<_> = documented
        .keys()
        .filter(|k| !served.contains_key(*k))
        .collect();
    let differ: Vec<_> = served
        .iter()
        .filter_map(|(k, s)| documented.get(k).filter(|d| *d != s).map(|d| (k, d, s)))
        .collect();
    assert!(
        missing.is_empty() && extra.is_empty() && differ.is_empty(),
        "src/route_table.md disagrees with the OpenAPI document\n\
         not in the table: {missing:?}\nnot in the document: {extra:?}\n\
         other statuses (table, document): {differ:?}\n\
         the document's rows:\n{rows}"
    );
}

#[test]
fn the_table_parser_reads_rows() {
    // A table that lost its rows (a changed layout) must not pass as empty.
    assert!(documented().len() >= 20, "{:?}", documented());
}
