//! Staff routes for outbound webhooks: add, list and delete endpoints, see
//! their deliveries and retry a dead one. Mounted by
//! [`crate::Api::webhooks`]; without it they answer 404.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use orders_core::ids::{DeliveryId, WebhookId};
use orders_core::ports::{OutboxStore, Page, StoreError};
use orders_core::webhook::{
    Delivery, EventFilter, InvalidWebhookUrl, NewWebhook, Webhook, WebhookForm, WebhookRequest,
    WebhookSecret, WebhookUrl,
};
use serde::Serialize;

use super::{AppState, path_id};
use crate::ApiError;
use crate::body::JsonBody;
use crate::identify::Staff;
use crate::query::Params;
use crate::webhooks::check_target;

/// What the webhook routes need: the store that keeps webhooks, and
/// whether private targets are allowed (`--allow-private-webhooks`).
#[derive(Clone)]
pub(crate) struct WebhookAdmin {
    pub(crate) store: Arc<dyn OutboxStore>,
    pub(crate) allow_private: bool,
}

impl WebhookAdmin {
    /// Adds the webhook `request` asks for, with a new random secret, if
    /// its target may be called (else the inner error, about `url`): what
    /// `POST /admin/webhooks` and the panel's form do.
    pub(crate) async fn add(
        &self,
        request: WebhookRequest,
    ) -> Result<Result<Webhook, InvalidWebhookUrl>, ApiError> {
        if let Err(refused) = check_target(&request.url, self.allow_private).await {
            return Ok(Err(refused));
        }
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(e.to_string()))?;
        self.store
            .insert_webhook(&NewWebhook {
                id: WebhookId::generate(),
                url: request.url,
                events: request.events,
                secret: WebhookSecret::from_random_bytes(&bytes),
                created_at: Utc::now(),
            })
            .await
            .map(Ok)
            .map_err(store_error)
    }
}

/// A webhook as listed: everything but the secret.
#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    id: WebhookId,
    url: WebhookUrl,
    events: EventFilter,
    created_at: DateTime<Utc>,
}

impl From<Webhook> for Listed {
    fn from(w: Webhook) -> Self {
        Self {
            id: w.id,
            url: w.url,
            events: w.events,
            created_at: w.created_at,
        }
    }
}

/// A webhook just made: with its secret, shown this once.
#[derive(Debug, Serialize)]
pub(crate) struct Created {
    #[serde(flatten)]
    webhook: Listed,
    secret: String,
}

fn admin(state: &AppState) -> Result<&WebhookAdmin, ApiError> {
    state.webhooks.as_ref().ok_or_else(ApiError::not_found)
}

pub(crate) fn store_error(error: StoreError) -> ApiError {
    ApiError::from(orders_core::Error::from(error))
}

/// Adds a webhook.
#[utoipa::path(
    post, path = "/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 201, description = "The webhook, with its signing secret (shown once)", body = crate::docs::CreatedWebhook),
        (status = 400, description = "Not a JSON object", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Webhooks are not enabled", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid `url` (scheme, length, a private or unresolvable host) or `events`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    _staff: Staff,
    JsonBody(body): JsonBody<WebhookForm>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    let admin = admin(&state)?;
    let request = body
        .validate(WebhookForm::validate)
        .map_err(ApiError::validation)?;
    let webhook = admin
        .add(request)
        .await?
        .map_err(|e| ApiError::field("url", e.to_string()))?;
    let secret = webhook.secret.expose().to_owned();
    Ok((
        StatusCode::CREATED,
        Json(Created {
            webhook: webhook.into(),
            secret,
        }),
    ))
}

/// Every webhook, newest first (one page).
#[utoipa::path(
    get, path = "/admin/webhooks", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, description = "The webhooks, without their secrets", body = crate::docs::WebhookList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Webhooks are not enabled", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    _staff: Staff,
) -> Result<Json<Page<Listed>>, ApiError> {
    let admin = admin(&state)?;
    let items = admin.store.webhooks().await.map_err(store_error)?;
    Ok(Json(Page {
        items: items.into_iter().map(Listed::from).collect(),
        next_cursor: None,
    }))
}

/// Deletes a webhook and its deliveries.
#[utoipa::path(
    delete, path = "/admin/webhooks/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Webhook id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let admin = admin(&state)?;
    let id: WebhookId = path_id(&id)?;
    admin.store.delete_webhook(&id).await.map_err(store_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// A webhook's deliveries, newest event first.
#[utoipa::path(
    get, path = "/admin/webhooks/{id}/deliveries", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Webhook id"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "1 to 100, default 20"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of deliveries", body = crate::docs::DeliveryList),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown webhook", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit` or `cursor`", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn list_deliveries(
    State(state): State<AppState>,
    _staff: Staff,
    Path(id): Path<String>,
    params: Params,
) -> Result<Json<Page<Delivery>>, ApiError> {
    let admin = admin(&state)?;
    let id: WebhookId = path_id(&id)?;
    let page = params.page_only()?;
    if admin
        .store
        .webhook(&id)
        .await
        .map_err(store_error)?
        .is_none()
    {
        return Err(ApiError::not_found());
    }
    let deliveries = admin.store.deliveries(&id, &page).await;
    match deliveries {
        Err(StoreError::InvalidCursor) => Err(ApiError::field("cursor", "invalid cursor")),
        other => Ok(Json(other.map_err(store_error)?)),
    }
}

/// Makes a dead delivery pending again, due now, with a new retry window.
#[utoipa::path(
    post, path = "/admin/webhooks/{id}/deliveries/{delivery_id}/retry", tag = "admin", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "Webhook id"),
        ("delivery_id" = String, Path, description = "Delivery id"),
    ),
    responses(
        (status = 200, description = "The delivery, pending", body = crate::docs::WebhookDelivery),
        (status = 401, description = "No or bad token", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not staff", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown webhook or delivery", body = crate::docs::Problem, content_type = "application/problem+json"),
        (status = 409, description = "`not_dead`: only a dead delivery can be retried", body = crate::docs::Problem, content_type = "application/problem+json"),
    )
)]
pub(crate) async fn retry_delivery(
    State(state): State<AppState>,
    _staff: Staff,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Json<Delivery>, ApiError> {
    let admin = admin(&state)?;
    let id: WebhookId = path_id(&id)?;
    let delivery: DeliveryId = path_id(&delivery)?;
    match admin.store.retry_delivery(&id, &delivery, Utc::now()).await {
        Ok(delivery) => Ok(Json(delivery)),
        Err(StoreError::Conflict) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_dead",
            "Only a dead delivery can be retried",
        )),
        Err(error) => Err(store_error(error)),
    }
}
