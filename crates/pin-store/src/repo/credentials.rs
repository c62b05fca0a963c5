//! PIN credentials, with optimistic concurrency: every update names the version it read,
//! so of two transitions decided from the same state only one can be stored.

use pin_domain::{
    CodiceFiscale, Credential, CredentialState, Holder, IssuedVia, Level, PinHash, RevocationReason,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use time::OffsetDateTime;

use super::{corrupt, from_millis, to_millis};
use crate::{
    StoreError,
    entity::{
        credential::{self, Column, Model},
        pin_history,
    },
    error::ClassifyDbErr,
};

/// A credential as stored: its id, whose it is, and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCredential {
    /// Row id.
    pub id: i64,
    /// Whose PIN it is.
    pub cf: CodiceFiscale,
    /// The version read; an update must name it.
    pub version: i64,
    /// The domain value.
    pub credential: Credential,
}

const LIVE_STATES: [&str; 3] = ["AWAITING_ACTIVATION", "AWAITING_FIRST_ACCESS", "ACTIVE"];

fn holder_name(holder: Holder) -> &'static str {
    match holder {
        Holder::Citizen => "CITIZEN",
        Holder::Intermediary => "INTERMEDIARY",
    }
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Ordinary => "ORDINARY",
        Level::Dispositive => "DISPOSITIVE",
    }
}

fn via_name(via: IssuedVia) -> &'static str {
    match via {
        IssuedVia::Online => "ONLINE",
        IssuedVia::ContactCenter => "CONTACT_CENTER",
        IssuedVia::Office => "OFFICE",
        IssuedVia::Campaign => "CAMPAIGN",
        IssuedVia::Recovery => "RECOVERY",
    }
}

fn reason_name(reason: RevocationReason) -> &'static str {
    match reason {
        RevocationReason::Online => "ONLINE",
        RevocationReason::ContactCenter => "CONTACT_CENTER",
    }
}

/// The columns that carry a credential's domain value. Columns a state does not use keep
/// what `previous` had (or a neutral value on insert), so history stays readable.
fn write_state(model: &mut Model, credential: &Credential) {
    model.holder = holder_name(credential.holder).to_owned();
    model.level = level_name(credential.level).to_owned();
    model.issued_via = via_name(credential.issued_via).to_owned();
    match &credential.state {
        CredentialState::AwaitingActivation {
            first_half,
            issued_at,
        } => {
            model.state = "AWAITING_ACTIVATION".to_owned();
            model.kind = "CAMPAIGN".to_owned();
            model.activation_hash = Some(first_half.as_str().to_owned());
            model.pin_hash = None;
            model.issued_at = to_millis(*issued_at);
            model.pin_set_at = model.issued_at;
        }
        CredentialState::AwaitingFirstAccess { pin, issued_at } => {
            model.state = "AWAITING_FIRST_ACCESS".to_owned();
            model.kind = "INITIAL".to_owned();
            model.pin_hash = Some(pin.as_str().to_owned());
            model.activation_hash = None;
            model.issued_at = to_millis(*issued_at);
            model.pin_set_at = model.issued_at;
        }
        CredentialState::Active { pin, pin_set_at } => {
            model.state = "ACTIVE".to_owned();
            model.kind = "SHORT".to_owned();
            model.pin_hash = Some(pin.as_str().to_owned());
            model.activation_hash = None;
            model.pin_set_at = to_millis(*pin_set_at);
        }
        // A dead credential keeps no hash: it can never verify again.
        CredentialState::Revoked { at, reason } => {
            model.state = "REVOKED".to_owned();
            model.pin_hash = None;
            model.activation_hash = None;
            model.revoked_at = Some(to_millis(*at));
            model.revocation_reason = Some(reason_name(*reason).to_owned());
        }
        CredentialState::Superseded { at } => {
            model.state = "SUPERSEDED".to_owned();
            model.pin_hash = None;
            model.activation_hash = None;
            model.revoked_at = Some(to_millis(*at));
            model.revocation_reason = None;
        }
    }
}

fn hash(column: &str, value: Option<&String>) -> Result<PinHash, DbErr> {
    let value = value.ok_or_else(|| corrupt(column, "NULL"))?;
    PinHash::parse(value).map_err(|_| corrupt(column, "not a PHC string"))
}

impl TryFrom<Model> for StoredCredential {
    type Error = DbErr;

    fn try_from(row: Model) -> Result<Self, DbErr> {
        let holder = match row.holder.as_str() {
            "CITIZEN" => Holder::Citizen,
            "INTERMEDIARY" => Holder::Intermediary,
            other => return Err(corrupt("holder", other)),
        };
        let level = match row.level.as_str() {
            "ORDINARY" => Level::Ordinary,
            "DISPOSITIVE" => Level::Dispositive,
            other => return Err(corrupt("level", other)),
        };
        let issued_via = match row.issued_via.as_str() {
            "ONLINE" => IssuedVia::Online,
            "CONTACT_CENTER" => IssuedVia::ContactCenter,
            "OFFICE" => IssuedVia::Office,
            "CAMPAIGN" => IssuedVia::Campaign,
            "RECOVERY" => IssuedVia::Recovery,
            other => return Err(corrupt("issued_via", other)),
        };
        let ended_at = || {
            from_millis(
                row.revoked_at
                    .ok_or_else(|| corrupt("revoked_at", "NULL"))?,
            )
        };
        let state = match row.state.as_str() {
            "AWAITING_ACTIVATION" => CredentialState::AwaitingActivation {
                first_half: hash("activation_hash", row.activation_hash.as_ref())?,
                issued_at: from_millis(row.issued_at)?,
            },
            "AWAITING_FIRST_ACCESS" => CredentialState::AwaitingFirstAccess {
                pin: hash("pin_hash", row.pin_hash.as_ref())?,
                issued_at: from_millis(row.issued_at)?,
            },
            "ACTIVE" => CredentialState::Active {
                pin: hash("pin_hash", row.pin_hash.as_ref())?,
                pin_set_at: from_millis(row.pin_set_at)?,
            },
            "REVOKED" => CredentialState::Revoked {
                at: ended_at()?,
                reason: match row.revocation_reason.as_deref() {
                    Some("ONLINE") => RevocationReason::Online,
                    Some("CONTACT_CENTER") => RevocationReason::ContactCenter,
                    other => return Err(corrupt("revocation_reason", other.unwrap_or("NULL"))),
                },
            },
            "SUPERSEDED" => CredentialState::Superseded { at: ended_at()? },
            other => return Err(corrupt("state", other)),
        };
        Ok(StoredCredential {
            id: row.id,
            cf: CodiceFiscale::parse(&row.cf).map_err(|_| corrupt("cf", &row.cf))?,
            version: row.version,
            credential: Credential {
                holder,
                level,
                issued_via,
                state,
            },
        })
    }
}

/// Stores a new credential at version 1.
#[tracing::instrument(name = "credentials.insert", skip_all, fields(otel.kind = "client"))]
pub async fn insert(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    credential: &Credential,
    now: OffsetDateTime,
) -> Result<StoredCredential, StoreError> {
    let now_ms = to_millis(now);
    let mut model = Model {
        id: 0,
        cf: cf.as_str().to_owned(),
        state: String::new(),
        kind: String::new(),
        level: String::new(),
        holder: String::new(),
        pin_hash: None,
        activation_hash: None,
        issued_via: String::new(),
        issued_at: now_ms,
        pin_set_at: now_ms,
        first_access_by: None,
        superseded_by: None,
        revoked_at: None,
        revocation_reason: None,
        version: 1,
        updated_at: now_ms,
        callback_phone: None,
    };
    write_state(&mut model, credential);
    let mut active: credential::ActiveModel = model.into();
    active.id = sea_orm::ActiveValue::NotSet;
    let inserted = active.insert(db).await.classify("credential")?;
    Ok(StoredCredential::try_from(inserted)?)
}

/// Keeps the number the applicant gave for assistance with the request that issued the
/// credential.
#[tracing::instrument(name = "credentials.set_callback_phone", skip_all, fields(otel.kind = "client"))]
pub async fn set_callback_phone(
    db: &impl ConnectionTrait,
    id: i64,
    phone: &str,
) -> Result<(), StoreError> {
    credential::Entity::update_many()
        .col_expr(Column::CallbackPhone, Expr::value(phone))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The number the applicant gave for assistance with the request that issued the
/// credential, if one did.
#[tracing::instrument(name = "credentials.callback_phone", skip_all, fields(otel.kind = "client"))]
pub async fn callback_phone(
    db: &impl ConnectionTrait,
    id: i64,
) -> Result<Option<String>, StoreError> {
    let row = credential::Entity::find_by_id(id).one(db).await?;
    Ok(row.and_then(|row| row.callback_phone))
}

/// Reads a credential by id.
#[tracing::instrument(name = "credentials.get", skip_all, fields(otel.kind = "client"))]
pub async fn get(db: &impl ConnectionTrait, id: i64) -> Result<StoredCredential, StoreError> {
    let row = credential::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "credential",
        })?;
    Ok(StoredCredential::try_from(row)?)
}

/// The person's credential that is not revoked or replaced, if any (the newest, should a
/// bug ever have left two). Whether it has lapsed or expired is the domain's call.
#[tracing::instrument(name = "credentials.find_current", skip_all, fields(otel.kind = "client"))]
pub async fn find_current(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
) -> Result<Option<StoredCredential>, StoreError> {
    let row = credential::Entity::find()
        .filter(Column::Cf.eq(cf.as_str()))
        .filter(Column::State.is_in(LIVE_STATES))
        .order_by_desc(Column::Id)
        .one(db)
        .await?;
    Ok(row.map(StoredCredential::try_from).transpose()?)
}

/// Stores `next` over `read`, only if nobody changed the credential since `read` was
/// loaded; otherwise `Conflict`. Returns the credential at its new version.
#[tracing::instrument(name = "credentials.update", skip_all, fields(otel.kind = "client"))]
pub async fn update(
    db: &impl ConnectionTrait,
    read: &StoredCredential,
    next: &Credential,
    now: OffsetDateTime,
) -> Result<StoredCredential, StoreError> {
    let current = credential::Entity::find_by_id(read.id)
        .one(db)
        .await?
        .ok_or(StoreError::NotFound {
            entity: "credential",
        })?;
    let mut model = current;
    write_state(&mut model, next);
    model.version = read.version + 1;
    model.updated_at = to_millis(now);
    let result = credential::Entity::update_many()
        .col_expr(Column::State, Expr::value(model.state.clone()))
        .col_expr(Column::Kind, Expr::value(model.kind.clone()))
        .col_expr(Column::Level, Expr::value(model.level.clone()))
        .col_expr(Column::Holder, Expr::value(model.holder.clone()))
        .col_expr(Column::PinHash, Expr::value(model.pin_hash.clone()))
        .col_expr(
            Column::ActivationHash,
            Expr::value(model.activation_hash.clone()),
        )
        .col_expr(Column::IssuedVia, Expr::value(model.issued_via.clone()))
        .col_expr(Column::IssuedAt, Expr::value(model.issued_at))
        .col_expr(Column::PinSetAt, Expr::value(model.pin_set_at))
        .col_expr(Column::RevokedAt, Expr::value(model.revoked_at))
        .col_expr(
            Column::RevocationReason,
            Expr::value(model.revocation_reason.clone()),
        )
        .col_expr(Column::Version, Expr::value(model.version))
        .col_expr(Column::UpdatedAt, Expr::value(model.updated_at))
        .filter(Column::Id.eq(read.id))
        .filter(Column::Version.eq(read.version))
        .exec(db)
        .await
        .classify("credential")?;
    if result.rows_affected != 1 {
        return Err(StoreError::Conflict {
            entity: "credential",
        });
    }
    Ok(StoredCredential {
        id: read.id,
        cf: read.cf.clone(),
        version: model.version,
        credential: next.clone(),
    })
}

/// Serialises changes to one person's credentials across processes, for the rest of the
/// transaction: PostgreSQL takes a transaction-level advisory lock on the codice fiscale;
/// SQLite needs nothing, its write transactions (`begin_write`) already run one at a time.
/// Used wherever "at most one live credential per person" must hold.
#[tracing::instrument(name = "credentials.lock_person", skip_all, fields(otel.kind = "client"))]
pub async fn lock_person(txn: &impl ConnectionTrait, cf: &CodiceFiscale) -> Result<(), StoreError> {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtext($1))",
            [cf.as_str().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Remembers a PIN just set, so a later change can refuse to reuse it.
#[tracing::instrument(name = "credentials.record_pin", skip_all, fields(otel.kind = "client"))]
pub async fn record_pin(
    db: &impl ConnectionTrait,
    credential_id: i64,
    cf: &CodiceFiscale,
    pin: &PinHash,
    now: OffsetDateTime,
) -> Result<(), StoreError> {
    use sea_orm::ActiveValue::Set;
    pin_history::ActiveModel {
        credential_id: Set(credential_id),
        cf: Set(cf.as_str().to_owned()),
        pin_hash: Set(pin.as_str().to_owned()),
        set_at: Set(to_millis(now)),
        ..Default::default()
    }
    .insert(db)
    .await
    .classify("pin history")?;
    Ok(())
}

/// The hashes of the person's last `depth` PINs, newest first.
#[tracing::instrument(name = "credentials.recent_pins", skip_all, fields(otel.kind = "client"))]
pub async fn recent_pins(
    db: &impl ConnectionTrait,
    cf: &CodiceFiscale,
    depth: u64,
) -> Result<Vec<PinHash>, StoreError> {
    use sea_orm::QuerySelect;
    let rows = pin_history::Entity::find()
        .filter(pin_history::Column::Cf.eq(cf.as_str()))
        .order_by_desc(pin_history::Column::Id)
        .limit(depth)
        .all(db)
        .await?;
    rows.iter()
        .map(|row| {
            PinHash::parse(&row.pin_hash)
                .map_err(|_| corrupt("pin history", "not a PHC string").into())
        })
        .collect()
}

/// Up to `limit` active credentials (after `after_id`, by id) whose PIN was last set at or
/// before `set_before`: the candidates for an expiry reminder.
#[tracing::instrument(name = "credentials.active_set_before", skip_all, fields(otel.kind = "client"))]
pub async fn active_set_before(
    db: &impl ConnectionTrait,
    set_before: OffsetDateTime,
    after_id: i64,
    limit: u64,
) -> Result<Vec<StoredCredential>, StoreError> {
    use sea_orm::QuerySelect;
    let rows = credential::Entity::find()
        .filter(Column::State.eq("ACTIVE"))
        .filter(Column::PinSetAt.lte(to_millis(set_before)))
        .filter(Column::Id.gt(after_id))
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(db)
        .await?;
    rows.into_iter()
        .map(|row| StoredCredential::try_from(row).map_err(StoreError::from))
        .collect()
}

/// A query for the ids of credentials whose undelivered secrets are useless: revoked or
/// replaced, or initial PINs and campaign letters issued at or before `lapsed_before`.
pub fn dead_ids(lapsed_before: OffsetDateTime) -> sea_orm::sea_query::SelectStatement {
    use sea_orm::{Condition, QuerySelect, QueryTrait};
    credential::Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(
            Condition::any()
                .add(Column::State.is_in(["REVOKED", "SUPERSEDED"]))
                .add(
                    Condition::all()
                        .add(Column::State.is_in(["AWAITING_ACTIVATION", "AWAITING_FIRST_ACCESS"]))
                        .add(Column::IssuedAt.lte(to_millis(lapsed_before))),
                ),
        )
        .into_query()
}
