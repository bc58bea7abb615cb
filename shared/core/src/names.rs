//! The names of the core's enums as the API, the stores and the CSVs spell them, written
//! once per enum: [`named_enum!`] gives `as_str`, `Display`, `FromStr` and `ALL` from one
//! list, where each enum had a hand-written `parse`/`as_str` pair that could drift apart.

/// A name that is none of an enum's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a {kind}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub name: String,
}

/// `named_enum!(Type { Variant => "name", … })`: `Type::ALL`, `as_str`, `Display` and
/// `FromStr` (the exact name, as `serde` reads it) from one list.
#[macro_export]
macro_rules! named_enum {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in order.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name as the API spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::names::UnknownName;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err($crate::names::UnknownName {
                        kind: stringify!($ty),
                        name: s.to_string(),
                    }),
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use crate::campaign::CampaignStatus;
    use crate::reminder::DeliveryStatus;

    #[test]
    fn every_name_reads_back_as_its_variant_and_as_serde_writes_it() {
        for status in DeliveryStatus::ALL {
            assert_eq!(status.as_str().parse::<DeliveryStatus>(), Ok(*status));
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::Value::from(status.to_string())
            );
        }
        for status in CampaignStatus::ALL {
            assert_eq!(status.to_string().parse::<CampaignStatus>(), Ok(*status));
        }
        let err = "sending".parse::<DeliveryStatus>().unwrap_err();
        assert_eq!(err.to_string(), "\"sending\" is not a DeliveryStatus");
    }
}
