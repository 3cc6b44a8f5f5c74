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

impl MembershipStatus {
    /// The allowed status changes. Payments never touch `banned`; staff may lift a ban only to
    /// `suspended`, so reinstating is a second, deliberate step.
    pub fn can_become(self, to: MembershipStatus) -> bool {
        use MembershipStatus::*;
        matches!(
            (self, to),
            (Pending, Active | Banned)
                | (Active, Suspended | Banned)
                | (Suspended, Active | Banned)
                | (Banned, Suspended)
        )
    }
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
        use MembershipStatus::*;
        assert!(Pending.can_become(Active) && Active.can_become(Suspended) && Suspended.can_become(Active));
        assert!(Banned.can_become(Suspended) && !Banned.can_become(Active) && !Banned.can_become(Pending));
        assert!(!Active.can_become(Pending) && !Active.can_become(Active) && !Suspended.can_become(Pending));
        assert!(!StaffRole::Support.can_administer());
    }
}
