//! The schemas of query and header parameters whose values come from the
//! core (statuses, countries, search text, idempotency keys).

use utoipa::ToSchema;

/// A string schema of `values`, described by `description`.
fn string_enum<'a>(
    description: &str,
    values: impl IntoIterator<Item = &'a str>,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(description))
        .enum_values(Some(values.into_iter().map(serde_json::Value::from)))
        .into()
}

/// `?status=`: an order status, or empty for every status (as the
/// panel's filter sends it).
pub(crate) struct StatusFilter;

impl utoipa::PartialSchema for StatusFilter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_enum(
            "An order status; empty is every status.",
            std::iter::once("").chain(orders_core::order::OrderStatus::NAMES),
        )
    }
}

impl ToSchema for StatusFilter {}

/// `?country=`: an ISO 3166-1 alpha-2 code, or empty for the default.
pub(crate) struct CountryCode;

impl utoipa::PartialSchema for CountryCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let codes = orders_core::checkout::Country::all().map(orders_core::checkout::Country::code);
        string_enum(
            "An ISO 3166-1 alpha-2 country code; empty is the shop's default.",
            std::iter::once("").chain(codes),
        )
    }
}

impl ToSchema for CountryCode {}

/// `?email=` and `?q=`: search text; blank is no search.
pub(crate) struct SearchQuery;

impl utoipa::PartialSchema for SearchQuery {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use orders_core::text::{BLANK_LINE_PATTERN, SearchText};
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("Search text; blank is no search."))
            .max_length(Some(SearchText::MAX_CHARS))
            .pattern(Some(BLANK_LINE_PATTERN))
            .into()
    }
}

impl ToSchema for SearchQuery {}

/// The `Idempotency-Key` header: 1 to [`orders_core::MAX_IDEMPOTENCY_KEY`]
/// visible ASCII characters (what an HTTP header carries as text), not
/// only spaces.
pub(crate) struct IdempotencyKey;

impl utoipa::PartialSchema for IdempotencyKey {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("A client's key for one checkout."))
            .min_length(Some(1))
            .max_length(Some(orders_core::MAX_IDEMPOTENCY_KEY))
            .pattern(Some("^[ -~]*[!-~][ -~]*$"))
            .into()
    }
}

impl ToSchema for IdempotencyKey {}

/// A payment provider's webhook event: a JSON object as the provider
/// sends and signs it (read as bytes; only the provider knows its shape).
pub(crate) struct ProviderEvent;

impl utoipa::PartialSchema for ProviderEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Object)
            .description(Some("The provider's event, as it signed it."))
            .into()
    }
}

impl ToSchema for ProviderEvent {}
