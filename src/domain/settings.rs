//! Runtime settings staff can change without a restart. Each has a type, a default and a valid
//! range; a value outside it is refused on write.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingDef {
    pub key: &'static str,
    pub default: i64,
    pub min: i64,
    pub max: i64,
    pub help: &'static str,
}

pub const LOGIN_ATTEMPTS_PER_IP: SettingDef = SettingDef {
    key: "security.login_attempts_per_ip_per_15min",
    default: 10,
    min: 1,
    max: 10_000,
    help: "sign-in attempts one client IP may make in 15 minutes",
};

pub const INVITE_LIMIT_PER_RECIPIENT: SettingDef = SettingDef {
    key: "security.invite_limit_per_recipient_per_hour",
    default: 3,
    min: 1,
    max: 1_000,
    help: "invitation emails one address may receive per hour (a failed send gives its allowance back)",
};

pub const INVITE_CREATES_PER_CLIENT: SettingDef = SettingDef {
    key: "security.invite_creates_per_client_per_minute",
    default: 30,
    min: 1,
    max: 100_000,
    help: "invitations one API token, and one client IP, may create per minute",
};

pub const SIGNUP_EMAILS_PER_RECIPIENT: SettingDef = SettingDef {
    key: "security.signup_emails_per_recipient_per_hour",
    default: 3,
    min: 1,
    max: 1_000,
    help: "signup emails one address may receive per hour",
};

pub const SIGNUP_REQUESTS_PER_IP: SettingDef = SettingDef {
    key: "security.signup_requests_per_ip_per_15min",
    default: 20,
    min: 1,
    max: 100_000,
    help: "signup email requests one client IP may make in 15 minutes",
};

pub const AUDIT_RETENTION_DAYS: SettingDef = SettingDef {
    key: "audit.retention_days",
    default: 0,
    min: 0,
    max: 36_500,
    help: "days audit events are kept (0 keeps them forever); older ones are deleted once a day",
};

pub const EMAIL_RETENTION_DAYS: SettingDef = SettingDef {
    key: "retention.emails_days",
    default: 90,
    min: 0,
    max: 36_500,
    help: "days sent and given-up emails are kept (recipient, subject, state; 0 keeps them forever)",
};

pub const WEBHOOK_DELIVERY_RETENTION_DAYS: SettingDef = SettingDef {
    key: "retention.webhook_deliveries_days",
    default: 30,
    min: 0,
    max: 36_500,
    help: "days delivered and dead webhook deliveries (and their events) are kept (0 keeps them forever)",
};

pub const SIGNUP_REQUEST_RETENTION_DAYS: SettingDef = SettingDef {
    key: "retention.signup_requests_days",
    default: 30,
    min: 0,
    max: 36_500,
    help: "days finished signup requests are kept (0 keeps them forever)",
};

pub const EXPIRED_TOKEN_RETENTION_DAYS: SettingDef = SettingDef {
    key: "retention.expired_tokens_days",
    default: 30,
    min: 0,
    max: 36_500,
    help: "days used, revoked or expired links and OpenID Connect codes and tokens are kept (0 keeps them forever)",
};

pub const STRIPE_PAYLOAD_RETENTION_DAYS: SettingDef = SettingDef {
    key: "retention.stripe_payloads_days",
    default: 400,
    min: 0,
    max: 36_500,
    help: "days the payloads of processed Stripe events are kept; then only id, type, time and outcome stay (0 keeps them forever)",
};

pub const OIDC_ACCESS_TOKEN_MINUTES: SettingDef = SettingDef {
    key: "oidc.access_token_minutes",
    default: 10,
    min: 1,
    max: 60,
    help: "minutes an OpenID Connect access token is valid",
};

pub const OIDC_ID_TOKEN_MINUTES: SettingDef = SettingDef {
    key: "oidc.id_token_minutes",
    default: 10,
    min: 1,
    max: 60,
    help: "minutes an OpenID Connect ID token is valid",
};

pub const OIDC_REFRESH_TOKEN_DAYS: SettingDef = SettingDef {
    key: "oidc.refresh_token_days",
    default: 30,
    min: 1,
    max: 365,
    help: "days an OpenID Connect refresh token may be used (each use replaces it; the membership is checked every time)",
};

pub const STAFF_SECOND_FACTOR_REQUIRED: SettingDef = SettingDef {
    key: "security.staff_second_factor_required",
    default: 1,
    min: 0,
    max: 1,
    help: "1: staff accounts must have a second factor (one without is sent to add one after the password, before anything else); 0: optional",
};

pub const SECOND_FACTOR_ATTEMPTS_PER_ACCOUNT: SettingDef = SettingDef {
    key: "security.second_factor_attempts_per_account_per_15min",
    default: 10,
    min: 1,
    max: 1_000,
    help: "second-step codes one account may be tried with in 15 minutes",
};

pub const SECOND_FACTOR_ATTEMPTS_PER_IP: SettingDef = SettingDef {
    key: "security.second_factor_attempts_per_ip_per_15min",
    default: 30,
    min: 1,
    max: 10_000,
    help: "second-step codes one client IP may try in 15 minutes",
};

pub const IMPORT_CLAIM_EMAILS_PER_MINUTE: SettingDef = SettingDef {
    key: "import.claim_emails_per_minute",
    default: 30,
    min: 1,
    max: 6_000,
    help: "claim-your-account emails an import sends per minute (the rest wait their turn in the outbox)",
};

pub const ERASURE_COOLING_OFF_DAYS: SettingDef = SettingDef {
    key: "erasure.cooling_off_days",
    default: 7,
    min: 0,
    max: 90,
    help: "days between a member asking to be erased and the erasure, during which they may cancel (0: at the next scheduled run)",
};

pub const ALL_SETTINGS: &[SettingDef] = &[
    LOGIN_ATTEMPTS_PER_IP,
    INVITE_LIMIT_PER_RECIPIENT,
    INVITE_CREATES_PER_CLIENT,
    SIGNUP_EMAILS_PER_RECIPIENT,
    SIGNUP_REQUESTS_PER_IP,
    AUDIT_RETENTION_DAYS,
    EMAIL_RETENTION_DAYS,
    WEBHOOK_DELIVERY_RETENTION_DAYS,
    SIGNUP_REQUEST_RETENTION_DAYS,
    EXPIRED_TOKEN_RETENTION_DAYS,
    STRIPE_PAYLOAD_RETENTION_DAYS,
    OIDC_ACCESS_TOKEN_MINUTES,
    OIDC_ID_TOKEN_MINUTES,
    OIDC_REFRESH_TOKEN_DAYS,
    STAFF_SECOND_FACTOR_REQUIRED,
    SECOND_FACTOR_ATTEMPTS_PER_ACCOUNT,
    SECOND_FACTOR_ATTEMPTS_PER_IP,
    IMPORT_CLAIM_EMAILS_PER_MINUTE,
    ERASURE_COOLING_OFF_DAYS,
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting {0:?}")]
    UnknownKey(String),
    #[error("{key} must be a whole number from {min} to {max}")]
    OutOfRange { key: &'static str, min: i64, max: i64 },
}

impl SettingDef {
    pub fn find(key: &str) -> Result<&'static SettingDef, SettingError> {
        ALL_SETTINGS
            .iter()
            .find(|d| d.key == key)
            .ok_or_else(|| SettingError::UnknownKey(key.chars().take(80).collect()))
    }

    pub fn parse_value(&self, raw: &str) -> Result<i64, SettingError> {
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|v| (self.min..=self.max).contains(v))
            .ok_or(SettingError::OutOfRange { key: self.key, min: self.min, max: self.max })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        let def = SettingDef::find("security.login_attempts_per_ip_per_15min").unwrap();
        assert_eq!(def.parse_value(" 5 "), Ok(5));
        assert!(def.parse_value("0").is_err());
        assert!(def.parse_value("many").is_err());
        assert!(SettingDef::find("nope").is_err());
    }
}
