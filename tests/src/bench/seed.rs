//! What the scenarios need before they start: a slot of codici fiscali of the run's own,
//! persons in the registry, credentials with known PINs, sessions, and afterwards an
//! outbox without the run's undelivered messages.
//!
//! Credentials come two ways. A few citizens go through the real flow —
//! `RequestPinOnline`, both halves from their deliveries, `Authenticate` with the 16
//! characters, `CompleteFirstAccess` — which shows the whole path works on this server.
//! The login pool of the click day (100 000 citizens by default) cannot: each PIN costs
//! three argon2id hashes and a verification, hours at production cost. Those credentials
//! are written straight into the database through `pin_store` — the repositories the
//! server itself uses — as active, ordinary, first-access-completed PINs, all with ONE
//! argon2id hash of one PIN computed with the server's parameters (so no login asks for a
//! rehash). The PIN is drawn at random for the run and never printed.

use std::{
    collections::{HashMap, HashSet},
    ops::Range,
    path::Path,
    sync::Arc,
    time::Duration,
};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use pin_domain::{
    CodiceFiscale, Credential, CredentialState, Holder, IssuedVia, Level, Pin8, PinHasher,
};
use pin_proto::v1::{
    self as pb, AckDeliveryRequest, AuthenticateRequest, CompleteFirstAccessRequest,
    DeliveryResult, GetPersonRequest, LeaseDeliveriesRequest, UpsertPersonsRequest,
    authenticate_response::Result as Outcome,
    authentication_service_client::AuthenticationServiceClient,
    delivery_service_client::DeliveryServiceClient, issuance_service_client::IssuanceServiceClient,
    registry_service_client::RegistryServiceClient,
};
use pin_server::clock::{Clock, SystemClock};
use pin_store::repo::credentials;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use super::{
    people::{self, Layout, SLOTS, Slot},
    target::Target,
};

/// A citizen the bench can log in as.
#[derive(Clone)]
pub struct Citizen {
    /// Codice fiscale.
    pub cf: String,
    pin: Arc<str>,
}

impl Citizen {
    /// The citizen's 8-character PIN.
    pub fn pin(&self) -> &str {
        &self.pin
    }
}

impl std::fmt::Debug for Citizen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Citizen")
            .field("cf", &self.cf)
            .field("pin", &"<redacted>")
            .finish()
    }
}

/// An open session of a citizen.
#[derive(Clone)]
pub struct Session {
    /// Whose.
    pub cf: String,
    /// The bearer token of the session.
    pub token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("cf", &self.cf)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Whether `slot` was used by an earlier run: its marker person is in the registry.
async fn used(target: &Target, slot: Slot) -> anyhow::Result<bool> {
    let marker = people::person(slot, Layout::MARKER)?;
    let mut registry = RegistryServiceClient::new(target.channel(0));
    match registry
        .get_person(target.request(GetPersonRequest {
            codice_fiscale: marker.codice_fiscale,
        }))
        .await
    {
        Ok(_) => Ok(true),
        Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
        Err(status) => bail!(
            "GetPerson answered {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

/// Finds the first slot no earlier run used and marks it used. Runs take slots in order,
/// so the used ones are a prefix: found by doubling, then bisection.
pub async fn claim_slot(target: &Target) -> anyhow::Result<Slot> {
    let slot = |number: u32| Slot::new(number).context("every slot of codici fiscali is used");
    let (mut used_below, mut free) = (0u32, 0u32);
    while used(target, slot(free)?).await? {
        used_below = free + 1;
        free = (free * 2 + 1).min(SLOTS - 1);
        if free < used_below {
            bail!("every slot of codici fiscali is used");
        }
    }
    // Slots below `used_below` are used, `free` is free: find the first free one.
    while used_below < free {
        let middle = used_below + (free - used_below) / 2;
        if used(target, slot(middle)?).await? {
            used_below = middle + 1;
        } else {
            free = middle;
        }
    }
    let claimed = slot(free)?;
    upsert(target, claimed, Layout::MARKER..Layout::MARKER + 1, 1).await?;
    Ok(claimed)
}

/// Upserts the persons of `indices` on `streams` concurrent `UpsertPersons` streams;
/// fails if the registry refused any.
pub async fn upsert(
    target: &Target,
    slot: Slot,
    indices: Range<u32>,
    streams: usize,
) -> anyhow::Result<()> {
    let total = indices.len();
    if total == 0 {
        return Ok(());
    }
    let per_stream = total.div_ceil(streams.max(1));
    let chunks: Vec<Range<u32>> = indices
        .clone()
        .step_by(per_stream)
        .map(|start| start..(start + per_stream as u32).min(indices.end))
        .collect();
    futures::stream::iter(chunks.into_iter().enumerate())
        .map(|(stream, chunk)| async move {
            let persons = chunk
                .map(|index| people::person(slot, index))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let requests = persons.into_iter().map(|person| UpsertPersonsRequest {
                person: Some(person),
            });
            let mut registry = RegistryServiceClient::new(target.channel(stream));
            let answer = registry
                .upsert_persons(target.request(tokio_stream::iter(requests)))
                .await
                .map_err(|status| {
                    anyhow::anyhow!("UpsertPersons: {:?}: {}", status.code(), status.message())
                })?
                .into_inner();
            if let Some(rejected) = answer.rejected.first() {
                bail!(
                    "the registry refused a synthetic person ({} of {}): {:?}",
                    answer.rejected_count,
                    answer.received,
                    rejected.problems
                );
            }
            Ok(())
        })
        .buffer_unordered(streams.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Citizens of `indices` through the real flow: an online request, both halves from
/// their deliveries (leased from the outbox, or read from the development mailbox),
/// a login with the initial PIN and first access. Their persons must be in the registry.
pub async fn real_flow(
    target: &Target,
    slot: Slot,
    indices: Range<u32>,
) -> anyhow::Result<Vec<(Citizen, Session)>> {
    let mut issuance = IssuanceServiceClient::new(target.channel(0));
    let mut by_mobile = HashMap::new();
    let mut by_name = HashMap::new();
    let mut persons = Vec::new();
    for index in indices {
        let person = people::person(slot, index)?;
        let request_id = format!("pin-bench-{}-real-{index}", slot.number());
        let answer = issuance
            .request_pin_online(
                target.request(people::pin_request(slot, index, &person, request_id)),
            )
            .await
            .map_err(|status| {
                anyhow::anyhow!(
                    "RequestPinOnline: {:?}: {}",
                    status.code(),
                    status.message()
                )
            })?
            .into_inner();
        if answer.outcome() != pb::IssuanceOutcome::LetterComing {
            bail!("RequestPinOnline answered {:?}", answer.outcome());
        }
        by_mobile.insert(people::mobile(slot, index), persons.len());
        by_name.insert(people::postal_name(&person), persons.len());
        persons.push(person);
    }
    let (first, second) = match &target.mailbox {
        Some(mailbox) => (
            read_mailbox(&mailbox.join("sms"), "pin_first_half", &by_mobile).await?,
            read_mailbox(&mailbox.join("post"), "pin_second_half", &by_name).await?,
        ),
        None => (
            lease_halves(target, pb::Channel::Sms, &by_mobile).await?,
            lease_halves(target, pb::Channel::Post, &by_name).await?,
        ),
    };
    let mut auth = AuthenticationServiceClient::new(target.channel(0));
    let mut citizens = Vec::new();
    for (position, person) in persons.iter().enumerate() {
        let (Some(first), Some(second)) = (first.get(&position), second.get(&position)) else {
            bail!(
                "the PIN halves of {} never arrived in the outbox",
                person.codice_fiscale
            );
        };
        let login = auth
            .authenticate(target.request(AuthenticateRequest {
                codice_fiscale: person.codice_fiscale.clone(),
                pin: format!("{first}{second}"),
            }))
            .await
            .map_err(|status| {
                anyhow::anyhow!(
                    "Authenticate (initial PIN): {:?}: {}",
                    status.code(),
                    status.message()
                )
            })?
            .into_inner();
        let Some(Outcome::FirstAccessRequired(ticket)) = login.result else {
            bail!("a login with the initial PIN did not ask for first access");
        };
        let first_access = auth
            .complete_first_access(target.request(CompleteFirstAccessRequest {
                ticket: ticket.ticket,
            }))
            .await
            .map_err(|status| {
                anyhow::anyhow!(
                    "CompleteFirstAccess: {:?}: {}",
                    status.code(),
                    status.message()
                )
            })?
            .into_inner();
        let session = first_access
            .session
            .context("CompleteFirstAccess opened no session")?;
        citizens.push((
            Citizen {
                cf: person.codice_fiscale.clone(),
                pin: first_access.new_pin.into(),
            },
            Session {
                cf: person.codice_fiscale.clone(),
                token: session.session_token,
            },
        ));
    }
    Ok(citizens)
}

/// The postal recipient's first line, or the whole recipient of an SMS or e-mail.
fn recipient_key(delivery: &pb::Delivery) -> &str {
    delivery.recipient.lines().next().unwrap_or_default()
}

/// Leases the deliveries of `channel` and takes the PIN halves meant for `wanted`
/// (recipient → position), acknowledging them as sent; others are left to their lease's
/// end. Returns position → half.
async fn lease_halves(
    target: &Target,
    channel: pb::Channel,
    wanted: &HashMap<String, usize>,
) -> anyhow::Result<HashMap<usize, String>> {
    let purpose = match channel {
        pb::Channel::Post => pb::DeliveryPurpose::PinSecondHalf,
        _ => pb::DeliveryPurpose::PinFirstHalf,
    };
    let mut halves = HashMap::new();
    drain(target, channel, wanted.len(), |delivery| {
        if delivery.purpose() != purpose {
            return false;
        }
        match wanted.get(recipient_key(delivery)) {
            Some(&position) => {
                halves.insert(position, delivery.secret.clone());
                true
            }
            None => false,
        }
    })
    .await?;
    Ok(halves)
}

/// Leases every pending delivery of `channel`, page after page, and acknowledges as sent
/// those `ours` claims (it sees each once), until `enough` were claimed or a page brings
/// nothing new. Deliveries not ours go back to the queue when their one-minute lease ends.
/// Returns how many were claimed.
pub async fn drain(
    target: &Target,
    channel: pb::Channel,
    enough: usize,
    mut ours: impl FnMut(&pb::Delivery) -> bool,
) -> anyhow::Result<usize> {
    let mut outbox = DeliveryServiceClient::new(target.channel(0));
    let mut seen = HashSet::new();
    let mut claimed = 0;
    while claimed < enough {
        let page = outbox
            .lease_deliveries(target.request(LeaseDeliveriesRequest {
                channel: channel.into(),
                max_deliveries: 100,
                lease_duration: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
            }))
            .await
            .map_err(|status| {
                anyhow::anyhow!("LeaseDeliveries: {:?}: {}", status.code(), status.message())
            })?
            .into_inner()
            .deliveries;
        let mut new = false;
        for delivery in page {
            if !seen.insert(delivery.id.clone()) {
                continue;
            }
            new = true;
            if ours(&delivery) {
                outbox
                    .ack_delivery(target.request(AckDeliveryRequest {
                        delivery_id: delivery.id.clone(),
                        result: DeliveryResult::Sent.into(),
                        failure_reason: String::new(),
                    }))
                    .await
                    .map_err(|status| {
                        anyhow::anyhow!("AckDelivery: {:?}: {}", status.code(), status.message())
                    })?;
                claimed += 1;
            }
        }
        if !new {
            break;
        }
    }
    Ok(claimed)
}

/// Reads the PIN halves meant for `wanted` (recipient → position) from the development
/// mailbox's `folder`, waiting for the server's worker to write them (it runs twice a
/// second). Returns position → half.
async fn read_mailbox(
    folder: &Path,
    purpose: &str,
    wanted: &HashMap<String, usize>,
) -> anyhow::Result<HashMap<usize, String>> {
    let give_up = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut found = HashMap::new();
    loop {
        if let Ok(mut entries) = tokio::fs::read_dir(folder).await {
            while let Some(entry) = entries.next_entry().await? {
                let name = entry.file_name();
                if !name.to_string_lossy().ends_with(&format!("{purpose}.txt")) {
                    continue;
                }
                let text = tokio::fs::read_to_string(entry.path()).await?;
                let recipient = text
                    .lines()
                    .next()
                    .and_then(|line| line.strip_prefix("To: "))
                    .unwrap_or_default();
                if let (Some(&position), Some(half)) = (wanted.get(recipient), half_in(&text)) {
                    found.insert(position, half);
                }
            }
        }
        if found.len() == wanted.len() || tokio::time::Instant::now() > give_up {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The 8-character half in a delivery's text: the word after "è ".
fn half_in(text: &str) -> Option<String> {
    text.split("è ").skip(1).find_map(|rest| {
        let half: String = rest.chars().take(8).collect();
        (half.len() == 8 && half.bytes().all(|b| pin_domain::PIN_ALPHABET.contains(&b)))
            .then_some(half)
    })
}

/// Writes credentials for the persons of `indices` straight into the server's database:
/// active, ordinary, first access done, all with one argon2id hash of one random PIN made
/// with the server's parameters. Returns the citizens.
pub async fn write_credentials(
    target: &Target,
    slot: Slot,
    indices: Range<u32>,
) -> anyhow::Result<Vec<Citizen>> {
    if indices.is_empty() {
        return Ok(Vec::new());
    }
    let params = target.params;
    let (pin, hash) = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let mut rng = ChaCha20Rng::try_from_rng(&mut rand::rngs::SysRng)
            .context("the operating system gave no randomness")?;
        let pin = Pin8::generate(&mut rng);
        let hash = PinHasher::new(params, &mut rng)?.hash(pin.expose_secret(), &mut rng)?;
        Ok((Arc::<str>::from(pin.expose_secret()), hash))
    })
    .await??;
    let db = target.database().await?;
    let now = SystemClock.now();
    let credential = Credential {
        holder: Holder::Citizen,
        level: Level::Ordinary,
        issued_via: IssuedVia::Online,
        state: CredentialState::Active {
            pin: hash.clone(),
            pin_set_at: now,
        },
    };
    // SQLite has one writer: concurrent transactions would only queue.
    let parallel = if target.backend() == "sqlite" { 1 } else { 4 };
    let chunks: Vec<Range<u32>> = indices
        .clone()
        .step_by(1000)
        .map(|start| start..(start + 1000).min(indices.end))
        .collect();
    let (db, credential, hash) = (&db, &credential, &hash);
    futures::stream::iter(chunks)
        .map(|chunk| async move {
            let txn = pin_store::begin_write(db).await?;
            for index in chunk {
                let cf = CodiceFiscale::parse(&people::person(slot, index)?.codice_fiscale)?;
                let stored = credentials::insert(&txn, &cf, credential, now).await?;
                credentials::record_pin(&txn, stored.id, &cf, hash, now).await?;
            }
            pin_store::commit(txn).await?;
            anyhow::Ok(())
        })
        .buffer_unordered(parallel)
        .try_collect::<Vec<()>>()
        .await?;
    let mut citizens = Vec::with_capacity(indices.len());
    for index in indices {
        citizens.push(Citizen {
            cf: people::person(slot, index)?.codice_fiscale,
            pin: pin.clone(),
        });
    }
    Ok(citizens)
}

/// Logs `citizens` in, `concurrency` at a time: one session each.
pub async fn log_in(
    target: &Target,
    citizens: &[Citizen],
    concurrency: usize,
) -> anyhow::Result<Vec<Session>> {
    futures::stream::iter(citizens.iter().enumerate())
        .map(|(worker, citizen)| async move {
            let mut auth = AuthenticationServiceClient::new(target.channel(worker));
            // A hashing pool busy with the other logins may refuse one: try again.
            let mut tries = 0;
            let answer = loop {
                tries += 1;
                match auth
                    .authenticate(target.request(AuthenticateRequest {
                        codice_fiscale: citizen.cf.clone(),
                        pin: citizen.pin().to_owned(),
                    }))
                    .await
                {
                    Ok(answer) => break answer.into_inner(),
                    Err(status)
                        if status.code() == tonic::Code::ResourceExhausted && tries < 10 =>
                    {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(status) => bail!(
                        "Authenticate {}: {:?}: {}",
                        citizen.cf,
                        status.code(),
                        status.message()
                    ),
                }
            };
            match answer.result {
                Some(Outcome::Session(grant)) => Ok(Session {
                    cf: citizen.cf.clone(),
                    token: grant.session_token,
                }),
                _ => bail!("a login of {} opened no session", citizen.cf),
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_half_is_read_from_a_mailbox_file() {
        let text = "To: +393471234567\nSubject: x\n\nLa prima parte del suo PIN INPS è \
                    ABCD2345. La seconda parte le arriverà per posta.\n";
        assert_eq!(half_in(text).as_deref(), Some("ABCD2345"));
        assert_eq!(half_in("nessuna è qui"), None);
    }
}
