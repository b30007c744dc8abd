//! The checks every peer's tests run through [`Peer`], so that both peers are held to one
//! definition of a correct flash sale.

use futures::future::join_all;

use crate::{Peer, PeerError, Placed, Placement, PlacementLine};

/// A placement of `order_id` with `items` (SKU, units), from `campaign_id` if given.
pub fn placement(order_id: &str, campaign_id: Option<&str>, items: &[(&str, u32)]) -> Placement {
    Placement {
        order_id: order_id.to_owned(),
        checkout_token: "unchecked".to_owned(),
        items: items
            .iter()
            .map(|(sku, quantity)| PlacementLine {
                sku: (*sku).to_owned(),
                quantity: *quantity,
            })
            .collect(),
        campaign_id: campaign_id.map(str::to_owned),
    }
}

/// `buyers` buyers at once on the campaign `campaign_id` (of `sku`, a limit of one per buyer,
/// `price_cents` a unit), each placing one unit, replaying that placement, then trying a
/// second order. Answers how many orders were placed, or the first answer that breaks the
/// rules: a replay must answer the first order (or its refusal again), a second order of a
/// buyer who has one must be refused for the limit, and only "sold out" may refuse a first.
pub async fn campaign_rush<P: Peer + Clone>(
    peer: &P,
    campaign_id: &str,
    sku: &str,
    price_cents: i64,
    buyers: usize,
) -> Result<usize, String> {
    let attempts = (0..buyers).map(|buyer| {
        let peer = peer.clone();
        async move {
            let buyer_id = format!("b{buyer}");
            let first = placement(&format!("o{buyer}"), Some(campaign_id), &[(sku, 1)]);
            let placed = peer.place(&buyer_id, &first).await;
            let again = peer.place(&buyer_id, &first).await;
            let second = placement(&format!("o{buyer}-2"), Some(campaign_id), &[(sku, 1)]);
            let second = peer.place(&buyer_id, &second).await;
            (placed, again, second)
        }
    });
    let mut placed_orders = 0;
    for (placed, again, second) in join_all(attempts).await {
        match (placed, again, second) {
            (Ok(Placed::New(order)), Ok(Placed::Again(replayed)), Err(PeerError::LimitReached))
                if order == replayed && order.total_cents == price_cents =>
            {
                placed_orders += 1;
            }
            (Err(PeerError::SoldOut), Err(PeerError::SoldOut), Err(PeerError::SoldOut)) => {}
            other => return Err(format!("answers that break the rules: {other:?}")),
        }
    }
    Ok(placed_orders)
}
