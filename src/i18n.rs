//! Localised text from the Fluent files under `locales/`, compiled into the binary.

use std::sync::OnceLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Locale {
    En,
    Ro,
}

const SOURCES: [(Locale, &str); 2] = [
    (Locale::En, include_str!("../locales/en/portico.ftl")),
    (Locale::Ro, include_str!("../locales/ro/portico.ftl")),
];

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::Ro];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::Ro => "ro",
        }
    }

    /// Accepts a language tag such as `ro`, `ro-RO` or `EN_gb`.
    pub fn parse(tag: &str) -> Option<Locale> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "en" => Some(Locale::En),
            "ro" => Some(Locale::Ro),
            _ => None,
        }
    }

    /// The best supported locale of an `Accept-Language` header, by q-value, if any.
    pub fn negotiate(accept_language: &str) -> Option<Locale> {
        let mut best: Option<(f32, Locale)> = None;
        for item in accept_language.split(',').take(20) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("");
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(locale) = Locale::parse(tag)
                && q > 0.0
                && best.is_none_or(|(bq, _)| q > bq)
            {
                best = Some((q, locale));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn tr(self) -> Tr {
        Tr { locale: self }
    }
}

fn bundles() -> &'static [FluentBundle<FluentResource>; 2] {
    static BUNDLES: OnceLock<[FluentBundle<FluentResource>; 2]> = OnceLock::new();
    BUNDLES.get_or_init(|| SOURCES.map(|(locale, source)| build_bundle(locale, source)))
}

fn build_bundle(locale: Locale, source: &str) -> FluentBundle<FluentResource> {
    // The files are part of the build and checked by tests, so a syntax error is a bug here.
    let resource = FluentResource::try_new(source.to_string())
        .unwrap_or_else(|(_, errors)| panic!("locales/{}/portico.ftl: {errors:?}", locale.as_str()));
    let langid = locale.as_str().parse().expect("static language id");
    let mut bundle = FluentBundle::new_concurrent(vec![langid]);
    // Isolation marks would show up as stray characters in emails and plain text.
    bundle.set_use_isolating(false);
    bundle.add_resource(resource).expect("no duplicate message ids");
    bundle
}

/// A translator for one locale; templates call its `t` method with a message id.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub locale: Locale,
}

impl Tr {
    fn bundle(&self) -> &'static FluentBundle<FluentResource> {
        &bundles()[self.locale as usize]
    }

    fn format(&self, key: &str, args: Option<&FluentArgs>) -> String {
        let bundle = self.bundle();
        let Some(pattern) = bundle.get_message(key).and_then(|m| m.value()) else {
            tracing::warn!(key, locale = self.locale.as_str(), "missing translation");
            return key.to_string();
        };
        let mut errors = vec![];
        let text = bundle.format_pattern(pattern, args, &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "translation formatting errors");
        }
        text.into_owned()
    }

    pub fn t(&self, key: &str) -> String {
        self.format(key, None)
    }

    /// One named argument; numbers select CLDR plural forms.
    pub fn t1(&self, key: &str, name: &str, value: impl Into<Arg>) -> String {
        let mut args = FluentArgs::new();
        args.set(name.to_string(), value.into().0);
        self.format(key, Some(&args))
    }

    pub fn t2(&self, key: &str, a: (&str, impl Into<Arg>), b: (&str, impl Into<Arg>)) -> String {
        let mut args = FluentArgs::new();
        args.set(a.0.to_string(), a.1.into().0);
        args.set(b.0.to_string(), b.1.into().0);
        self.format(key, Some(&args))
    }

    pub fn has(&self, key: &str) -> bool {
        self.bundle().has_message(key)
    }

    pub fn lang(&self) -> &'static str {
        self.locale.as_str()
    }
}

/// An argument value for a translation.
pub struct Arg(FluentValue<'static>);

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg(FluentValue::from(s.to_string()))
    }
}
impl From<&String> for Arg {
    fn from(s: &String) -> Arg {
        Arg(FluentValue::from(s.clone()))
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg(FluentValue::from(s))
    }
}
impl From<i64> for Arg {
    fn from(n: i64) -> Arg {
        Arg(FluentValue::from(n))
    }
}
impl From<&i64> for Arg {
    fn from(n: &i64) -> Arg {
        Arg(FluentValue::from(*n))
    }
}
impl From<usize> for Arg {
    fn from(n: usize) -> Arg {
        Arg(FluentValue::from(n))
    }
}
impl From<&usize> for Arg {
    fn from(n: &usize) -> Arg {
        Arg(FluentValue::from(*n))
    }
}

/// Message ids of a Fluent source, for the test that every locale has every key.
pub fn message_ids(locale: Locale) -> Vec<String> {
    let source = SOURCES[locale as usize].1;
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(r, _)| r);
    resource
        .entries()
        .filter_map(|e| match e {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_exists_in_every_locale() {
        let en = message_ids(Locale::En);
        assert!(!en.is_empty());
        for locale in Locale::ALL {
            let ids = message_ids(locale);
            for key in &en {
                assert!(ids.contains(key), "{key} missing in {}", locale.as_str());
            }
            for key in &ids {
                assert!(en.contains(key), "{key} in {} but not in en", locale.as_str());
            }
            // Building the bundle panics on syntax errors.
            assert!(locale.tr().has(&en[0]));
        }
    }

    #[test]
    fn every_key_used_by_templates_and_code_exists() {
        let en = message_ids(Locale::En);
        let mut used = Vec::new();
        for dir in ["templates", "src"] {
            collect_keys(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut used);
        }
        assert!(used.len() > 10, "found only {used:?}");
        for key in used {
            assert!(en.contains(&key), "key {key:?} is used but not defined");
        }
    }

    fn collect_keys(dir: std::path::PathBuf, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect_keys(path, out);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for marker in ["t.t(\"", "t.t1(\"", "t.t2(\"", "tr_key!(\""] {
                for piece in text.split(marker).skip(1) {
                    if let Some(end) = piece.find('"') {
                        let key = &piece[..end];
                        if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
                            out.push(key.to_string());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn negotiation() {
        assert_eq!(Locale::negotiate("ro-RO,ro;q=0.9,en;q=0.8"), Some(Locale::Ro));
        assert_eq!(Locale::negotiate("fr-FR, en;q=0.5, ro;q=0.7"), Some(Locale::Ro));
        assert_eq!(Locale::negotiate("de, fr"), None);
        assert_eq!(Locale::negotiate("ro;q=0, en"), Some(Locale::En));
        assert_eq!(Locale::negotiate(""), None);
    }

    #[test]
    fn plurals_follow_cldr() {
        let en = Locale::En.tr();
        let ro = Locale::Ro.tr();
        assert_eq!(en.t1("duration-hours", "count", 1i64), "1 hour");
        assert_eq!(en.t1("duration-hours", "count", 48i64), "48 hours");
        assert_eq!(ro.t1("duration-hours", "count", 1i64), "1 oră");
        assert_eq!(ro.t1("duration-hours", "count", 2i64), "2 ore");
        assert_eq!(ro.t1("duration-hours", "count", 20i64), "20 de ore");
    }
}
