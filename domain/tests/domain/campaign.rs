//! Flash-sale campaigns: the campaign's window, the buckets of its stock and the per-buyer
//! limit, one test per rule, and a property test of the hot path's rules: whatever the
//! interleaving of placements, retries, cancellations, payments and the end over the
//! buckets, no unit is sold twice and no buyer holds more than the limit.

use std::collections::BTreeMap;

use cqrs_es::Aggregate;
use domain::{
    BucketCommand, BucketError, BuyerCommand, BuyerError, BuyerId, Campaign, CampaignBucket,
    CampaignBuyer, CampaignCommand, CampaignError, CampaignEvent, CampaignId, CampaignStatus,
    CreateCampaign, EndCampaign, OrderId, bucket_stream_id, buyer_stream_id,
    parse_bucket_stream_id, parse_buyer_stream_id,
};
use proptest::prelude::*;

use crate::fixtures::{at, money, order_id, qty, seller, sku};

fn create(stock: u32, starts: i64, ends: i64) -> CreateCampaign {
    CreateCampaign {
        campaign_id: CampaignId::parse("c-1").expect("a valid campaign id"),
        sku: sku("tea"),
        seller: seller("s-1"),
        starts_at: at(starts),
        ends_at: at(ends),
        price: money(999),
        stock,
        limit_per_buyer: qty(2),
        at: at(0),
    }
}

fn campaign(stock: u32, starts: i64, ends: i64) -> Campaign {
    let mut campaign = Campaign::default();
    let events = campaign
        .decide(CampaignCommand::CreateCampaign(create(stock, starts, ends)))
        .expect("a valid campaign");
    for event in events {
        campaign.apply(event);
    }
    campaign
}

fn run<A: Aggregate>(state: &mut A, events: Vec<A::Event>) {
    for event in events {
        state.apply(event);
    }
}

#[test]
fn a_campaign_is_scheduled_then_running_then_ended_by_its_window() {
    let campaign = campaign(10, 10, 20);
    assert_eq!(campaign.status(at(5)), Some(CampaignStatus::Scheduled));
    assert_eq!(
        campaign.check_running(at(5)).map(|_| ()),
        Err(CampaignError::NotStarted { starts_at: at(10) })
    );
    assert_eq!(campaign.status(at(10)), Some(CampaignStatus::Running));
    assert!(campaign.check_running(at(19)).is_ok());
    assert_eq!(
        campaign.check_running(at(20)).map(|_| ()),
        Err(CampaignError::Ended { ended_at: at(20) })
    );
}

#[test]
fn a_campaign_ended_by_its_seller_refuses_orders_from_then_on() {
    let mut campaign = campaign(10, 0, 60);
    let ended = campaign
        .decide(CampaignCommand::EndCampaign(EndCampaign { at: at(5) }))
        .expect("ends");
    assert!(matches!(
        ended.as_slice(),
        [CampaignEvent::CampaignEnded(_)]
    ));
    run(&mut campaign, ended);
    assert_eq!(campaign.status(at(6)), Some(CampaignStatus::Ended));
    let again = campaign
        .decide(CampaignCommand::EndCampaign(EndCampaign { at: at(7) }))
        .expect("a repeat");
    assert!(again.is_empty());
}

#[test]
fn ending_a_campaign_after_its_end_time_records_that_it_ended_then() {
    let campaign = campaign(10, 0, 60);
    let ended = campaign
        .decide(CampaignCommand::EndCampaign(EndCampaign { at: at(75) }))
        .expect("ends");
    let [CampaignEvent::CampaignEnded(ended)] = ended.as_slice() else {
        panic!("one CampaignEnded: {ended:?}");
    };
    assert_eq!(ended.at, at(60));
}

#[test]
fn a_bucket_or_buyer_stream_id_names_its_campaign_and_bucket_or_buyer() {
    let campaign = CampaignId::parse("c-spring.sale").expect("a valid campaign id");
    let buyer = BuyerId::parse("b-1").expect("a valid buyer id");
    assert_eq!(
        parse_bucket_stream_id(&bucket_stream_id(&campaign, 15)),
        Some((campaign.clone(), 15))
    );
    assert_eq!(
        parse_buyer_stream_id(&buyer_stream_id(&campaign, &buyer)),
        Some((campaign, buyer))
    );
    assert_eq!(parse_bucket_stream_id("tea-500g"), None);
    assert_eq!(parse_buyer_stream_id("tea-500g"), None);
}

#[test]
fn a_campaign_needs_a_window_and_stock() {
    let empty = Campaign::default();
    assert_eq!(
        empty.decide(CampaignCommand::CreateCampaign(create(10, 5, 5))),
        Err(CampaignError::EmptyWindow)
    );
    assert_eq!(
        empty.decide(CampaignCommand::CreateCampaign(create(0, 0, 5))),
        Err(CampaignError::NoStock)
    );
}

#[test]
fn the_stock_is_split_over_at_most_sixteen_buckets_losing_no_unit() {
    for stock in [1, 3, 16, 17, 100, 1_000_003] {
        let campaign = campaign(stock, 0, 60);
        let buckets = Campaign::bucket_count(stock);
        assert!((1..=16).contains(&buckets));
        let total: u32 = (0..buckets).map(|b| campaign.bucket_stock(b)).sum();
        assert_eq!(total, stock);
        assert!((0..buckets).all(|b| campaign.bucket_stock(b) > 0));
    }
}

fn reserve(order: u64, units: u32, share: u32) -> BucketCommand {
    BucketCommand::Reserve {
        share,
        order_id: order_id(order),
        quantity: qty(units),
        at: at(1),
    }
}

#[test]
fn a_bucket_opens_with_its_share_and_reserves_each_order_once() {
    let mut bucket = CampaignBucket::default();
    let first = bucket.decide(reserve(1, 2, 3)).expect("reserves");
    assert_eq!(first.len(), 2, "opened, then reserved");
    run(&mut bucket, first);
    assert_eq!(bucket.available_of(3), 1);
    assert!(
        bucket
            .decide(reserve(1, 2, 3))
            .expect("a repeat")
            .is_empty()
    );
    assert_eq!(
        bucket.decide(reserve(1, 1, 3)),
        Err(BucketError::ReservationMismatch {
            reserved: 2,
            requested: 1
        })
    );
    assert_eq!(
        bucket.decide(reserve(2, 2, 3)),
        Err(BucketError::SoldOut {
            available: 1,
            requested: 2
        })
    );
}

#[test]
fn a_closed_bucket_reserves_nothing_and_sends_late_releases_to_the_sku() {
    let mut bucket = CampaignBucket::default();
    let events = bucket.decide(reserve(1, 1, 5)).expect("reserves");
    run(&mut bucket, events);
    let closed = bucket
        .decide(BucketCommand::Close {
            share: 5,
            at: at(2),
        })
        .expect("closes");
    run(&mut bucket, closed);
    assert_eq!(bucket.returned_at_close(), 4);
    assert_eq!(bucket.decide(reserve(2, 1, 5)), Err(BucketError::Closed));
    let released = bucket
        .decide(BucketCommand::Release {
            share: 5,
            order_id: order_id(1),
            at: at(3),
        })
        .expect("releases");
    run(&mut bucket, released);
    assert!(bucket.released_to_sku(order_id(1)));
    assert_eq!(bucket.available_of(5), 0);
    assert_eq!(bucket.returned(), 5);
}

fn claim(order: u64, units: u32) -> BuyerCommand {
    BuyerCommand::Claim {
        order_id: order_id(order),
        quantity: qty(units),
        limit: qty(2),
        at: at(1),
    }
}

#[test]
fn a_buyer_claims_up_to_the_limit_once_per_order_and_gets_a_cancelled_claim_back() {
    let mut buyer = CampaignBuyer::default();
    let events = buyer.decide(claim(1, 1)).expect("claims");
    run(&mut buyer, events);
    assert!(buyer.decide(claim(1, 1)).expect("a retry").is_empty());
    let events = buyer.decide(claim(2, 1)).expect("claims");
    run(&mut buyer, events);
    assert_eq!(
        buyer.decide(claim(3, 1)),
        Err(BuyerError::LimitReached {
            limit: 2,
            held: 2,
            requested: 1
        })
    );
    let returned = buyer
        .decide(BuyerCommand::Return {
            order_id: order_id(1),
            at: at(2),
        })
        .expect("returns");
    run(&mut buyer, returned);
    assert_eq!(buyer.held(), 1);
    // the returned order stays returned: its id is used up
    assert!(buyer.decide(claim(1, 1)).expect("a repeat").is_empty());
    assert!(!buyer.decide(claim(3, 1)).expect("claims").is_empty());
}

/// One step of the property test: a placement (or its retry), a cancellation, a payment or
/// the campaign's end.
#[derive(Debug, Clone)]
enum Step {
    Place { order: u64, buyer: u8, units: u32 },
    Cancel { order: u64 },
    Pay { order: u64 },
    End,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (1u64..40, 0u8..6, 1u32..3).prop_map(|(order, buyer, units)| Step::Place { order, buyer, units }),
        2 => (1u64..40).prop_map(|order| Step::Cancel { order }),
        1 => (1u64..40).prop_map(|order| Step::Pay { order }),
        1 => Just(Step::End),
    ]
}

/// The campaign's records as the placement and the reactions drive them, one stream at a
/// time: the buckets, the buyers' records, and where each placed order's units are.
struct Model {
    campaign: Campaign,
    buckets: Vec<CampaignBucket>,
    buyers: BTreeMap<u8, CampaignBuyer>,
    placed: BTreeMap<u64, (u8, usize)>,
    /// Units given back to the SKU.
    to_sku: u32,
}

impl Model {
    fn place(&mut self, order: u64, buyer: u8, units: u32) {
        if self.placed.contains_key(&order) {
            return; // the order stream answers a repeat before any stock is touched
        }
        let record = self.buyers.entry(buyer).or_default();
        let Ok(claimed) = record.decide(BuyerCommand::Claim {
            order_id: order_id(order),
            quantity: qty(units),
            limit: qty(2),
            at: at(1),
        }) else {
            return;
        };
        run(record, claimed);
        let n = self.buckets.len();
        let first = usize::try_from(order).expect("small") % n;
        for step in 0..n {
            let b = (first + step) % n;
            let share = self.campaign.bucket_stock(u32::try_from(b).expect("small"));
            if let Ok(events) = self.buckets[b].decide(reserve(order, units, share)) {
                run(&mut self.buckets[b], events);
                self.placed.insert(order, (buyer, b));
                return;
            }
        }
        // sold out: the claim goes back
        let record = self.buyers.entry(buyer).or_default();
        let back = record
            .decide(BuyerCommand::Return {
                order_id: order_id(order),
                at: at(2),
            })
            .expect("returns");
        run(record, back);
    }

    fn settle(&mut self, order: u64, pay: bool) {
        let Some(&(buyer, b)) = self.placed.get(&order) else {
            return;
        };
        let share = self.campaign.bucket_stock(u32::try_from(b).expect("small"));
        let id: OrderId = order_id(order);
        let command = if pay {
            BucketCommand::Deduct {
                share,
                order_id: id,
                at: at(3),
            }
        } else {
            BucketCommand::Release {
                share,
                order_id: id,
                at: at(3),
            }
        };
        let events = self.buckets[b].decide(command).expect("never refused");
        for event in &events {
            if let domain::BucketEvent::BucketReleased(released) = event {
                if released.to_sku {
                    self.to_sku += released.quantity.get();
                }
            }
        }
        run(&mut self.buckets[b], events);
        if !pay {
            let record = self.buyers.entry(buyer).or_default();
            let back = record
                .decide(BuyerCommand::Return {
                    order_id: id,
                    at: at(3),
                })
                .expect("returns");
            run(record, back);
        }
    }

    fn end(&mut self) {
        for (b, bucket) in self.buckets.iter_mut().enumerate() {
            let share = self.campaign.bucket_stock(u32::try_from(b).expect("small"));
            let events = bucket
                .decide(BucketCommand::Close { share, at: at(4) })
                .expect("closes");
            for event in &events {
                if let domain::BucketEvent::BucketClosed(closed) = event {
                    self.to_sku += closed.returned;
                }
            }
            run(bucket, events);
        }
    }
}

proptest! {
    #[test]
    fn no_interleaving_oversells_a_campaign_or_passes_a_buyers_limit(
        stock in 1u32..40,
        steps in proptest::collection::vec(step(), 1..120),
    ) {
        let campaign = campaign(stock, 0, 60);
        let n = usize::try_from(Campaign::bucket_count(stock)).expect("small");
        let mut model = Model {
            campaign,
            buckets: vec![CampaignBucket::default(); n],
            buyers: BTreeMap::new(),
            placed: BTreeMap::new(),
            to_sku: 0,
        };
        for step in steps {
            match step {
                Step::Place { order, buyer, units } => model.place(order, buyer, units),
                Step::Cancel { order } => model.settle(order, false),
                Step::Pay { order } => model.settle(order, true),
                Step::End => model.end(),
            }
            let mut accounted = 0;
            for (b, bucket) in model.buckets.iter().enumerate() {
                let share = model.campaign.bucket_stock(u32::try_from(b).expect("small"));
                // every unit of a bucket is in one place
                prop_assert_eq!(
                    bucket.available_of(share) + bucket.reserved() + bucket.sold() + bucket.returned(),
                    share
                );
                accounted += bucket.reserved() + bucket.sold();
            }
            // never more held or sold than the campaign took, and what went back is the rest
            prop_assert!(accounted <= stock);
            prop_assert!(accounted + model.to_sku <= stock);
            for record in model.buyers.values() {
                prop_assert!(record.held() <= 2);
            }
        }
    }
}
