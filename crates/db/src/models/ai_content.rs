//! `video_summary.ai_generated_content`: what the AI made of a video.

use std::fmt;
use std::io::Write;

use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::pg::{Pg, PgValue};
use diesel::serialize::{self, IsNull, Output, ToSql};
use diesel::sql_types::Jsonb;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The AI output stored as a JSON object. Known keys are typed; every other
/// key is kept in `extra`, so reading and writing a value back loses nothing
/// (a key whose value is `null` reads as absent).
#[derive(Debug, Clone, Default, PartialEq, Serialize, AsExpression, FromSqlRow)]
#[diesel(sql_type = Jsonb)]
#[serde(rename_all = "camelCase")]
pub struct AiContent {
    /// A few sentences about the video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The video's main points, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_points: Option<Vec<String>>,
    /// Every other key, as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AiContent {
    /// Content with a summary and key points.
    pub fn new(
        summary: impl Into<String>,
        key_points: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        Self {
            summary: Some(summary.into()),
            key_points: Some(key_points.into_iter().map(Into::into).collect()),
            extra: Map::new(),
        }
    }

    /// Reads a JSON value; a known key with an unexpected type is kept in
    /// `extra` rather than refused, since the column may hold older shapes.
    pub fn from_json(value: Value) -> Result<Self, String> {
        let Value::Object(object) = value else {
            return Err(format!("AI content must be a JSON object, not {value}"));
        };
        let mut content = Self::default();
        for (key, value) in object {
            content.insert(key, value);
        }
        Ok(content)
    }

    /// Takes one key of the JSON object: a known key of the expected type
    /// typed, a known key that is `null` dropped, anything else kept as is.
    fn insert(&mut self, key: String, value: Value) {
        match (key.as_str(), value) {
            ("summary", Value::String(summary)) => self.summary = Some(summary),
            ("keyPoints", Value::Array(items)) if items.iter().all(Value::is_string) => {
                self.key_points = Some(
                    items
                        .into_iter()
                        .filter_map(|item| match item {
                            Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                );
            }
            ("summary" | "keyPoints", Value::Null) => {}
            (_, value) => {
                self.extra.insert(key, value);
            }
        }
    }
}

impl TryFrom<Value> for AiContent {
    type Error = String;

    fn try_from(value: Value) -> Result<Self, Self::Error> {
        Self::from_json(value)
    }
}

/// Reads the object key by key, with no intermediate map: this runs for
/// every video row read.
impl<'de> Deserialize<'de> for AiContent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;

        impl<'de> Visitor<'de> for Object {
            type Value = AiContent;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("AI content as a JSON object")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AiContent, A::Error> {
                let mut content = AiContent::default();
                while let Some(key) = map.next_key()? {
                    content.insert(key, map.next_value()?);
                }
                Ok(content)
            }
        }

        deserializer.deserialize_map(Object)
    }
}

impl ToSql<Jsonb, Pg> for AiContent {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, Pg>) -> serialize::Result {
        // jsonb's binary format: a version byte, then the JSON text.
        out.write_all(&[1])?;
        serde_json::to_writer(out, self)?;
        Ok(IsNull::No)
    }
}

impl FromSql<Jsonb, Pg> for AiContent {
    fn from_sql(value: PgValue<'_>) -> deserialize::Result<Self> {
        let bytes = value.as_bytes();
        let Some((&1, json)) = bytes.split_first() else {
            return Err("unsupported jsonb encoding version".into());
        };
        Ok(serde_json::from_slice(json)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn known_and_unknown_keys_survive_a_round_trip() {
        let original = json!({
            "summary": "Summary of video 1",
            "keyPoints": ["point 1", "point 2"],
            "topics": ["rust"],
            "model": {"name": "m", "version": 3}
        });
        let content = AiContent::from_json(original.clone()).expect("object");
        assert_eq!(content.summary.as_deref(), Some("Summary of video 1"));
        assert_eq!(
            content.key_points.as_deref(),
            Some(&["point 1".to_string(), "point 2".to_string()][..])
        );
        assert_eq!(
            serde_json::to_value(&content).expect("serializes"),
            original
        );
    }

    #[test]
    fn unexpected_types_are_kept_not_refused() {
        let original = json!({"summary": 42, "keyPoints": [{"text": "a"}]});
        let content = AiContent::from_json(original.clone()).expect("object");
        assert_eq!(content.summary, None);
        assert_eq!(
            serde_json::to_value(&content).expect("serializes"),
            original
        );
        assert!(AiContent::from_json(json!("text")).is_err());
        assert!(serde_json::from_str::<AiContent>(r#""text""#).is_err());
        assert_eq!(
            serde_json::from_value::<AiContent>(original.clone()).expect("object"),
            content
        );
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,12}".prop_map(Value::from),
        ]
    }

    proptest! {
        #[test]
        fn any_object_without_nulls_round_trips(
            entries in proptest::collection::btree_map("[a-zA-Z]{1,10}", json_leaf(), 0..6),
            summary in proptest::option::of(".{0,20}"),
            points in proptest::option::of(proptest::collection::vec(".{0,10}", 0..4)),
        ) {
            let mut object: Map<String, Value> = entries.into_iter().collect();
            if let Some(s) = summary { object.insert("summary".into(), Value::from(s)); }
            if let Some(p) = points { object.insert("keyPoints".into(), Value::from(p)); }
            let original = Value::Object(object);
            let content = AiContent::from_json(original.clone()).expect("object");
            prop_assert_eq!(serde_json::to_value(&content).expect("serializes"), original.clone());
            // Reading the text, as rows are read, gives the same content.
            let text = original.to_string();
            prop_assert_eq!(serde_json::from_str::<AiContent>(&text).expect("parses"), content);
        }
    }
}
