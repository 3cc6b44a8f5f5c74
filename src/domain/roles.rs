use super::org::string_enum;

/// A value read from input or storage that names no known variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown value {0:?}")]
pub struct UnknownValue(pub String);

string_enum! {
    /// Instance operators. Ordinary users have no staff role.
    StaffRole { Support => "support", Admin => "admin" }
}

string_enum! {
    /// A user's role inside one organisation.
    MembershipRole { Owner => "owner", Admin => "admin", Member => "member" }
}

string_enum! {
    /// A membership's status. Always one of these; storage enforces it with a CHECK constraint.
    MembershipStatus { Pending => "pending", Active => "active", Suspended => "suspended", Banned => "banned" }
}

string_enum! {
    /// Where an invitation stands. A pending invitation past its expiry reads as `expired`.
    InvitationState { Pending => "pending", Accepted => "accepted", Revoked => "revoked", Expired => "expired" }
}

impl StaffRole {
    /// Admins change the instance (organisations, settings); support staff read and invite.
    pub fn can_administer(self) -> bool {
        self == StaffRole::Admin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_round_trips_and_rejects_unknown() {
        for s in MembershipStatus::ALL {
            assert_eq!(MembershipStatus::parse(s.as_str()), Ok(*s));
        }
        for r in MembershipRole::ALL {
            assert_eq!(MembershipRole::parse(r.as_str()), Ok(*r));
        }
        assert!(MembershipStatus::parse("").is_err());
        assert!(MembershipStatus::parse("Active").is_err());
        assert!(StaffRole::parse("root").is_err());
        assert!(StaffRole::Admin.can_administer());
        assert!(!StaffRole::Support.can_administer());
    }
}
