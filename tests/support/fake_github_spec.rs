//! The fake GitHub's gate: the OpenAPI subset the App may use
//! (fixtures/external/github-openapi/api.github.com.subset.json) — routing a request to its
//! operation and checking its body against the operation's schema.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{Value, json};

use super::{SUBSET, fixtures_external};

pub struct Operation {
    pub method: Method,
    pub segments: Vec<String>,
    pub id: String,
    pub body_schema: Option<Value>,
    pub body_required: bool,
}

pub struct Spec {
    doc: Value,
    operations: Vec<Operation>,
}

impl Spec {
    pub fn load() -> Spec {
        let path = fixtures_external().join(SUBSET);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let doc: Value = serde_json::from_str(&text).expect("the OpenAPI subset is JSON");
        let mut operations = Vec::new();
        for (template, item) in doc["paths"].as_object().expect("paths") {
            for (method, op) in item.as_object().expect("path item") {
                let Ok(method) = method.to_uppercase().parse::<Method>() else {
                    continue;
                };
                if !op.is_object() || op.get("operationId").is_none() {
                    continue;
                }
                let body = &op["requestBody"];
                operations.push(Operation {
                    method,
                    segments: template.trim_start_matches('/').split('/').map(str::to_owned).collect(),
                    id: op["operationId"].as_str().unwrap_or_default().to_owned(),
                    body_schema: body["content"]["application/json"].get("schema").cloned(),
                    body_required: body["required"].as_bool().unwrap_or(false),
                });
            }
        }
        Spec { doc, operations }
    }

    /// The operation and path parameters for a request.
    pub fn route(&self, method: &Method, path: &str) -> Option<(&Operation, BTreeMap<String, String>)> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        'ops: for op in self.operations.iter().filter(|o| o.method == *method) {
            let mut params = BTreeMap::new();
            for (i, seg) in op.segments.iter().enumerate() {
                let Some(part) = parts.get(i) else { continue 'ops };
                match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    // `{path}` of the contents API spans the remaining segments.
                    Some("path") if i + 1 == op.segments.len() => {
                        params.insert("path".into(), parts[i..].join("/"));
                        return Some((op, params));
                    }
                    Some(name) if !part.is_empty() => {
                        params.insert(name.to_owned(), (*part).to_owned());
                    }
                    Some(_) => continue 'ops,
                    None if seg == part => {}
                    None => continue 'ops,
                }
            }
            if parts.len() == op.segments.len() {
                return Some((op, params));
            }
        }
        None
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let mut node = &self.doc;
                for part in r.trim_start_matches("#/").split('/') {
                    node = &node[part];
                }
                self.resolve(node)
            }
            None => schema,
        }
    }

    /// Problems of `value` against `schema`, at `at`.
    pub fn validate(&self, value: &Value, schema: &Value, at: &str, errors: &mut Vec<String>) {
        let schema = self.resolve(schema);
        for key in ["oneOf", "anyOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let ok = options.iter().any(|o| {
                    let mut e = Vec::new();
                    self.validate(value, o, at, &mut e);
                    e.is_empty()
                });
                if !ok {
                    errors.push(format!("{at}: matches none of {key}"));
                }
            }
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                self.validate(value, s, at, errors);
            }
        }
        if value.is_null()
            && (schema["nullable"] == json!(true)
                || schema["type"].as_array().is_some_and(|t| t.contains(&json!("null"))))
        {
            return;
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !types.is_empty() {
            let fits = types.iter().any(|t| match *t {
                "object" => value.is_object(),
                "array" => value.is_array(),
                "string" => value.is_string(),
                "integer" => value.is_i64() || value.is_u64(),
                "number" => value.is_number(),
                "boolean" => value.is_boolean(),
                "null" => value.is_null(),
                _ => true,
            });
            if !fits {
                errors.push(format!("{at}: expected {}, got {value}", types.join("|")));
                return;
            }
        }
        if let Some(options) = schema.get("enum").and_then(Value::as_array)
            && !options.contains(value)
        {
            errors.push(format!("{at}: {value} is not one of {}", Value::Array(options.clone())));
        }
        if let (Some(max), Some(s)) = (schema["maxLength"].as_u64(), value.as_str())
            && s.chars().count() as u64 > max
        {
            errors.push(format!("{at}: {} characters, at most {max}", s.chars().count()));
        }
        if let Some(items) = value.as_array() {
            if let Some(max) = schema["maxItems"].as_u64()
                && items.len() as u64 > max
            {
                errors.push(format!("{at}: {} items, at most {max}", items.len()));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    self.validate(item, item_schema, &format!("{at}[{i}]"), errors);
                }
            }
        }
        if let Some(object) = value.as_object() {
            for name in schema["required"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !object.contains_key(name) {
                    errors.push(format!("{at}: required field `{name}` is missing"));
                }
            }
            if let Some(properties) = schema["properties"].as_object() {
                for (name, v) in object {
                    if let Some(s) = properties.get(name) {
                        self.validate(v, s, &format!("{at}.{name}"), errors);
                    }
                }
            }
        }
    }
}
