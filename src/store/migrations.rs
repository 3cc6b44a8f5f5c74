//! Schema migrations, one directory per backend, embedded in the binary and applied in order,
//! each in its own transaction. On PostgreSQL an advisory lock lets several processes start at
//! once safely.

use sqlx::Row;

use super::{Backend, Result, Store, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "foundation",
        sqlite: include_str!("../../migrations/sqlite/0001_foundation.sql"),
        postgres: include_str!("../../migrations/postgres/0001_foundation.sql"),
    },
    Migration {
        version: 2,
        name: "outbox",
        sqlite: include_str!("../../migrations/sqlite/0002_outbox.sql"),
        postgres: include_str!("../../migrations/postgres/0002_outbox.sql"),
    },
    Migration {
        version: 3,
        name: "invitations",
        sqlite: include_str!("../../migrations/sqlite/0003_invitations.sql"),
        postgres: include_str!("../../migrations/postgres/0003_invitations.sql"),
    },
    Migration {
        version: 4,
        name: "members",
        sqlite: include_str!("../../migrations/sqlite/0004_members.sql"),
        postgres: include_str!("../../migrations/postgres/0004_members.sql"),
    },
    Migration {
        version: 5,
        name: "password_reset",
        sqlite: include_str!("../../migrations/sqlite/0005_password_reset.sql"),
        postgres: include_str!("../../migrations/postgres/0005_password_reset.sql"),
    },
    Migration {
        version: 6,
        name: "reliability",
        sqlite: include_str!("../../migrations/sqlite/0006_reliability.sql"),
        postgres: include_str!("../../migrations/postgres/0006_reliability.sql"),
    },
    Migration {
        version: 7,
        name: "stripe_ledger",
        sqlite: include_str!("../../migrations/sqlite/0007_stripe_ledger.sql"),
        postgres: include_str!("../../migrations/postgres/0007_stripe_ledger.sql"),
    },
    Migration {
        version: 8,
        name: "plans",
        sqlite: include_str!("../../migrations/sqlite/0008_plans.sql"),
        postgres: include_str!("../../migrations/postgres/0008_plans.sql"),
    },
    Migration {
        version: 9,
        name: "org_payment_policy",
        sqlite: include_str!("../../migrations/sqlite/0009_org_payment_policy.sql"),
        postgres: include_str!("../../migrations/postgres/0009_org_payment_policy.sql"),
    },
    Migration {
        version: 10,
        name: "payments",
        sqlite: include_str!("../../migrations/sqlite/0010_payments.sql"),
        postgres: include_str!("../../migrations/postgres/0010_payments.sql"),
    },
    Migration {
        version: 11,
        name: "access",
        sqlite: include_str!("../../migrations/sqlite/0011_access.sql"),
        postgres: include_str!("../../migrations/postgres/0011_access.sql"),
    },
    Migration {
        version: 12,
        name: "token_claims",
        sqlite: include_str!("../../migrations/sqlite/0012_token_claims.sql"),
        postgres: include_str!("../../migrations/postgres/0012_token_claims.sql"),
    },
    Migration {
        version: 13,
        name: "webhooks",
        sqlite: include_str!("../../migrations/sqlite/0013_webhooks.sql"),
        postgres: include_str!("../../migrations/postgres/0013_webhooks.sql"),
    },
    Migration {
        version: 14,
        name: "audit_target",
        sqlite: include_str!("../../migrations/sqlite/0014_audit_target.sql"),
        postgres: include_str!("../../migrations/postgres/0014_audit_target.sql"),
    },
    Migration {
        version: 15,
        name: "audit_log",
        sqlite: include_str!("../../migrations/sqlite/0015_audit_log.sql"),
        postgres: include_str!("../../migrations/postgres/0015_audit_log.sql"),
    },
    Migration {
        version: 16,
        name: "accounts",
        sqlite: include_str!("../../migrations/sqlite/0016_accounts.sql"),
        postgres: include_str!("../../migrations/postgres/0016_accounts.sql"),
    },
    Migration {
        version: 17,
        name: "oidc",
        sqlite: include_str!("../../migrations/sqlite/0017_oidc.sql"),
        postgres: include_str!("../../migrations/postgres/0017_oidc.sql"),
    },
    Migration {
        version: 18,
        name: "oidc_logouts",
        sqlite: include_str!("../../migrations/sqlite/0018_oidc_logouts.sql"),
        postgres: include_str!("../../migrations/postgres/0018_oidc_logouts.sql"),
    },
    Migration {
        version: 19,
        name: "second_factors",
        sqlite: include_str!("../../migrations/sqlite/0019_second_factors.sql"),
        postgres: include_str!("../../migrations/postgres/0019_second_factors.sql"),
    },
    Migration {
        version: 20,
        name: "org_overview",
        sqlite: include_str!("../../migrations/sqlite/0020_org_overview.sql"),
        postgres: include_str!("../../migrations/postgres/0020_org_overview.sql"),
    },
    Migration {
        version: 21,
        name: "erasure",
        sqlite: include_str!("../../migrations/sqlite/0021_erasure.sql"),
        postgres: include_str!("../../migrations/postgres/0021_erasure.sql"),
    },
];

/// The newest schema version this binary knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Where a database stands against the migrations this binary carries.
#[derive(Debug, Clone)]
pub struct SchemaStatus {
    /// The newest applied migration (0: none, a new database).
    pub current: i64,
    /// Migrations this binary would apply, oldest first.
    pub pending: Vec<(i64, &'static str)>,
}

/// Every migration this binary carries, oldest first.
pub fn all() -> Vec<(i64, &'static str)> {
    MIGRATIONS.iter().map(|m| (m.version, m.name)).collect()
}

/// Reads the applied versions without changing anything (a new database has no table yet).
pub(super) async fn status(store: &Store) -> Result<SchemaStatus> {
    let applied = match sqlx::query("SELECT version FROM schema_migrations").fetch_all(store.pool()).await {
        Ok(rows) => rows.iter().map(|r| r.get::<i64, _>(0)).collect(),
        Err(sqlx::Error::Database(d))
            if d.code().as_deref() == Some("42P01") || d.message().contains("no such table") =>
        {
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    status_of(&applied)
}

fn status_of(applied: &[i64]) -> Result<SchemaStatus> {
    let current = applied.iter().copied().max().unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema { found: current, known: SCHEMA_VERSION });
    }
    let pending =
        MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)).map(|m| (m.version, m.name)).collect();
    Ok(SchemaStatus { current, pending })
}

const LOCK_KEY: i64 = 0x0070_6f72_7469_636f; // "portico"

pub(super) async fn run(store: &Store) -> Result<usize> {
    let mut conn = store.pool().acquire().await?;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK_KEY).execute(&mut *conn).await?;
    }
    let outcome = apply_pending(store).await;
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut *conn).await?;
    }
    outcome
}

async fn apply_pending(store: &Store) -> Result<usize> {
    let mut tx = store.begin().await?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
    )
    .execute(tx.conn())
    .await?;
    tx.commit().await?;

    let applied: Vec<i64> = sqlx::query("SELECT version FROM schema_migrations")
        .fetch_all(store.pool())
        .await?
        .iter()
        .map(|r| r.get::<i64, _>(0))
        .collect();
    status_of(&applied)?;
    let mut count = 0;
    for m in MIGRATIONS.iter().filter(|m| !applied.contains(&m.version)) {
        let sql = match store.backend() {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let mut tx = store.begin().await?;
        if store.backend() == Backend::Postgres {
            // A migration may rewrite a large table: the pool's statement limit is not for it.
            sqlx::query("SET LOCAL statement_timeout = 0").execute(tx.conn()).await?;
        }
        sqlx::raw_sql(sql).execute(tx.conn()).await?;
        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(super::now())
            .execute(tx.conn())
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied migration");
        count += 1;
    }
    Ok(count)
}
