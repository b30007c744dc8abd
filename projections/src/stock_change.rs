//! The change one stock event makes to its SKU's row in the stock view: the one place that
//! reads each `Sku` event as deltas of available, reserved and sold.

use domain::SkuEvent;

/// The change one stock event makes to its SKU's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StockChange {
    /// The row starts.
    Created { seller: String, available: i64 },
    /// Deltas to (available, reserved, sold).
    Moved {
        available: i64,
        reserved: i64,
        sold: i64,
    },
}

impl StockChange {
    pub(crate) fn of(event: &SkuEvent) -> Self {
        let units = |q: domain::Quantity| i64::from(q.get());
        match event {
            SkuEvent::SkuCreated(e) => Self::Created {
                seller: e.seller.to_string(),
                available: i64::from(e.initial_stock),
            },
            SkuEvent::StockAdded(e) => Self::Moved {
                available: i64::from(e.quantity),
                reserved: 0,
                sold: 0,
            },
            SkuEvent::StockReserved(e) => Self::Moved {
                available: -units(e.quantity),
                reserved: units(e.quantity),
                sold: 0,
            },
            SkuEvent::StockReleased(e) => Self::Moved {
                available: units(e.quantity),
                reserved: -units(e.quantity),
                sold: 0,
            },
            SkuEvent::StockDeducted(e) => Self::Moved {
                available: 0,
                reserved: -units(e.quantity),
                sold: units(e.quantity),
            },
            // a campaign's units leave the SKU's available stock and what is left comes back
            SkuEvent::StockAllocated(e) => Self::Moved {
                available: -i64::from(e.quantity),
                reserved: 0,
                sold: 0,
            },
            SkuEvent::StockReturned(e) => Self::Moved {
                available: i64::from(e.quantity),
                reserved: 0,
                sold: 0,
            },
        }
    }
}
