//! A JSON Schema validation's failures, field by field, for an API error's
//! `fields`: which field, which schema keyword, and a short sentence that
//! never holds the submitted value (configuration secrets pass through here).

use crate::common::error::{ApiError, FieldProblem};
use http::StatusCode;
use jsonschema::ValidationError;
use jsonschema::error::{TypeKind, ValidationErrorKind as Kind};

/// A value refused by a schema: a message for people, and the problems
/// field by field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaViolations {
    /// Every problem in one line.
    pub message: String,
    /// The problems, field by field.
    pub fields: Vec<FieldProblem>,
}

impl SchemaViolations {
    /// The 422 answer refusing the value: `code`, `message` and these
    /// problems as its `fields`.
    pub fn refusal(&self, code: &'static str, message: String) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            .with_fields(self.fields.clone())
    }
}

impl std::fmt::Display for SchemaViolations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every problem of a validation's `errors`, or `None` if there is none.
/// The message lists them as the fields do — field, then what is wrong —
/// so neither holds a submitted value.
pub fn violations<'a>(
    errors: impl Iterator<Item = ValidationError<'a>>,
) -> Option<SchemaViolations> {
    let fields: Vec<FieldProblem> = errors.flat_map(|e| field_problems(&e)).collect();
    if fields.is_empty() {
        return None;
    }
    let message = fields
        .iter()
        .map(|p| match p.field.as_str() {
            "" => format!("the value {}", p.message),
            field => format!("`{field}` {}", p.message),
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(SchemaViolations { message, fields })
}

/// The field problems of one validation `error`: one for most keywords,
/// one per property `additionalProperties` or `unevaluatedProperties`
/// refuses.
///
/// `field` is the failing value's JSON pointer without its leading slash
/// (a top-level property's name; empty for the whole value); for
/// `required`, the missing property's.
pub fn field_problems(error: &ValidationError<'_>) -> Vec<FieldProblem> {
    let at = error.instance_path().as_str().trim_start_matches('/');
    let kind = error.kind();
    let problem = |field: String, message: String| FieldProblem {
        field,
        keyword: kind.keyword().to_owned(),
        message,
    };
    match kind {
        Kind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            vec![problem(child(at, &name), "is required".to_owned())]
        }
        Kind::AdditionalProperties { unexpected } | Kind::UnevaluatedProperties { unexpected } => {
            (unexpected.iter())
                .map(|name| problem(child(at, name), "is not allowed".to_owned()))
                .collect()
        }
        kind => vec![problem(at.to_owned(), sentence(kind))],
    }
}

/// The pointer (without its leading slash) of property `name` under `at`.
fn child(at: &str, name: &str) -> String {
    let name = name.replace('~', "~0").replace('/', "~1");
    if at.is_empty() {
        name
    } else {
        format!("{at}/{name}")
    }
}

/// What `kind` asks of a value, in words: only the schema's own limits,
/// never the value.
fn sentence(kind: &Kind) -> String {
    match kind {
        Kind::Type {
            kind: TypeKind::Single(expected),
        } => format!("must be of type {expected}"),
        Kind::Type { .. } => "has the wrong type".to_owned(),
        Kind::Pattern { .. } | Kind::BacktrackLimitExceeded { .. } => {
            "does not match the required pattern".to_owned()
        }
        Kind::MinLength { limit } => {
            format!("must be at least {} long", count(*limit, "character"))
        }
        Kind::MaxLength { limit } => format!("must be at most {} long", count(*limit, "character")),
        Kind::Minimum { limit } => format!("must be at least {limit}"),
        Kind::Maximum { limit } => format!("must be at most {limit}"),
        Kind::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
        Kind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
        Kind::MultipleOf { multiple_of } => format!("must be a multiple of {multiple_of}"),
        Kind::MinItems { limit } => format!("must have at least {}", count(*limit, "item")),
        Kind::MaxItems { limit } => format!("must have at most {}", count(*limit, "item")),
        Kind::MinProperties { limit } => {
            format!("must have at least {}", count(*limit, "property"))
        }
        Kind::MaxProperties { limit } => {
            format!("must have at most {}", count(*limit, "property"))
        }
        Kind::UniqueItems => "must not repeat items".to_owned(),
        Kind::Enum { .. } => "must be one of the allowed values".to_owned(),
        Kind::Constant { .. } => "must be the required value".to_owned(),
        Kind::Format { format } => format!("must be a valid {format}"),
        Kind::FalseSchema => "is not allowed".to_owned(),
        kind => format!("does not satisfy `{}`", kind.keyword()),
    }
}

/// `n` of `noun`, in the plural unless one (`property` → `properties`).
fn count(n: u64, noun: &str) -> String {
    match (n, noun.strip_suffix('y')) {
        (1, _) => format!("1 {noun}"),
        (_, Some(stem)) => format!("{n} {stem}ies"),
        (_, None) => format!("{n} {noun}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The field problems of `value` against `schema`, as (field, keyword, message).
    fn problems(schema: serde_json::Value, value: serde_json::Value) -> Vec<[String; 3]> {
        let validator = jsonschema::validator_for(&schema).unwrap();
        let mut found: Vec<[String; 3]> = (validator.iter_errors(&value))
            .flat_map(|e| field_problems(&e))
            .map(|p| [p.field, p.keyword, p.message])
            .collect();
        found.sort();
        found
    }

    fn row(field: &str, keyword: &str, message: &str) -> [String; 3] {
        [field.into(), keyword.into(), message.into()]
    }

    #[test]
    fn each_problem_names_its_field_and_keyword_never_the_value() {
        let schema = json!({
            "type": "object",
            "required": ["url", "api-key", "nested"],
            "additionalProperties": false,
            "properties": {
                "url": { "type": "string", "pattern": "^https?://" },
                "api-key": { "type": "string", "minLength": 8 },
                "port": { "type": "integer", "maximum": 65535 },
                "nested": {
                    "type": "object",
                    "required": ["a/b"],
                    "properties": { "tags": { "type": "array", "maxItems": 1 } }
                }
            }
        });
        let value = json!({
            "url": "ftp://secret-host",
            "port": "secret-port",
            "nested": { "tags": ["secret-1", "secret-2"] },
            "extra~key": "secret-extra"
        });
        let found = problems(schema, value);
        assert_eq!(
            found,
            vec![
                row("api-key", "required", "is required"),
                row("extra~0key", "additionalProperties", "is not allowed"),
                row("nested/a~1b", "required", "is required"),
                row("nested/tags", "maxItems", "must have at most 1 item"),
                row("port", "type", "must be of type integer"),
                row("url", "pattern", "does not match the required pattern"),
            ]
        );
        assert!(!format!("{found:?}").contains("secret"), "{found:?}");
    }

    #[test]
    fn a_problem_with_the_whole_value_has_an_empty_field() {
        let found = problems(json!({ "type": "object" }), json!("secret"));
        assert_eq!(found, vec![row("", "type", "must be of type object")]);
        let found = problems(json!({ "minProperties": 2 }), json!({ "a": "secret" }));
        assert_eq!(
            found,
            vec![row("", "minProperties", "must have at least 2 properties")]
        );
    }
}
