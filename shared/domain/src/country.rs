//! ISO 3166-1 alpha-2 country codes.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Country(String);

impl TryFrom<String> for Country {
    type Error = String;
    fn try_from(code: String) -> Result<Self, Self::Error> {
        if code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(Country(code))
        } else {
            Err(format!("`{code}` is not a country code (two upper-case letters, e.g. DE)"))
        }
    }
}

impl From<Country> for String {
    fn from(country: Country) -> Self {
        country.0
    }
}

impl fmt::Display for Country {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl JsonSchema for Country {
    fn schema_name() -> Cow<'static, str> {
        "Country".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "description": "ISO 3166-1 alpha-2 country code", "type": "string", "pattern": "^[A-Z]{2}$" })
    }
}
