//! Validated scalar values. Each parses from a string at the edge (serde's
//! `try_from`), so a handler never sees an unchecked name, slug, e-mail or zone.

use std::fmt;

use crate::ValidationError;

/// Longest display name we accept, in characters.
pub const NAME_CHARS_MAX: usize = 200;

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident, $parse:path, $($schema:tt)*) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String, $($schema)*))]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                $parse(raw).map(Self)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(raw: String) -> Result<Self, Self::Error> {
                Self::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_value!(
    /// A human-facing name: trimmed, 1 to 200 characters, no control characters.
    Name, parse_name, example = "Tower A", pattern = "\\S"
);
string_value!(
    /// A tenant's URL-safe handle: 3 to 63 of `a-z`, `0-9` and `-`, not starting or ending with `-`.
    Slug, parse_slug, example = "jacaranda-residences", pattern = "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$"
);
string_value!(
    /// An e-mail address, lower-cased; checked for shape, not deliverability.
    Email, parse_email, example = "ana.souza@example.com", format = Email
);
string_value!(
    /// A phone number: digits with an optional leading `+`; spaces, dots, dashes and parentheses are dropped.
    Phone, parse_phone, example = "+5511987654321", pattern = "^\\+?[0-9 .()-]{3,40}$"
);
string_value!(
    /// An IANA time zone name such as `America/Sao_Paulo`.
    TimeZone, parse_time_zone, example = "America/Sao_Paulo", pattern = "^[A-Za-z0-9_+/-]+$"
);
string_value!(
    /// An identifier from another system (HR number, resident code): 1 to 100 visible characters.
    ExternalId, parse_external_id, example = "EMP-00042", pattern = "\\S"
);

string_value!(
    /// A role's name: a built-in role (`security_operator`) or a tenant's own
    /// (`night_guard`): 2 to 63 of `a-z`, `0-9` and `_`, starting with a letter.
    RoleName, parse_role_name, example = "night_guard", pattern = "^[a-z][a-z0-9_]{1,62}$"
);

impl RoleName {
    /// A name written in the source (the built-in roles'), checked by a test instead of at run time.
    pub(crate) fn trusted(name: &'static str) -> RoleName {
        RoleName(name.to_owned())
    }
}

fn parse_role_name(raw: &str) -> Result<String, ValidationError> {
    let shaped = raw.len() >= 2
        && raw.len() <= 63
        && raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !shaped {
        return Err(ValidationError::message(format!(
            "'{raw}' is not a role name (2 to 63 of a-z, 0-9 and '_', starting with a letter)"
        )));
    }
    Ok(raw.to_owned())
}

fn parse_name(raw: &str) -> Result<String, ValidationError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(ValidationError::message("must not be empty"));
    }
    if name.chars().count() > NAME_CHARS_MAX {
        return Err(ValidationError::message(format!("must be at most {NAME_CHARS_MAX} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::message("must not contain control characters"));
    }
    Ok(name.to_owned())
}

fn parse_slug(raw: &str) -> Result<String, ValidationError> {
    let valid_chars = raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !(3..=63).contains(&raw.len()) || !valid_chars || raw.starts_with('-') || raw.ends_with('-') {
        return Err(ValidationError::message("must be 3 to 63 characters of a-z, 0-9 and '-', not starting or ending with '-'"));
    }
    Ok(raw.to_owned())
}

fn parse_email(raw: &str) -> Result<String, ValidationError> {
    let email = raw.trim().to_lowercase();
    let invalid = || ValidationError::message(format!("'{raw}' is not an e-mail address (expected name@domain)"));
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid());
    }
    let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
    let domain_ok = domain.contains('.')
        && !domain.contains('@')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..");
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(invalid());
    }
    Ok(email)
}

fn parse_phone(raw: &str) -> Result<String, ValidationError> {
    let trimmed = raw.trim();
    let (plus, rest) = match trimmed.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", trimmed),
    };
    let mut digits = String::with_capacity(rest.len() + 1);
    digits.push_str(plus);
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(ValidationError::message(format!(
                    "'{raw}' is not a phone number (digits with an optional leading '+')"
                )))
            }
        }
    }
    let digit_count = digits.len() - plus.len();
    if !(3..=20).contains(&digit_count) {
        return Err(ValidationError::message("a phone number has 3 to 20 digits"));
    }
    Ok(digits)
}

fn parse_time_zone(raw: &str) -> Result<String, ValidationError> {
    raw.parse::<chrono_tz::Tz>()
        .map(|tz| tz.name().to_owned())
        .map_err(|_| ValidationError::message(format!("'{raw}' is not an IANA time zone name (like 'Europe/Madrid')")))
}

fn parse_external_id(raw: &str) -> Result<String, ValidationError> {
    let value = raw.trim();
    if value.is_empty() || value.chars().count() > 100 || value.chars().any(char::is_control) {
        return Err(ValidationError::message("must be 1 to 100 characters with no control characters"));
    }
    Ok(value.to_owned())
}

impl TimeZone {
    pub fn tz(&self) -> chrono_tz::Tz {
        // Parsed on construction, so this cannot fail; fall back to UTC rather than panic.
        self.0.parse().unwrap_or(chrono_tz::Tz::UTC)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(Name::parse("  Tower A ").map(String::from), Ok("Tower A".to_owned()));
        assert!(Name::parse("   ").is_err());
        assert!(Name::parse(&"x".repeat(201)).is_err());
        assert!(Name::parse("bell\u{7}").is_err());
    }

    #[test]
    fn slugs() {
        for good in ["abc", "jacaranda-residences", "a1-b2"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in ["ab", "-abc", "abc-", "ABC", "a_b", "a b", &"a".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_lower_cased_and_shaped() {
        assert_eq!(Email::parse(" Ana@Example.COM ").map(String::from), Ok("ana@example.com".to_owned()));
        for bad in ["ana", "ana@", "@example.com", "ana@example", "a b@example.com", "ana@@example.com", "ana@example..com"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn phones_keep_digits_and_plus() {
        assert_eq!(Phone::parse("+55 (11) 98765-4321").map(String::from), Ok("+5511987654321".to_owned()));
        assert!(Phone::parse("call me").is_err());
        assert!(Phone::parse("12").is_err());
    }

    #[test]
    fn time_zones_are_iana_names() {
        assert_eq!(TimeZone::parse("America/Sao_Paulo").map(|t| t.tz()), Ok(chrono_tz::America::Sao_Paulo));
        let err = TimeZone::parse("Mars/Olympus").err();
        assert!(err.is_some_and(|e| e.message.contains("Mars/Olympus")));
    }
}
