//! The store's time index: every stored event carries a `timeBucket` attribute (its hour
//! and a shard of its stream), the key of a `byTime` index sorted by `occurredAt`. Reading
//! the events of the last minutes is then a few queries whose cost follows those minutes'
//! events, not the size of the store.
//!
//! Why shards: an index partition takes about 1,000 writes a second, and every event of an
//! hour would otherwise land in one. [`TIME_SHARDS`] partitions take 16,000 events a
//! second, above the ~11,000 the stack's other quotas let through (docs/capacity.md).
//!
//! `timeBucket` is a storage attribute, not part of the envelope: read stored items with
//! [`envelope_from_item`], which drops it.

#[cfg(feature = "dynamodb")]
use crate::envelope::EventEnvelope;
use crate::envelope::StreamId;
use chrono::{DateTime, Duration, DurationRound, Utc};

/// The index's name in the template.
pub const TIME_INDEX: &str = "byTime";
/// The index's partition key: `<hour>#<shard>`, as `2026-12-01T09#7`.
pub const TIME_BUCKET: &str = "timeBucket";
/// Shards per hour.
pub const TIME_SHARDS: u32 = 16;

/// The bucket an event is indexed under.
pub fn time_bucket(stream_id: &StreamId, occurred_at: DateTime<Utc>) -> String {
    bucket(occurred_at, shard_of(stream_id))
}

/// Every bucket holding events that occurred from `since` to `until`, newest hour first.
pub fn buckets_between(since: DateTime<Utc>, until: DateTime<Utc>) -> Vec<Vec<String>> {
    let Ok(mut hour) = until.duration_trunc(Duration::hours(1)) else { return Vec::new() };
    let mut hours = Vec::new();
    // Bounded: a window of more than a year is read as its newest year.
    while hour + Duration::hours(1) > since && hours.len() < 24 * 366 {
        hours.push((0..TIME_SHARDS).map(|shard| bucket(hour, shard)).collect());
        hour -= Duration::hours(1);
    }
    hours
}

/// The sort key's lower bound for events from `since` on. Stored times are RFC 3339 with
/// as many fraction digits as needed (`...:05Z`, `...:05.25Z`); the bound stops at the
/// seconds, so as a prefix it sorts before every event of that second.
pub fn occurred_since(since: DateTime<Utc>) -> String {
    since.format("%Y-%m-%dT%H:%M:%S").to_string()
}

fn bucket(at: DateTime<Utc>, shard: u32) -> String {
    format!("{}#{shard}", at.format("%Y-%m-%dT%H"))
}

/// FNV-1a of the stream id: stable across builds and platforms, unlike std's hasher.
fn shard_of(stream_id: &StreamId) -> u32 {
    let hash = stream_id
        .as_str()
        .bytes()
        .fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193));
    hash % TIME_SHARDS
}

/// The stored payload: the envelope's payload as its JSON text. The store never looks
/// inside a payload, and one string costs DynamoDB (and an emulator: MiniStack sizes and
/// encodes every nested attribute of every item it reads, writes and streams) far less than
/// a tree of typed attributes; the text also keeps each number exactly as written. Items
/// stored before it carry `payload` as a map, which reads the same.
pub const PAYLOAD_JSON: &str = "payloadJson";

/// The envelope of a stored item (a table item or a stream image), its storage attributes
/// dropped.
#[cfg(feature = "dynamodb")]
pub fn envelope_from_item(item: impl Into<serde_dynamo::Item>) -> Result<EventEnvelope, serde_dynamo::Error> {
    use serde::de::Error as _;
    let mut item = item.into();
    item.remove(TIME_BUCKET);
    let Some(stored) = item.remove(PAYLOAD_JSON) else {
        return serde_dynamo::from_item(item);
    };
    let serde_dynamo::AttributeValue::S(text) = stored else {
        return Err(serde_dynamo::Error::custom(format!("{PAYLOAD_JSON} is not a string")));
    };
    item.insert("payload".to_string(), serde_dynamo::AttributeValue::Null(true));
    let mut envelope: EventEnvelope = serde_dynamo::from_item(item)?;
    envelope.payload = serde_json::from_str(&text)
        .map_err(|e| serde_dynamo::Error::custom(format!("{PAYLOAD_JSON} is not JSON: {e}")))?;
    Ok(envelope)
}

/// The item an envelope is stored as: the envelope's fields, its payload as
/// [`PAYLOAD_JSON`], and its [`TIME_BUCKET`].
#[cfg(feature = "dynamodb")]
pub fn item_of<I: From<serde_dynamo::Item>>(envelope: &EventEnvelope) -> Result<I, serde_dynamo::Error> {
    use serde::ser::Error as _;
    let mut item: serde_dynamo::Item = serde_dynamo::to_item(envelope)?;
    item.remove("payload");
    let payload = serde_json::to_string(&envelope.payload).map_err(serde_dynamo::Error::custom)?;
    item.insert(PAYLOAD_JSON.to_string(), serde_dynamo::AttributeValue::S(payload));
    item.insert(
        TIME_BUCKET.to_string(),
        serde_dynamo::AttributeValue::S(time_bucket(&envelope.stream_id, envelope.occurred_at)),
    );
    Ok(I::from(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    #[test]
    fn a_stream_keeps_its_shard_and_streams_spread_over_all_of_them() {
        let stream = StreamId::new("order-1");
        assert_eq!(time_bucket(&stream, at("2026-12-01T09:59:59Z")), time_bucket(&stream, at("2026-12-01T09:00:00Z")));
        let shards: std::collections::BTreeSet<u32> =
            (0..1000).map(|i| shard_of(&StreamId::new(format!("order-{i}")))).collect();
        assert_eq!(shards.len(), TIME_SHARDS as usize);
        // Pinned: a stored bucket must stay findable after an upgrade.
        assert_eq!(shard_of(&StreamId::new("order-1")), 13);
    }

    #[test]
    fn a_window_reads_every_shard_of_every_hour_it_touches() {
        let hours = buckets_between(at("2026-12-01T08:55:00Z"), at("2026-12-01T10:05:00Z"));
        assert_eq!(hours.len(), 3);
        assert_eq!(hours[0][0], "2026-12-01T10#0");
        assert_eq!(hours[2][15], "2026-12-01T08#15");
        assert_eq!(buckets_between(at("2026-12-01T10:00:00Z"), at("2026-12-01T10:05:00Z")).len(), 1);
    }

    #[test]
    fn the_lower_bound_sorts_before_every_event_of_its_second() {
        let bound = occurred_since(at("2026-12-01T10:00:05.75Z"));
        for stored in ["2026-12-01T10:00:05Z", "2026-12-01T10:00:05.25Z", "2026-12-01T10:00:06Z"] {
            assert!(bound.as_str() <= stored, "{bound} <= {stored}");
        }
        assert!(bound.as_str() > "2026-12-01T10:00:04.999Z");
    }

    #[cfg(feature = "dynamodb")]
    #[test]
    fn a_stored_item_reads_back_as_the_envelope_it_was() {
        let envelope: EventEnvelope =
            serde_json::from_str(include_str!("../../../../events/domain/order-placed.json")).unwrap();
        let item: serde_dynamo::Item = item_of(&envelope).unwrap();
        assert!(item.contains_key(TIME_BUCKET));
        assert!(!item.contains_key("payload"), "the payload is stored as its text");
        assert!(serde_dynamo::from_item::<_, EventEnvelope>(item.clone()).is_err(), "the envelope refuses extras");
        assert_eq!(envelope_from_item(item).unwrap(), envelope);
    }

    #[test]
    fn an_item_stored_with_its_payload_as_a_map_reads_the_same() {
        let envelope: EventEnvelope =
            serde_json::from_str(include_str!("../../../../events/domain/order-placed.json")).unwrap();
        let older: serde_dynamo::Item = serde_dynamo::to_item(&envelope).unwrap();
        assert!(older.contains_key("payload"));
        assert_eq!(envelope_from_item(older).unwrap(), envelope);
    }

    #[test]
    fn a_stored_payload_that_is_not_json_text_is_named() {
        let envelope: EventEnvelope =
            serde_json::from_str(include_str!("../../../../events/domain/order-placed.json")).unwrap();
        let mut item: serde_dynamo::Item = item_of(&envelope).unwrap();
        item.insert(PAYLOAD_JSON.into(), serde_dynamo::AttributeValue::S("{not json".into()));
        assert!(envelope_from_item(item.clone()).unwrap_err().to_string().contains("payloadJson is not JSON"));
        item.insert(PAYLOAD_JSON.into(), serde_dynamo::AttributeValue::N("1".into()));
        assert!(envelope_from_item(item).unwrap_err().to_string().contains("payloadJson is not a string"));
    }
}
