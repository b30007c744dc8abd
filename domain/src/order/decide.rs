//! The order's decisions: which events a command produces in a given state.

use std::collections::BTreeSet;

use super::{
    CancelOrder, CompleteRefund, ConfirmPayment, ConfirmReceipt, LogisticsUpdated, ORDER_ITEMS_MAX,
    Order, OrderCancelled, OrderCommand, OrderCompleted, OrderError, OrderEvent, OrderItem,
    OrderPlaced, OrderShipped, OrderState, OrderStatus, PaidAfterClose, PaymentConfirmed,
    PlaceOrder, PlacementRejected, RefundCompleted, RefundItem, RefundKind, RefundLine,
    RefundPaidAfterClose, RefundRequested, RejectionReason, RequestRefund, ShipOrder,
    UpdateLogistics,
};
use crate::money::{allocate, refund_share};
use crate::{Money, SkuId};

type Decision = Result<Vec<OrderEvent>, OrderError>;

impl Order {
    /// Decides what a command changes, without changing anything.
    pub fn decide(&self, command: OrderCommand) -> Decision {
        if self.rejection.is_some() {
            return match command {
                OrderCommand::RejectPlacement(_) | OrderCommand::AbandonPlacement(_) => Ok(vec![]),
                OrderCommand::PlaceOrder(_) => Err(OrderError::PlacementWasRejected),
                _ => Err(OrderError::NotFound),
            };
        }
        let Some(order) = &self.state else {
            return match command {
                OrderCommand::PlaceOrder(command) => place(command),
                OrderCommand::RejectPlacement(command) => {
                    Ok(vec![OrderEvent::PlacementRejected(PlacementRejected {
                        order_id: command.order_id,
                        buyer: Some(command.buyer),
                        reason: command.reason,
                        at: command.at,
                    })])
                }
                OrderCommand::AbandonPlacement(command) => {
                    Ok(vec![OrderEvent::PlacementRejected(PlacementRejected {
                        order_id: command.order_id,
                        buyer: None,
                        reason: RejectionReason::Abandoned,
                        at: command.at,
                    })])
                }
                _ => Err(OrderError::NotFound),
            };
        };
        match command {
            OrderCommand::PlaceOrder(command) => order.place_again(&command),
            OrderCommand::RejectPlacement(_) | OrderCommand::AbandonPlacement(_) => {
                Err(OrderError::AlreadyPlaced)
            }
            OrderCommand::ConfirmPayment(command) => order.confirm_payment(command),
            OrderCommand::CancelOrder(command) => order.cancel(command),
            OrderCommand::UpdateLogistics(command) => order.update_logistics(command),
            OrderCommand::ShipOrder(command) => order.ship(command),
            OrderCommand::ConfirmReceipt(command) => order.confirm_receipt(command),
            OrderCommand::RequestRefund(command) => order.request_refund(command),
            OrderCommand::RefundPaidAfterClose(command) => order.refund_paid_after_close(command),
            OrderCommand::CompleteRefund(command) => order.complete_refund(command),
        }
    }
}

fn place(command: PlaceOrder) -> Decision {
    if command.items.is_empty() {
        return Err(OrderError::NoItems);
    }
    if command.items.len() > ORDER_ITEMS_MAX {
        return Err(OrderError::TooManyItems {
            max: ORDER_ITEMS_MAX,
            got: command.items.len(),
        });
    }
    if command.payment_due_at <= command.placed_at {
        return Err(OrderError::PaymentDueNotAfterPlacement);
    }
    let mut skus: BTreeSet<&SkuId> = BTreeSet::new();
    let mut list_totals = Vec::with_capacity(command.items.len());
    for item in &command.items {
        if item.snapshot.seller != command.seller {
            return Err(OrderError::SellerMismatch {
                sku: item.snapshot.sku.clone(),
            });
        }
        if !skus.insert(&item.snapshot.sku) {
            return Err(OrderError::DuplicateSku {
                sku: item.snapshot.sku.clone(),
            });
        }
        let list_total = item
            .snapshot
            .unit_price
            .checked_mul(item.quantity.get())
            .ok_or(OrderError::Overflow)?;
        list_totals.push(list_total);
    }
    let list_total = Money::checked_sum(list_totals.iter().copied()).ok_or(OrderError::Overflow)?;
    let discount_exceeds = || OrderError::DiscountExceedsListTotal {
        discount: command.discount,
        list_total,
    };
    let total = list_total
        .checked_sub(command.discount)
        .ok_or_else(discount_exceeds)?;
    // The discount is spread by list total, so a refund of a line returns what was paid for
    // it, never its list price.
    let discounts = allocate(command.discount, &list_totals).map_err(|_| discount_exceeds())?;
    let mut items = Vec::with_capacity(command.items.len());
    for ((line, item), (list_total, discount)) in (0u32..)
        .zip(command.items)
        .zip(list_totals.into_iter().zip(discounts))
    {
        items.push(OrderItem {
            line,
            sku: item.snapshot.sku.clone(),
            quantity: item.quantity,
            snapshot: item.snapshot,
            list_total,
            discount,
            // An allocated part never exceeds its weight, so this cannot fail.
            paid_amount: list_total
                .checked_sub(discount)
                .ok_or(OrderError::Overflow)?,
        });
    }
    Ok(vec![OrderEvent::OrderPlaced(OrderPlaced {
        order_id: command.order_id,
        buyer: command.buyer,
        seller: command.seller,
        items,
        list_total,
        discount: command.discount,
        total,
        placed_at: command.placed_at,
        payment_due_at: command.payment_due_at,
        campaign: command.campaign,
    })])
}

impl OrderState {
    fn wrong_status(&self, command: &'static str) -> OrderError {
        OrderError::WrongStatus {
            command,
            status: self.status,
        }
    }

    /// A retry of the placement that created this order changes nothing; anything else with
    /// the same order id is a conflict.
    fn place_again(&self, command: &PlaceOrder) -> Decision {
        let same_items = self.items.len() == command.items.len()
            && self
                .items
                .iter()
                .zip(&command.items)
                .all(|(placed, asked)| {
                    placed.quantity == asked.quantity && placed.snapshot == asked.snapshot
                });
        let same = command.order_id == self.order_id
            && command.buyer == self.buyer
            && command.seller == self.seller
            && command.discount == self.discount
            && same_items;
        if same {
            Ok(vec![])
        } else {
            Err(OrderError::AlreadyPlacedWithDifferentContent)
        }
    }

    fn confirm_payment(&self, command: ConfirmPayment) -> Decision {
        let known_txn = self
            .payment
            .as_ref()
            .is_some_and(|p| p.txn_id == command.txn_id)
            || self
                .after_close_payments
                .iter()
                .any(|p| p.txn_id == command.txn_id);
        if known_txn {
            return Ok(vec![]);
        }
        match self.status {
            OrderStatus::PendingPayment if command.amount == self.total => {
                Ok(vec![OrderEvent::PaymentConfirmed(PaymentConfirmed {
                    txn_id: command.txn_id,
                    amount: command.amount,
                    at: command.at,
                })])
            }
            OrderStatus::PendingPayment => Err(OrderError::AmountMismatch {
                expected: self.total,
                got: command.amount,
            }),
            // The buyer's money arrived after the order closed, or a second time: record it
            // whatever the amount, so that it is refunded (the payment-refunds reaction).
            OrderStatus::Cancelled
            | OrderStatus::Paid
            | OrderStatus::Shipped
            | OrderStatus::Completed
            | OrderStatus::Refunding
            | OrderStatus::Refunded => Ok(vec![OrderEvent::PaidAfterClose(PaidAfterClose {
                txn_id: command.txn_id,
                amount: command.amount,
                at: command.at,
            })]),
        }
    }

    fn cancel(&self, command: CancelOrder) -> Decision {
        match self.status {
            OrderStatus::PendingPayment => Ok(vec![OrderEvent::OrderCancelled(OrderCancelled {
                reason: command.reason,
                at: command.at,
            })]),
            OrderStatus::Cancelled => Ok(vec![]),
            status => Err(OrderError::NotCancellable { status }),
        }
    }

    fn update_logistics(&self, command: UpdateLogistics) -> Decision {
        match self.status {
            OrderStatus::Paid | OrderStatus::Shipped => {
                if self.tracking_number.as_ref() == Some(&command.tracking_number) {
                    return Ok(vec![]);
                }
                Ok(vec![OrderEvent::LogisticsUpdated(LogisticsUpdated {
                    tracking_number: command.tracking_number,
                    at: command.at,
                })])
            }
            _ => Err(self.wrong_status("UpdateLogistics")),
        }
    }

    fn ship(&self, command: ShipOrder) -> Decision {
        match self.status {
            OrderStatus::Paid => {
                let tracking_number = command
                    .tracking_number
                    .or_else(|| self.tracking_number.clone())
                    .ok_or(OrderError::MissingTrackingNumber)?;
                Ok(vec![OrderEvent::OrderShipped(OrderShipped {
                    tracking_number,
                    at: command.at,
                })])
            }
            // A repeated ship changes nothing; a new number goes through `UpdateLogistics`.
            OrderStatus::Shipped
                if command.tracking_number.is_none()
                    || command.tracking_number == self.tracking_number =>
            {
                Ok(vec![])
            }
            _ => Err(self.wrong_status("ShipOrder")),
        }
    }

    fn confirm_receipt(&self, command: ConfirmReceipt) -> Decision {
        match self.status {
            OrderStatus::Shipped => Ok(vec![OrderEvent::OrderCompleted(OrderCompleted {
                at: command.at,
            })]),
            OrderStatus::Completed => Ok(vec![]),
            _ => Err(self.wrong_status("ConfirmReceipt")),
        }
    }

    fn request_refund(&self, command: RequestRefund) -> Decision {
        if let Some(existing) = self
            .refunds
            .iter()
            .find(|r| r.refund_id == command.refund_id)
        {
            let same = existing.kind == RefundKind::Items
                && existing.lines.len() == command.items.len()
                && existing
                    .lines
                    .iter()
                    .zip(&command.items)
                    .all(|(line, item)| line.line == item.line && line.quantity == item.quantity);
            return if same {
                Ok(vec![])
            } else {
                Err(OrderError::RefundIdReused {
                    refund_id: command.refund_id,
                })
            };
        }
        let txn_id = match (self.status, &self.payment) {
            (
                OrderStatus::Paid
                | OrderStatus::Shipped
                | OrderStatus::Completed
                | OrderStatus::Refunding,
                Some(payment),
            ) => payment.txn_id.clone(),
            _ => return Err(self.wrong_status("RequestRefund")),
        };
        if command.items.is_empty() {
            return Err(OrderError::NoRefundItems);
        }
        let mut lines_seen = BTreeSet::new();
        let mut lines = Vec::with_capacity(command.items.len());
        for RefundItem { line, quantity } in command.items {
            if !lines_seen.insert(line) {
                return Err(OrderError::DuplicateRefundLine { line });
            }
            let item = self
                .items
                .iter()
                .find(|item| item.line == line)
                .ok_or(OrderError::UnknownLine { line })?;
            // Units in an open refund are spoken for too, so two concurrent refunds cannot
            // return the same unit twice.
            let taken = self.units_refunded(line, true);
            let remaining = item.quantity.get().saturating_sub(taken);
            let amount = refund_share(item.paid_amount, item.quantity, taken, quantity.get())
                .ok_or(OrderError::RefundExceedsQuantity {
                    line,
                    remaining,
                    requested: quantity.get(),
                })?;
            lines.push(RefundLine {
                line,
                quantity,
                amount,
            });
        }
        let amount =
            Money::checked_sum(lines.iter().map(|l| l.amount)).ok_or(OrderError::Overflow)?;
        Ok(vec![OrderEvent::RefundRequested(RefundRequested {
            refund_id: command.refund_id,
            kind: RefundKind::Items,
            txn_id,
            lines,
            amount,
            at: command.at,
        })])
    }

    fn refund_paid_after_close(&self, command: RefundPaidAfterClose) -> Decision {
        if let Some(existing) = self
            .refunds
            .iter()
            .find(|r| r.refund_id == command.refund_id)
        {
            return if existing.kind == RefundKind::PaidAfterClose
                && existing.txn_id == command.txn_id
            {
                Ok(vec![])
            } else {
                Err(OrderError::RefundIdReused {
                    refund_id: command.refund_id,
                })
            };
        }
        let payment = self
            .after_close_payments
            .iter()
            .find(|p| p.txn_id == command.txn_id)
            .ok_or_else(|| OrderError::UnknownPaymentAfterClose {
                txn_id: command.txn_id.clone(),
            })?;
        if payment.refund_id.is_some() {
            return Err(OrderError::PaymentAfterCloseAlreadyRefunded {
                txn_id: command.txn_id,
            });
        }
        Ok(vec![OrderEvent::RefundRequested(RefundRequested {
            refund_id: command.refund_id,
            kind: RefundKind::PaidAfterClose,
            txn_id: command.txn_id,
            lines: Vec::new(),
            amount: payment.amount,
            at: command.at,
        })])
    }

    fn complete_refund(&self, command: CompleteRefund) -> Decision {
        let refund = self
            .refunds
            .iter()
            .find(|r| r.refund_id == command.refund_id)
            .ok_or_else(|| OrderError::UnknownRefund {
                refund_id: command.refund_id.clone(),
            })?;
        if !refund.is_open() {
            return Ok(vec![]);
        }
        Ok(vec![OrderEvent::RefundCompleted(RefundCompleted {
            refund_id: command.refund_id,
            amount: refund.amount,
            at: command.at,
        })])
    }
}
