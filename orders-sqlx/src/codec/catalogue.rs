//! Products from their rows.

use orders_core::catalogue::{
    Description, Product, ProductImage, ProductName, ProductParts, Sku, TaxClass,
};
use orders_core::ids::ProductId;
use orders_core::ports::StoreError;

use super::{Get, currency, money, parse, parse_ts, to_u32, to_u64};

pub(crate) const PRODUCT_COLUMNS: &str = "seq, id, sku, name, description, price_minor, currency, stock, active, tax_class, created_at, updated_at, version, image";

pub(crate) fn product(row: &impl Get) -> Result<Product, StoreError> {
    let currency = currency(&row.text("currency")?)?;
    let parts = ProductParts {
        id: parse("product id", ProductId::parse(&row.text("id")?))?,
        sku: parse("sku", Sku::parse(&row.text("sku")?))?,
        name: parse("product name", ProductName::parse(&row.text("name")?))?,
        description: parse("description", Description::parse(&row.text("description")?))?,
        price: money(row.int("price_minor")?, currency)?,
        stock: to_u32("stock", row.int("stock")?)?,
        active: row.flag("active")?,
        tax_class: parse("tax class", TaxClass::parse(&row.text("tax_class")?))?,
        image: row
            .opt_text("image")?
            .map(|text| parse("product image", ProductImage::from_stored(&text)))
            .transpose()?,
        created_at: parse_ts("created_at", &row.text("created_at")?)?,
        updated_at: parse_ts("updated_at", &row.text("updated_at")?)?,
        version: to_u64("product version", row.int("version")?)?,
    };
    parse("product", Product::restore(parts))
}
