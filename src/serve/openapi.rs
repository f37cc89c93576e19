//! The HTTP API described as OpenAPI 3.1, served at `/api/openapi.json`, generated from the very
//! types the handlers read and write: the parameters from `search::request` (what the flags and
//! the MCP tools take too), the responses from `AskResponse`, `RelatedResponse`,
//! `output::PassageInContext` and `ErrorResponse`. schemars writes JSON Schema 2020-12, which is
//! OpenAPI 3.1's schema language, so the document is assembled here from its schemas rather than
//! through a second schema library. A test checks live responses against it.

use super::{AskResponse, ErrorResponse, RelatedResponse};
use crate::output::PassageInContext;
use crate::search::request::{aliases, AskRequest, PassageRequest, RelatedRequest};
use crate::status::StatusReport;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, SchemaGenerator};
use serde_json::{json, Map, Value};

/// Where the document keeps its named schemas.
const COMPONENTS: &str = "#/components/schemas";

/// The OpenAPI document.
pub fn document() -> Value {
    let mut generator = SchemaSettings::draft2020_12().with(|s| s.definitions_path = COMPONENTS.into()).for_serialize().into_generator();
    let responses = |generator: &mut SchemaGenerator, ok: Value| {
        let error = generator.subschema_for::<ErrorResponse>();
        let mut r = Map::new();
        r.insert("200".into(), json!({"description": "OK", "content": {"application/json": {"schema": ok}}}));
        for (code, why) in [("400", "a bad or unknown parameter, named"), ("404", "no such passage"), ("500", "the server failed")] {
            r.insert(code.into(), json!({"description": why, "content": {"application/json": {"schema": error}}}));
        }
        Value::Object(r)
    };
    let ask = generator.subschema_for::<AskResponse>().to_value();
    let related = generator.subschema_for::<RelatedResponse>().to_value();
    let passage = generator.subschema_for::<PassageInContext>().to_value();
    let status = generator.subschema_for::<StatusReport>().to_value();
    let paths = json!({
        "/api/ask": {"get": {
            "operationId": "ask",
            "summary": "The passages that answer a question, best first, each with its answer sentence (as `semsearch ask --json`)",
            "parameters": query_parameters::<AskRequest>(),
            "responses": responses(&mut generator, ask),
        }},
        "/api/related": {"get": {
            "operationId": "related",
            "summary": "Passages related to a stored passage (id, or path with line) or to a text (as `semsearch related --json`)",
            "parameters": query_parameters::<RelatedRequest>(),
            "responses": responses(&mut generator, related),
        }},
        "/api/passage/{id}": {"get": {
            "operationId": "passage",
            "summary": "A stored passage with its neighbours in its document",
            "parameters": path_and_query::<PassageRequest>("id", "A passage id from a search result"),
            "responses": responses(&mut generator, passage),
        }},
        "/api/status": {"get": {
            "operationId": "status",
            "summary": "What `semsearch status --json` reports: the index (or the server's collection), its model, counts and size",
            "responses": responses(&mut generator, status),
        }},
        "/api/openapi.json": {"get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }},
    });
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "semsearch",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Local semantic search over your articles: the API `semsearch serve` answers. Unknown parameters are an error (400) naming them.",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

/// A request type's fields as query parameters: name, whether required, its doc comment, its
/// schema; its aliases (`request::aliases`: `q` for `question`) listed too.
fn query_parameters<T: JsonSchema>() -> Vec<Value> {
    let schema = schemars::schema_for!(T);
    let required: Vec<&str> = schema.get("required").and_then(|r| r.as_array()).map(|r| r.iter().filter_map(|v| v.as_str()).collect()).unwrap_or_default();
    let mut out = Vec::new();
    for (name, prop) in schema.get("properties").and_then(|p| p.as_object()).into_iter().flatten() {
        let mut prop = prop.clone();
        let description = prop.as_object_mut().and_then(|o| o.remove("description")).unwrap_or(json!(""));
        let mut p = json!({"name": name, "in": "query", "required": required.contains(&name.as_str()), "description": description, "schema": prop});
        if name == "path" {
            // A list travels as the key repeated: path=a&path=b.
            p["style"] = json!("form");
            p["explode"] = json!(true);
        }
        for (alias, field) in aliases::<T>().iter().filter(|(_, f)| f == name) {
            // Either name may carry it: neither is required on its own.
            if p["required"] == true {
                p["required"] = json!(false);
                p["description"] = json!(format!("{} Required, as {field} or {alias}.", p["description"].as_str().unwrap_or("")));
            }
            let mut a = p.clone();
            a["name"] = json!(alias);
            a["description"] = json!(format!("The same as {field} (the shorter name the page uses)."));
            out.push(a);
        }
        out.push(p);
    }
    out
}

/// A path parameter, then `T`'s query parameters.
fn path_and_query<T: JsonSchema>(name: &str, description: &str) -> Vec<Value> {
    let mut out = vec![json!({"name": name, "in": "path", "required": true, "description": description, "schema": {"type": "string"}})];
    out.extend(query_parameters::<T>());
    out
}
