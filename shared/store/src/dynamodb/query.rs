//! Queries of the table or an index, built up and paged by the store.

use super::*;

/// A query of the table or an index, paged by the store.
pub(super) struct Query {
    pub(super) index: Option<&'static str>,
    pub(super) key_condition: String,
    pub(super) filter: Option<String>,
    pub(super) names: HashMap<String, String>,
    pub(super) values: HashMap<String, AttributeValue>,
    /// The partition key value, checked against a cursor so a foreign cursor is refused.
    pub(super) partition: String,
}

impl Query {
    pub(super) fn on(index: Option<&'static str>, partition: String) -> Self {
        let pk_attr = match index {
            None => "PK",
            Some(i) => table::TABLE
                .indexes
                .iter()
                .find(|x| x.name == i)
                .map_or("PK", |x| x.partition_key),
        };
        Self {
            index,
            key_condition: "#pk = :pk".into(),
            filter: None,
            names: HashMap::from([("#pk".to_string(), pk_attr.to_string())]),
            values: HashMap::from([(":pk".to_string(), s(partition.clone()))]),
            partition,
        }
    }

    pub(super) fn sort_attr(&self) -> &'static str {
        match self.index {
            None => "SK",
            Some(i) => table::TABLE
                .indexes
                .iter()
                .find(|x| x.name == i)
                .map_or("SK", |x| x.sort_key),
        }
    }

    /// `from <= sort < to` on the sort key, by prefix.
    pub(super) fn sort_range(mut self, from: Option<String>, to: Option<String>) -> Self {
        let sk = self.sort_attr();
        if from.is_some() || to.is_some() {
            self.names.insert("#sk".into(), sk.into());
        }
        let cond = match (from, to) {
            (Some(f), Some(t)) => {
                self.values.insert(":from".into(), s(f));
                self.values.insert(":to".into(), s(t));
                // Sort keys are `instant#id`: nothing equals `:to` itself, so BETWEEN excludes it.
                " AND #sk BETWEEN :from AND :to"
            }
            (Some(f), None) => {
                self.values.insert(":from".into(), s(f));
                " AND #sk >= :from"
            }
            (None, Some(t)) => {
                self.values.insert(":to".into(), s(t));
                " AND #sk < :to"
            }
            (None, None) => return self,
        };
        self.key_condition.push_str(cond);
        self
    }

    pub(super) fn begins_with(mut self, prefix: &str) -> Self {
        let sk = self.sort_attr();
        self.names.insert("#sk".into(), sk.into());
        self.values.insert(":prefix".into(), s(prefix));
        self.key_condition.push_str(" AND begins_with(#sk, :prefix)");
        self
    }

    /// Keep only items whose `data.<field>` equals `value`.
    pub(super) fn filter_eq(self, field: &str, value: &str) -> Self {
        self.filter_in(field, &[value])
    }

    /// Keep only items whose `data.<field>` is one of `values`.
    pub(super) fn filter_in(mut self, field: &str, values: &[&str]) -> Self {
        let n = self.values.len();
        let name = format!("#f{n}");
        self.names.insert("#data".into(), "data".into());
        self.names.insert(name.clone(), field.into());
        let mut placeholders = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let val = format!(":f{n}_{i}");
            self.values.insert(val.clone(), s(*value));
            placeholders.push(val);
        }
        let cond = match placeholders.as_slice() {
            [one] => format!("#data.{name} = {one}"),
            many => format!("#data.{name} IN ({})", many.join(", ")),
        };
        self.filter = Some(match self.filter.take() {
            Some(f) => format!("{f} AND {cond}"),
            None => cond,
        });
        self
    }

    /// The attributes that make up this query's LastEvaluatedKey.
    pub(super) fn key_attrs(&self) -> Vec<&'static str> {
        let mut attrs = vec!["PK", "SK"];
        if let Some(i) = self
            .index
            .and_then(|i| table::TABLE.indexes.iter().find(|x| x.name == i))
        {
            attrs.push(i.partition_key);
            attrs.push(i.sort_key);
        }
        attrs
    }
}
