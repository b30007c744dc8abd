//! An order's row as the detail view stores it, built once and written in the two forms the
//! writes take: the JSON array the upsert statement reads, and PostgreSQL's binary COPY.

use domain::Order;
use serde::Serialize;

use crate::document::{OrderDocument, micros};
use crate::error::ProjectionError;

/// One order's row in the detail view, which the buyer's and the seller's lists index (ADR 13).
#[derive(Debug)]
pub(crate) struct OrderRow {
    pub(crate) order_id: String,
    pub(crate) buyer_id: String,
    pub(crate) seller_id: String,
    pub(crate) status: String,
    pub(crate) placed_at_us: i64,
    pub(crate) version: i64,
    /// The hash of the order's document, which is not stored: it is derived from the state
    /// on read (ADR 13).
    pub(crate) content_hash: String,
    /// The JSON of the order's snapshot (`domain::OrderSnapshot`), which the next event
    /// applies to.
    pub(crate) state: String,
    /// When the order last changed (its last event's time), in microseconds since the epoch.
    pub(crate) changed_at_us: i64,
}

/// JSON of a few kilobytes, written without growing its buffer many times.
fn to_json(value: &impl Serialize) -> Result<String, ProjectionError> {
    let mut bytes = Vec::with_capacity(2048);
    serde_json::to_writer(&mut bytes, value)?;
    // serde_json writes UTF-8 only
    String::from_utf8(bytes).map_err(|e| ProjectionError::Corrupt(e.to_string()))
}

impl OrderRow {
    /// The row of `order` at `version`; `None` while it has no document (never placed).
    pub(crate) fn of(
        order: &Order,
        version: u64,
        changed_at_us: i64,
    ) -> Result<Option<Self>, ProjectionError> {
        let Some(doc) = OrderDocument::of(order, version) else {
            return Ok(None);
        };
        let content_hash = doc.content_hash();
        Ok(Some(Self {
            version: i64::try_from(version)
                .map_err(|_| ProjectionError::Corrupt(format!("version {version}")))?,
            placed_at_us: micros(doc.placed_at),
            order_id: doc.order_id,
            buyer_id: doc.buyer_id,
            seller_id: doc.seller_id,
            status: doc.status,
            content_hash,
            state: to_json(&order.snapshot())?,
            changed_at_us,
        }))
    }

    /// The JSON array of detail rows the detail upsert reads.
    pub(crate) fn detail_json(rows: &[Self]) -> Result<String, ProjectionError> {
        let mut out = Vec::with_capacity(rows.iter().map(Self::copy_len).sum());
        out.push(b'[');
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"order_id\":");
            serde_json::to_writer(&mut out, &row.order_id)?;
            for (name, text) in [
                ("buyer_id", &row.buyer_id),
                ("seller_id", &row.seller_id),
                ("status", &row.status),
                ("content_hash", &row.content_hash),
            ] {
                out.extend_from_slice(format!(",\"{name}\":").as_bytes());
                serde_json::to_writer(&mut out, text)?;
            }
            out.extend_from_slice(
                format!(
                    ",\"placed_at_us\":{},\"version\":{},\"changed_at_us\":{}",
                    row.placed_at_us, row.version, row.changed_at_us
                )
                .as_bytes(),
            );
            // the state is JSON already
            out.extend_from_slice(b",\"state\":");
            out.extend_from_slice(row.state.as_bytes());
            out.push(b'}');
        }
        out.push(b']');
        String::from_utf8(out).map_err(|e| ProjectionError::Corrupt(e.to_string()))
    }

    /// Appends the row as one tuple of COPY's binary format, in [`OrderRow::COPY_COLUMNS`]'
    /// order: each field its length and its bytes, nothing to escape on either side.
    pub(crate) fn copy_tuple(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&Self::COPY_FIELDS.to_be_bytes());
        for text in [
            &self.order_id,
            &self.buyer_id,
            &self.seller_id,
            &self.status,
        ] {
            copy_field(out, text.as_bytes());
        }
        copy_field(out, &self.placed_at_us.to_be_bytes());
        copy_field(out, &self.version.to_be_bytes());
        copy_field(out, self.content_hash.as_bytes());
        copy_field(out, self.state.as_bytes());
        copy_field(out, &self.changed_at_us.to_be_bytes());
    }

    /// About the length of the row's JSON or COPY tuple.
    pub(crate) fn copy_len(&self) -> usize {
        self.state.len() + 200
    }

    /// The detail view's columns, in the order of [`OrderRow::copy_tuple`].
    pub(crate) const COPY_COLUMNS: &'static str = "order_id, buyer_id, seller_id, status, \
        placed_at_us, version, content_hash, state, changed_at_us";
    const COPY_FIELDS: i16 = 9;
}

/// The start of COPY's binary format: its signature, no flags, no header extension.
pub(crate) const COPY_BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The end of COPY's binary format.
pub(crate) const COPY_BINARY_TRAILER: &[u8] = &(-1i16).to_be_bytes();

/// A field of COPY's binary format: its length, then its bytes (text as its UTF-8, a bigint as
/// eight bytes, big-endian).
fn copy_field(out: &mut Vec<u8>, bytes: &[u8]) {
    // a field is a column of one row: far below 2 GiB
    let len = i32::try_from(bytes.len()).unwrap_or(i32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str) -> OrderRow {
        OrderRow {
            order_id: id.to_owned(),
            buyer_id: "b \"quoted\"".to_owned(),
            seller_id: "s\\1".to_owned(),
            status: "Paid".to_owned(),
            placed_at_us: -5,
            version: 2,
            content_hash: "ab".to_owned(),
            state: r#"{"status":"Paid","note":"tab\there"}"#.to_owned(),
            changed_at_us: 7,
        }
    }

    #[test]
    fn the_json_array_is_the_rows_as_json() {
        let rows = [row("1"), row("2")];
        let details: serde_json::Value =
            serde_json::from_str(&OrderRow::detail_json(&rows).unwrap()).unwrap();
        assert_eq!(
            details[1],
            serde_json::json!({
                "order_id": "2",
                "buyer_id": "b \"quoted\"",
                "seller_id": "s\\1",
                "status": "Paid",
                "content_hash": "ab",
                "placed_at_us": -5,
                "version": 2,
                "changed_at_us": 7,
                "state": {"status": "Paid", "note": "tab\there"},
            })
        );
        assert_eq!(OrderRow::detail_json(&[]).unwrap(), "[]");
    }

    #[test]
    fn a_copy_tuple_is_every_column_as_its_length_and_bytes() {
        let mut tuple = Vec::new();
        row("1").copy_tuple(&mut tuple);
        let mut expected: Vec<u8> = vec![0, 9];
        let state = r#"{"status":"Paid","note":"tab\there"}"#;
        for text in ["1", "b \"quoted\"", "s\\1", "Paid"] {
            expected.extend((text.len() as i32).to_be_bytes());
            expected.extend(text.as_bytes());
        }
        for (number, text) in [(-5i64, None), (2, None), (0, Some("ab")), (0, Some(state))] {
            match text {
                None => {
                    expected.extend(8i32.to_be_bytes());
                    expected.extend(number.to_be_bytes());
                }
                Some(text) => {
                    expected.extend((text.len() as i32).to_be_bytes());
                    expected.extend(text.as_bytes());
                }
            }
        }
        expected.extend(8i32.to_be_bytes());
        expected.extend(7i64.to_be_bytes());
        assert_eq!(tuple, expected);
        assert_eq!(
            OrderRow::COPY_COLUMNS.split(", ").count(),
            usize::try_from(OrderRow::COPY_FIELDS).unwrap()
        );
        assert_eq!(COPY_BINARY_HEADER.len(), 19);
    }
}
