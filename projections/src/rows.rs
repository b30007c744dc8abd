//! An order's row as the detail view stores it, built once and written in the two forms the
//! writes take: the JSON array the upsert statement reads, and PostgreSQL's COPY text.

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
    /// The JSON of the Order aggregate the next event applies to.
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
            state: to_json(order)?,
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

    /// Appends the row as one line of COPY text in [`OrderRow::COPY_COLUMNS`]' order.
    pub(crate) fn copy_line(&self, out: &mut String) {
        use std::fmt::Write as _;
        for text in [
            &self.order_id,
            &self.buyer_id,
            &self.seller_id,
            &self.status,
        ] {
            copy_text(out, text);
            out.push('\t');
        }
        // writing to a String cannot fail
        let _ = write!(out, "{}\t{}\t", self.placed_at_us, self.version);
        copy_text(out, &self.content_hash);
        out.push('\t');
        copy_text(out, &self.state);
        let _ = writeln!(out, "\t{}", self.changed_at_us);
    }

    /// About the length of the row's COPY line (escapes aside).
    pub(crate) fn copy_len(&self) -> usize {
        self.state.len() + 200
    }

    /// The detail view's columns, in the order of [`OrderRow::copy_line`].
    pub(crate) const COPY_COLUMNS: &'static str = "order_id, buyer_id, seller_id, status, \
        placed_at_us, version, content_hash, state, changed_at_us";
}

/// `text` as a field of COPY's text format: backslash, tab, newline and carriage return are
/// escaped. Compact JSON has backslashes in its own escapes and never a raw tab, newline or
/// carriage return, so the usual case is a vectorised search for backslashes alone.
fn copy_text(out: &mut String, text: &str) {
    let bytes = text.as_bytes();
    let mut copied = 0;
    if memchr::memchr3(b'\t', b'\n', b'\r', bytes).is_none() {
        for at in memchr::memchr_iter(b'\\', bytes) {
            out.push_str(&text[copied..at]);
            out.push_str("\\\\");
            copied = at + 1;
        }
    } else {
        for (at, byte) in bytes.iter().enumerate() {
            let escaped = match byte {
                b'\\' => "\\\\",
                b'\t' => "\\t",
                b'\n' => "\\n",
                b'\r' => "\\r",
                _ => continue,
            };
            out.push_str(&text[copied..at]);
            out.push_str(escaped);
            copied = at + 1;
        }
    }
    out.push_str(&text[copied..]);
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
    fn a_copy_line_has_every_column_escaped() {
        let mut line = String::new();
        row("1").copy_line(&mut line);
        assert_eq!(
            line,
            "1\tb \"quoted\"\ts\\\\1\tPaid\t-5\t2\tab\t{\"status\":\"Paid\",\"note\":\"tab\\\\there\"}\t7\n"
        );
        assert_eq!(
            OrderRow::COPY_COLUMNS.split(", ").count(),
            line.split('\t').count()
        );
    }

    #[test]
    fn copy_text_escapes_what_copy_reads_as_syntax() {
        let mut out = String::new();
        copy_text(&mut out, "a\\\"b\"\tc\nd\re");
        assert_eq!(out, "a\\\\\"b\"\\tc\\nd\\re");
        // backslashes alone (the JSON case), at either end too
        for (text, escaped) in [
            ("\\\"é\\", "\\\\\"é\\\\"),
            ("{\"a\":\"b\"}", "{\"a\":\"b\"}"),
            ("", ""),
        ] {
            let mut out = String::new();
            copy_text(&mut out, text);
            assert_eq!(out, escaped, "{text}");
        }
    }
}
