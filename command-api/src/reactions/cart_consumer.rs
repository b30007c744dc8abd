//! Cart clearing as a JetStream consumer: with NATS configured, the buyer's cart is cleared
//! by the durable pull consumer `cart-clearing` of the relay's stream (explicit acks, a
//! bounded number of deliveries, then the dead-letter stream), reading `OrderPlaced`, instead
//! of by the in-process reaction. Deliveries are at least once: the clearing's dedup key is
//! the placement's ([`super::clear_cart_key`], the same as in process), so a delivery
//! repeated after a crash before its ack changes nothing.

use domain::OrderEvent;
use event_store::EventMetadata;
use event_store::follower::HandlerError;
use relay::{ConsumerSettings, Envelope, EnvelopeHandler, RelaySettings};
use shards::Stores;

use super::{OrderReactions, clear_cart_key};

/// The consumer's durable name (and its metrics' label).
pub const DURABLE: &str = "cart-clearing";

/// Clears a buyer's cart when their order is placed.
#[derive(Debug, Clone)]
pub struct CartClearing {
    reactions: OrderReactions,
}

impl CartClearing {
    /// Clearing carts in `store`.
    pub fn new(store: Stores) -> Self {
        Self {
            reactions: OrderReactions::new(store),
        }
    }

    /// The durable consumer of `relay`'s stream that reads the placements, delivering each
    /// at most `max_deliver` times, each with `ack_wait` to be acknowledged.
    pub fn consumer_settings(
        relay: &RelaySettings,
        max_deliver: i64,
        ack_wait: std::time::Duration,
    ) -> ConsumerSettings {
        ConsumerSettings {
            filter_subject: format!("{}.Order.*.OrderPlaced", relay.subject_prefix),
            max_deliver,
            ack_wait,
            ..ConsumerSettings::new(relay, DURABLE)
        }
    }
}

impl EnvelopeHandler for CartClearing {
    fn name(&self) -> &'static str {
        DURABLE
    }

    async fn handle(&self, envelope: &Envelope) -> Result<(), HandlerError> {
        if envelope.aggregate_type != "Order" || envelope.event_type != "OrderPlaced" {
            return Ok(());
        }
        let OrderEvent::OrderPlaced(placed) =
            serde_json::from_str::<OrderEvent>(envelope.payload.get())?
        else {
            return Err(format!("event {} is not an OrderPlaced", envelope.event_id).into());
        };
        let meta = EventMetadata {
            dedup_key: Some(clear_cart_key(placed.order_id)),
            actor: Some(format!("system:{DURABLE}")),
            correlation_id: envelope.correlation_id.clone(),
            causation_id: Some(envelope.event_id.clone()),
            request_id: None,
            request_digest: None,
        };
        self.reactions
            .clear_cart_with(&meta, &placed.buyer, placed.order_id)
            .await
    }
}
