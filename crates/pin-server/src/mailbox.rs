//! The development mailbox: a built-in delivery worker that writes every delivery as a
//! file under `<data dir>/mailbox/<channel>/` and acknowledges it, so a newcomer can read
//! both halves of a PIN without an SMS gateway or a post office. Off in production.

use std::{path::PathBuf, time::Duration};

use pin_domain::DeliveryChannel;
use pin_store::repo::outbox::AckResult;
use tokio::{sync::watch, task::JoinHandle};

use crate::{state::AppState, usecase::delivery};

/// The caller id the worker leases and acknowledges as.
const CALLER: &str = "mailbox";

/// Starts the worker; it stops when `stop` turns true.
pub fn spawn(state: AppState, root: PathBuf, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if let Err(error) = drain(&state, &root).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "mailbox worker could not deliver"
                );
            }
        }
    })
}

async fn drain(state: &AppState, root: &std::path::Path) -> anyhow::Result<()> {
    for &channel in DeliveryChannel::ALL {
        let call = state.internal_call(CALLER);
        let leased = delivery::lease(state, &call, channel, 50, time::Duration::minutes(1)).await?;
        for item in leased {
            let folder = root.join(channel.as_str().to_ascii_lowercase());
            tokio::fs::create_dir_all(&folder).await?;
            let file = folder.join(format!(
                "{:06}-{}.txt",
                item.id,
                item.purpose.as_str().to_ascii_lowercase()
            ));
            let text = format!(
                "To: {}\nSubject: {}\nPurpose: {}\n\n{}\n",
                item.recipient, item.subject, item.purpose, item.body
            );
            write_private(&file, text).await?;
            let call = state.internal_call(CALLER);
            delivery::acknowledge(state, &call, item.id, AckResult::Sent, None).await?;
            tracing::info!(delivery = item.id, %channel, file = %file.display(), "delivered to the local mailbox");
        }
    }
    Ok(())
}

/// Writes a file readable by its owner only: it holds a secret.
async fn write_private(path: &std::path::Path, text: String) -> std::io::Result<()> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options.open(&path)?.write_all(text.as_bytes())
    })
    .await
    .map_err(std::io::Error::other)?
}
