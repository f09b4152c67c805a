//! Schemas of the guest routes: a cart with its token, an order with its
//! token, and a claimed cart with its merge warnings.

use utoipa::ToSchema;

#[allow(unused_imports)] // `Cart` for the docs' links.
use super::{Cart, CartStatus, Line, Totals};

/// A new cart. A guest's (made without credentials) carries `cart_token`,
/// shown this once: send it as `X-Cart-Token` on every call for the cart.
/// (The fields of [`Cart`], and the token.)
#[derive(ToSchema)]
pub(crate) struct NewCart {
    id: String,
    currency: String,
    lines: Vec<Line>,
    discount_code: Option<String>,
    #[serde(flatten)]
    totals: Totals,
    status: CartStatus,
    version: u64,
    /// Only for a guest cart: at least 128 random bits, base64url.
    cart_token: Option<String>,
}

/// Why a guest line did not merge whole.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum MergeWarningReason {
    /// The line would pass 999: capped at 999.
    Capped,
    /// The product is no longer sold: nothing added.
    Unavailable,
    /// The customer's cart holds 100 lines: nothing added.
    CartFull,
}

/// A guest line that could not be merged whole.
#[derive(ToSchema)]
pub(crate) struct MergeWarning {
    product_id: String,
    /// How many the guest cart held.
    #[schema(minimum = 1, maximum = 999)]
    quantity: u32,
    /// How many were added.
    #[schema(minimum = 0, maximum = 998)]
    merged: u32,
    reason: MergeWarningReason,
}

/// The customer's cart after a claim, with the guest lines that could not
/// be merged whole. (The fields of [`Cart`], and the warnings.)
#[derive(ToSchema)]
pub(crate) struct ClaimedCart {
    id: String,
    currency: String,
    lines: Vec<Line>,
    discount_code: Option<String>,
    #[serde(flatten)]
    totals: Totals,
    status: CartStatus,
    version: u64,
    merge_warnings: Vec<MergeWarning>,
}
