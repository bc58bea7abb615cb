//! Item sizes and request units, computed the way DynamoDB bills them (moto's own
//! ConsumedCapacity figures are placeholders).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// DynamoDB refuses items larger than this.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

/// The billed size of an item: attribute names plus values.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        // Lists and maps: 3 bytes, plus each element and 1 byte per element.
        AttributeValue::L(items) => 3 + items.iter().map(|i| value_size(i) + 1).sum::<usize>(),
        AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| k.len() + value_size(v) + 1).sum::<usize>(),
        _ => 0,
    }
}

/// Numbers: about one byte per two significant digits, plus one.
fn number_size(n: &str) -> usize {
    let digits = n
        .trim_start_matches('-')
        .trim_start_matches('0')
        .replace('.', "")
        .trim_end_matches('0')
        .len();
    digits.div_ceil(2) + 1
}

/// Write request units of writing an item of `bytes` (1 KB each, rounded up).
pub fn write_units(bytes: usize) -> u64 {
    (bytes.max(1) as u64).div_ceil(1024)
}

/// Read request units of a strongly consistent read of `bytes` (4 KB each, rounded up).
pub fn read_units(bytes: usize) -> f64 {
    (bytes.max(1) as u64).div_ceil(4096) as f64
}

/// Write units of putting an item: the table write plus one write to each index the item
/// appears in (indexes project every attribute). Transactional writes cost twice this.
pub fn put_cost(item: &HashMap<String, AttributeValue>) -> u64 {
    let units = write_units(item_size(item));
    let indexes = ["GSI1PK", "GSI2PK", "GSI3PK"]
        .iter()
        .filter(|k| item.contains_key(**k))
        .count() as u64;
    units * (1 + indexes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item = HashMap::from([
            ("PK".to_string(), AttributeValue::S("CONTACT#1".into())),
            ("n".to_string(), AttributeValue::N("12345".into())),
            ("l".to_string(), AttributeValue::L(vec![AttributeValue::Bool(true)])),
        ]);
        // PK(2)+9, n(1)+4, l(1)+3+1+1
        assert_eq!(item_size(&item), 11 + 5 + 6);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(read_units(4097), 2.0);
    }
}
