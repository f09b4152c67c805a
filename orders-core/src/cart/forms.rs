//! The cart commands as submitted: a new cart, an item to add, a line's
//! new quantity, a discount code. Each is a [`Form`], validated here with
//! every bad field at once, so no adapter keeps a rule or a message of its
//! own.

use serde::Deserialize;

use super::Quantity;
use crate::checkout::REQUIRED;
use crate::discount::DiscountCode;
use crate::form::{Description, Field, Form};
use crate::ids::{ID_PATTERN, MAX_ID_CHARS, ProductId};
use crate::money::{CURRENCY_CODES, Currency};
use crate::validation::ValidationErrors;

/// The message for a code that is no discount's.
pub(crate) const UNKNOWN_CODE: &str = "unknown discount code";

/// The message for a quantity out of range.
fn quantity_range(min: u32) -> String {
    format!("must be between {min} and {}", Quantity::MAX)
}

/// A new cart (`POST /carts`): its currency, or the store's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CreateCartForm {
    /// ISO 4217; default: the store's currency.
    pub currency: Option<String>,
}

impl Form for CreateCartForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "CreateCart",
        doc: "A new cart (`POST /carts`).",
        fields: &[Field::text(
            "currency",
            "ISO 4217, one the shop sells in; default: the store's currency.",
        )
        .one_of(&CURRENCY_CODES)
        .example("USD")],
    };
}

impl CreateCartForm {
    /// The currency asked for; `None` for the store's. Whether the shop
    /// sells in it is the engine's to say.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `currency`.
    pub fn validate(self) -> Result<Option<Currency>, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let currency = self
            .currency
            .and_then(|code| errors.check("currency", Currency::parse(&code)));
        errors.into_result(currency)
    }
}

/// An item to add to a cart (`POST /carts/{id}/items`).
///
/// ```
/// use orders_core::cart::AddItemForm;
///
/// let (product, quantity) = AddItemForm { product_id: Some("p1".into()), quantity: Some(2) }
///     .validate()
///     .unwrap();
/// assert_eq!((product.as_str(), quantity.get()), ("p1", 2));
/// let errors = AddItemForm::default().validate().unwrap_err();
/// assert_eq!(errors.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct AddItemForm {
    /// The product. Required.
    pub product_id: Option<String>,
    /// 1 to 999, added to the line if the product is already in the cart.
    /// Required.
    pub quantity: Option<i64>,
}

/// `quantity`, from `min` to [`Quantity::MAX`].
const fn quantity_field(min: i64, doc: &'static str) -> Field {
    Field::integer("quantity", doc, Some(min), Some(Quantity::MAX as i64)).required()
}

impl Form for AddItemForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "AddItem",
        doc: "A product to add to the cart (`POST /carts/{id}/items`).",
        fields: &[
            Field::text("product_id", "An active product of the cart's currency.")
                .required()
                .chars(1, MAX_ID_CHARS)
                .pattern(ID_PATTERN),
            quantity_field(
                Quantity::MIN as i64,
                "Added to the line if the product is already in the cart.",
            ),
        ],
    };
}

impl AddItemForm {
    /// The product and quantity. Whether the product exists and is on sale
    /// is the engine's to say.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `product_id` and `quantity`.
    pub fn validate(self) -> Result<(ProductId, Quantity), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let product = match self.product_id {
            Some(id) => errors.check(
                "product_id",
                ProductId::parse(&id).map_err(|_| "unknown or unavailable product"),
            ),
            None => {
                errors.add("product_id", REQUIRED);
                None
            }
        };
        let quantity = match self.quantity {
            Some(n) => errors.check(
                "quantity",
                Quantity::from_i64(n).map_err(|_| quantity_range(Quantity::MIN)),
            ),
            None => {
                errors.add("quantity", REQUIRED);
                None
            }
        };
        match (product, quantity) {
            (Some(product), Some(quantity)) if errors.is_empty() => Ok((product, quantity)),
            _ => Err(errors),
        }
    }
}

/// A line's new quantity (`PATCH /carts/{id}/items/{product_id}`): 0
/// removes the line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct SetQuantityForm {
    /// 0 to 999. Required.
    pub quantity: Option<i64>,
}

impl Form for SetQuantityForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "SetQuantity",
        doc: "A line's new quantity (`PATCH /carts/{id}/items/{product_id}`).",
        fields: &[quantity_field(0, "0 removes the line.")],
    };
}

impl SetQuantityForm {
    /// The quantity, 0 to 999.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `quantity`.
    pub fn validate(self) -> Result<u32, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let quantity = match self.quantity {
            Some(n) => errors.check(
                "quantity",
                u32::try_from(n)
                    .ok()
                    .filter(|n| *n <= Quantity::MAX)
                    .ok_or_else(|| quantity_range(0)),
            ),
            None => {
                errors.add("quantity", REQUIRED);
                None
            }
        };
        match quantity {
            Some(quantity) => Ok(quantity),
            None => Err(errors),
        }
    }
}

/// A discount code for a cart (`POST /carts/{id}/discount`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct ApplyDiscountForm {
    /// The code, any case. Required.
    pub code: Option<String>,
}

impl Form for ApplyDiscountForm {
    const DESCRIPTION: &'static Description = &Description {
        name: "ApplyDiscount",
        doc: "A discount code for the cart (`POST /carts/{id}/discount`).",
        fields: &[Field::text(
            "code",
            "An existing code, not expired, with uses left, whose minimum the cart meets.",
        )
        .required()
        .chars(1, DiscountCode::MAX_CHARS)
        .pattern(DiscountCode::PATTERN)
        .example("WELCOME10")],
    };
}

impl ApplyDiscountForm {
    /// The code. Whether it exists and applies is the engine's to say; a
    /// code that cannot exist is already unknown.
    ///
    /// # Errors
    /// [`ValidationErrors`] on `code`.
    pub fn validate(self) -> Result<DiscountCode, ValidationErrors> {
        match self.code.filter(|code| !code.trim().is_empty()) {
            Some(code) => DiscountCode::parse(&code)
                .map_err(|_| ValidationErrors::single("code", UNKNOWN_CODE)),
            None => Err(ValidationErrors::single("code", REQUIRED)),
        }
    }
}
