macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize, ::utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(input: &str) -> Result<$name, $crate::domain::UnknownValue> {
                match input.trim() {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::domain::UnknownValue(other.chars().take(40).collect())),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// What kind of body an organisation is; decides its display name.
    OrgKind { Individual => "individual", Company => "company", Nonprofit => "nonprofit" }
}

string_enum! {
    /// Whether the public may sign up at `/o/{slug}/join`.
    SignupMode { Closed => "closed", Open => "open" }
}

/// The name shown for an organisation: the company name for a company that has one, else the
/// organisation name, else the slug, so it is never empty.
pub fn display_name<'a>(
    kind: OrgKind,
    name: &'a str,
    company_name: Option<&'a str>,
    slug: &'a str,
) -> &'a str {
    let company = company_name.map(str::trim).filter(|c| !c.is_empty());
    match (kind, company) {
        (OrgKind::Company, Some(company)) => company,
        _ if !name.trim().is_empty() => name.trim(),
        _ => slug,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_name_rule() {
        assert_eq!(display_name(OrgKind::Company, "acme", Some("Acme Ltd"), "acme"), "Acme Ltd");
        assert_eq!(display_name(OrgKind::Company, "Acme", Some("  "), "acme"), "Acme");
        assert_eq!(display_name(OrgKind::Company, "Acme", None, "acme"), "Acme");
        assert_eq!(display_name(OrgKind::Individual, "Jo", Some("Jo Inc"), "jo"), "Jo");
        assert_eq!(display_name(OrgKind::Nonprofit, "Hack", Some("X SRL"), "hack"), "Hack");
        assert_eq!(display_name(OrgKind::Individual, "  ", None, "jo-org"), "jo-org");
    }

    #[test]
    fn kinds_round_trip() {
        for kind in OrgKind::ALL {
            assert_eq!(OrgKind::parse(kind.as_str()), Ok(*kind));
        }
        assert!(OrgKind::parse("government").is_err());
        assert_eq!(SignupMode::parse("open"), Ok(SignupMode::Open));
    }
}
