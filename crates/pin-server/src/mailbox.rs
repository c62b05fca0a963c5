//! The development mailbox: a built-in delivery worker that writes every delivery as a
//! file under `<data dir>/mailbox/<channel>/` and acknowledges it, so a newcomer can read
//! both halves of a PIN without an SMS gateway or a post office. Off in production.

use std::{path::PathBuf, sync::Arc, time::Duration};

use pin_store::repo::outbox::{self, AckResult};
use tokio::{sync::watch, task::JoinHandle};

use crate::{auth::CallContext, services::delivery, state::AppState};

const CHANNELS: [&str; 4] = ["SMS", "EMAIL", "PEC", "POST"];

/// Starts the worker; it stops when `stop` turns true.
pub fn spawn(state: AppState, root: PathBuf, mut stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let context = CallContext {
            caller_id: Arc::from("mailbox"),
            operator_id: None,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => break,
            }
            if let Err(error) = drain(&state, &context, &root).await {
                tracing::warn!(
                    error = format!("{error:#}"),
                    "mailbox worker could not deliver"
                );
            }
        }
    })
}

async fn drain(
    state: &AppState,
    context: &CallContext,
    root: &std::path::Path,
) -> anyhow::Result<()> {
    for channel in CHANNELS {
        let leased = outbox::lease(
            &state.db,
            channel,
            50,
            time::Duration::minutes(1),
            "mailbox",
            state.now(),
        )
        .await?;
        for item in leased {
            let folder = root.join(channel.to_ascii_lowercase());
            tokio::fs::create_dir_all(&folder).await?;
            let file = folder.join(format!(
                "{:06}-{}.txt",
                item.id,
                item.purpose.to_ascii_lowercase()
            ));
            let text = format!(
                "To: {}\nSubject: {}\nPurpose: {}\n\n{}\n",
                item.recipient, item.subject, item.purpose, item.body
            );
            write_private(&file, text).await?;
            delivery::acknowledge(state, context, item.id, AckResult::Sent, None).await?;
            tracing::info!(delivery = item.id, channel, file = %file.display(), "delivered to the local mailbox");
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
