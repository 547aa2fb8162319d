//! `serve --live-demo` (SPEC 11.4): the bundled demo data kept moving, so a demo looks
//! alive on a screen. Every few seconds a random demo contact writes one of a list of
//! realistic messages; now and then a ticket opens or closes. Each move is a write of
//! the same code as the sandbox's routes and 11.2's, so webhooks fire as they would.

use std::time::Duration;

use serde_json::Value;

use crate::model::{
    ClientId, ContactId, InboundMessage, MessageType, OutboundContent, Phone, Platform, StageId,
    TicketId, TicketOpen,
};
use crate::store::{Store, StoreError, Writer};

/// What customers of a shop and a dental clinic write, in the demo data's languages.
const MESSAGES: &[&str] = &[
    "Hola, ¿tienen stock de la talla M?",
    "¿Cuánto demora el despacho a Valparaíso?",
    "Hi, where is my order?",
    "¿Puedo cambiar la dirección de entrega?",
    "Gracias, llegó todo perfecto 🙌",
    "¿Hay hora disponible para el jueves en la tarde?",
    "Necesito reagendar mi hora, por favor",
    "Do you accept credit cards?",
    "¿El precio incluye IVA?",
    "Me llegó un producto distinto al que pedí",
    "¿Atienden el sábado?",
    "Can I get an invoice for my purchase?",
    "Quiero cotizar una limpieza dental",
    "Listo, ya hice la transferencia",
    "¿Me pueden llamar? Es urgente",
];

/// The first message of a ticket the demo opens.
const GREETING: &str = "¡Hola! Te escribimos para ayudarte con tu consulta.";

struct DemoClient {
    id: ClientId,
    /// The first stage of its first pipeline: where demo tickets open.
    stage: Option<StageId>,
    /// Its phone channels' types and `phone_id`s.
    phone_channels: Vec<(Platform, String)>,
}

/// The demo data's clients and contacts, read from the bundled file.
struct DemoData {
    clients: Vec<DemoClient>,
    contacts: Vec<(ClientId, ContactId)>,
}

impl DemoData {
    fn bundled() -> Self {
        let source = crate::fixtures::FixtureSource::demo();
        let file: Value = serde_json::from_str(&source.text).unwrap_or_default();
        let uuid = |v: &Value| v.as_str().and_then(ContactId::parse);
        let clients = file["clients"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some(DemoClient {
                    id: c["id"].as_str().and_then(ClientId::parse)?,
                    stage: c["pipelines"][0]["stages"][0]["id"]
                        .as_str()
                        .and_then(StageId::parse),
                    phone_channels: c["channels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|ch| {
                            let kind = ch["type"].as_str()?.parse().ok()?;
                            Some((kind, ch["phone_id"].as_str()?.to_owned()))
                        })
                        .collect(),
                })
            })
            .collect();
        let contacts = file["contacts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some((
                    c["client_id"].as_str().and_then(ClientId::parse)?,
                    uuid(&c["id"])?,
                ))
            })
            .collect();
        Self { clients, contacts }
    }
}

/// Whether the database holds the demo data's contacts (the live demo moves only them).
pub fn has_demo_data(store: &Store) -> Result<bool, StoreError> {
    let demo = DemoData::bundled();
    let reader = store.reader()?;
    for (client, contact) in demo.contacts.iter().take(3) {
        if reader.contact_body(client, contact)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Moves a demo contact every `interval`, until the server stops.
pub async fn run(store: Store, writer: Writer, interval: Duration) {
    let demo = DemoData::bundled();
    let mut rng = fastrand::Rng::new();
    loop {
        tokio::time::sleep(interval).await;
        if let Err(e) = step(&store, &writer, &demo, &mut rng).await {
            // A demo contact removed or a busy moment: the next move tries another.
            tracing::warn!(error = %e, "live demo: a move failed");
        }
    }
}

async fn step(
    store: &Store,
    writer: &Writer,
    demo: &DemoData,
    rng: &mut fastrand::Rng,
) -> Result<(), StoreError> {
    let Some(&(client, contact)) = demo.contacts.get(rng.usize(..demo.contacts.len().max(1)))
    else {
        return Ok(());
    };
    let Some(body) = store.reader()?.contact_body(&client, &contact)? else {
        return Ok(());
    };
    let info: Value = serde_json::from_slice(&body.body)?;
    let active = info["active_ticket_v2_id"]
        .as_str()
        .and_then(TicketId::parse);
    let roll = rng.u8(..10);
    if roll == 0
        && let Some(ticket) = active
    {
        tracing::info!(%contact, %ticket, "live demo: an agent closes a ticket");
        return writer.close_ticket(client, ticket).await;
    }
    if roll == 1
        && let Some(open) = ticket_open(demo, client, &info)
    {
        tracing::info!(%contact, "live demo: a ticket opens");
        return writer.open_ticket(client, open).await.map(drop);
    }
    let text = MESSAGES[rng.usize(..MESSAGES.len())];
    tracing::info!(%contact, "live demo: a customer writes");
    let message = InboundMessage {
        body: text.to_owned(),
        kind: MessageType::Text,
        media_url: None,
    };
    writer
        .inbound_message(client, contact, message)
        .await
        .map(drop)
}

/// A ticket opened on the contact's phone channel, when it has one.
fn ticket_open(demo: &DemoData, client: ClientId, info: &Value) -> Option<TicketOpen> {
    let kind: Platform = info["platform"].as_str()?.parse().ok()?;
    let phone = Phone::parse(info["phone"].as_str()?)?;
    let demo_client = demo.clients.iter().find(|c| c.id == client)?;
    let (_, phone_id) = demo_client
        .phone_channels
        .iter()
        .find(|(k, _)| *k == kind)?;
    Some(TicketOpen {
        kind,
        phone_id: phone_id.clone(),
        phone,
        stage: demo_client.stage?,
        name: None,
        email: None,
        contact_metadata: Default::default(),
        ticket_metadata: Default::default(),
        integration_data: Default::default(),
        message: Some(OutboundContent {
            content: Some(GREETING.to_owned()),
            template_id: None,
            ai_generated: false,
        }),
    })
}
