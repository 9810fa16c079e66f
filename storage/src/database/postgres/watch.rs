//! Hearing about changes other nodes make: one connection of its own that
//! `LISTEN`s on the registry's channel, pinged every second, and connected
//! again after any failure. Whoever watches is told when to resync
//! everything (on every connect, after `LISTEN`, so nothing between is
//! missed), which org changed, and when the registry was lost.

use super::super::tables::{CHANGES_CHANNEL, RegistryEvent};
use futures::StreamExt;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio_postgres::{AsyncMessage, NoTls};

/// How often the connection is checked, and how long a check may take.
const PING: Duration = Duration::from_secs(1);
/// How long to wait before connecting again.
const RECONNECT: Duration = Duration::from_millis(500);

/// Watches the registry at `config` until `events` is closed.
pub(super) async fn run(config: tokio_postgres::Config, events: UnboundedSender<RegistryEvent>) {
    loop {
        if let Err(error) = listen(&config, &events).await {
            tracing::debug!("registry watch: {error}");
        }
        if events.send(RegistryEvent::Lost).is_err() {
            return;
        }
        tokio::time::sleep(RECONNECT).await;
    }
}

/// Listens on one connection until it fails.
async fn listen(
    config: &tokio_postgres::Config,
    events: &UnboundedSender<RegistryEvent>,
) -> Result<(), String> {
    let connect = tokio::time::timeout(PING * 5, config.connect(NoTls));
    let (client, mut connection) = (connect.await)
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    let (notes, mut heard) = futures::channel::mpsc::unbounded();
    let driver = tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(note) = message {
                let _ = notes.unbounded_send(note.payload().to_owned());
            }
        }
    });
    let outcome = async {
        (client
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .await)
            .map_err(|e| e.to_string())?;
        events
            .send(RegistryEvent::Resync)
            .map_err(|_| "nobody watches".to_owned())?;
        loop {
            tokio::select! {
                note = heard.next() => {
                    let org = note.ok_or("the connection ended")?;
                    events.send(RegistryEvent::Changed(org)).map_err(|_| "nobody watches")?;
                }
                () = tokio::time::sleep(PING) => {
                    let ping = tokio::time::timeout(PING, client.simple_query("SELECT 1"));
                    match ping.await {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => return Err(e.to_string()),
                        Err(_) => return Err("ping timed out".to_owned()),
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    outcome
}
