//! Logins, tickets, sessions.

use pin_domain::{OpaqueToken, Pin, Pin8};
use pin_proto::v1::{self as pb, authenticate_response::Result as Outcome};

use super::{category_to_pb, level_to_pb, timestamp};
use crate::{
    error::ServiceError,
    usecase::authentication::{ChangedPin, Login, NewPin, SessionGrant, SessionView, TicketGrant},
};

/// A PIN (8 characters, or the 16 of an initial PIN) from request field `field`.
pub fn pin(field: &str, value: &str) -> Result<Pin, ServiceError> {
    Pin::parse(value)
        .map_err(|error| ServiceError::invalid(field, error.reason(), error.to_string()))
}

/// An 8-character PIN from request field `field`.
pub fn pin8(field: &str, value: &str) -> Result<Pin8, ServiceError> {
    Pin8::parse(value)
        .map_err(|error| ServiceError::invalid(field, error.reason(), error.to_string()))
}

/// A ticket or link token from request field `field`.
pub fn token(field: &str, value: &str) -> Result<OpaqueToken, ServiceError> {
    OpaqueToken::parse(value)
        .map_err(|error| ServiceError::invalid(field, error.reason(), error.to_string()))
}

/// A session as its holder's client receives it.
pub fn session_to_pb(grant: SessionGrant) -> pb::SessionGrant {
    let SessionGrant {
        token,
        level,
        idle_expires_at,
        absolute_expires_at,
        pin_expires_at,
    } = grant;
    pb::SessionGrant {
        session_token: token.expose_secret().to_owned(),
        level: level_to_pb(level).into(),
        idle_expires_at: Some(timestamp(idle_expires_at)),
        absolute_expires_at: Some(timestamp(absolute_expires_at)),
        pin_expires_at: pin_expires_at.map(timestamp),
    }
}

fn ticket_to_pb(ticket: TicketGrant) -> pb::Ticket {
    pb::Ticket {
        ticket: ticket.token.expose_secret().to_owned(),
        expires_at: Some(timestamp(ticket.expires_at)),
    }
}

/// The answer to a correct login.
pub fn login_to_pb(login: Login) -> pb::AuthenticateResponse {
    let result = match login {
        Login::Session(grant) => Outcome::Session(session_to_pb(grant)),
        Login::FirstAccessRequired(ticket) => Outcome::FirstAccessRequired(ticket_to_pb(ticket)),
        Login::RenewalRequired(ticket) => Outcome::RenewalRequired(ticket_to_pb(ticket)),
    };
    pb::AuthenticateResponse {
        result: Some(result),
    }
}

/// The answer to first access.
pub fn first_access_to_pb(done: NewPin) -> pb::CompleteFirstAccessResponse {
    pb::CompleteFirstAccessResponse {
        new_pin: done.pin.expose_secret().to_owned(),
        session: Some(session_to_pb(done.session)),
    }
}

/// The answer to a renewal.
pub fn renewal_to_pb(done: NewPin) -> pb::RenewExpiredPinResponse {
    pb::RenewExpiredPinResponse {
        new_pin: done.pin.expose_secret().to_owned(),
        session: Some(session_to_pb(done.session)),
    }
}

/// The answer to a PIN change.
pub fn changed_pin_to_pb(changed: ChangedPin) -> pb::ChangePinResponse {
    pb::ChangePinResponse {
        pin_expires_at: changed.pin_expires_at.map(timestamp),
        other_sessions_ended: changed.other_sessions_ended,
    }
}

/// The answer to an introspection: inactive (all defaults) when the session cannot be used.
pub fn session_view_to_pb(view: Option<SessionView>) -> pb::IntrospectSessionResponse {
    let Some(SessionView {
        cf,
        level,
        categories,
        idle_expires_at,
        absolute_expires_at,
    }) = view
    else {
        return pb::IntrospectSessionResponse::default();
    };
    pb::IntrospectSessionResponse {
        active: true,
        codice_fiscale: cf.as_str().to_owned(),
        level: level_to_pb(level).into(),
        categories: categories
            .into_iter()
            .map(|c| category_to_pb(c).into())
            .collect(),
        idle_expires_at: Some(timestamp(idle_expires_at)),
        absolute_expires_at: Some(timestamp(absolute_expires_at)),
    }
}
