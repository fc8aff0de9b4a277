//! Request bodies and query strings: arbitrary bytes through every DTO's parser, then its
//! field rules. Neither may panic, whatever the bytes.
#![no_main]

use access_requests::http::request_types::{
    ApproveBody, CancelBody, CreateAccessRequest, DenyBody, ListQuery,
};
use access_requests::http::{
    admin, bulk, deliveries, directory, grants, optional_body, orgs, records, JsonObject, PageQuery,
};
use actix_web::web::Query;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use validator::Validate;

/// Parses `data` as a `T` body, as the handlers do; when that works, checks the field rules.
fn body<T: DeserializeOwned + Validate>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<JsonObject<T>>(data) {
        let _ = value.into_inner().validate();
    }
}

fuzz_target!(|data: &[u8]| {
    body::<CreateAccessRequest>(data);
    body::<orgs::CreateOrg>(data);
    body::<orgs::CreateSite>(data);
    body::<directory::PutProduct>(data);
    body::<directory::PutSiteUser>(data);
    body::<records::CreateFeedback>(data);
    body::<DenyBody>(data);
    let _ = serde_json::from_slice::<JsonObject<admin::PutSettings>>(data);
    let _ = serde_json::from_slice::<JsonObject<admin::PutRollout>>(data);
    let _ = serde_json::from_slice::<JsonObject<grants::PatchGrant>>(data);
    // A bulk body that parses goes through its own rules (ids, message, expires_at).
    if let Ok(bulk) = serde_json::from_slice::<JsonObject<bulk::BulkDecisionBody>>(data) {
        let _ = bulk.into_inner().parse();
    }
    // A creation that parses becomes the domain's request, or a 422.
    if let Ok(create) = serde_json::from_slice::<JsonObject<CreateAccessRequest>>(data) {
        let _ = create.into_inner().parse();
    }

    // The bodies that may be left out go through `optional_body`, as the handlers do.
    let _ = optional_body::<ApproveBody>(data);
    let _ = optional_body::<CancelBody>(data);
    if let Ok(deny) = optional_body::<DenyBody>(data) {
        let _ = deny.validate();
    }
    if let Ok(revoke) = optional_body::<grants::RevokeBody>(data) {
        let _ = revoke.validate();
    }
    let _ = optional_body::<deliveries::RetryFailed>(data);

    // A creation is fingerprinted by its canonical JSON (Idempotency-Key): that must not fail.
    if let Ok(create) = serde_json::from_slice::<JsonObject<CreateAccessRequest>>(data) {
        serde_json::to_value(create.into_inner()).expect("a parsed body serializes again");
    }

    // Query strings, as actix parses them, then the paging rules.
    if let Ok(query) = std::str::from_utf8(data) {
        if let Ok(page) = Query::<PageQuery>::from_query(query) {
            let _ = page.parse();
        }
        let _ = Query::<ListQuery>::from_query(query);
        let _ = Query::<records::AuditQuery>::from_query(query);
        let _ = Query::<deliveries::DeliveryQuery>::from_query(query);
        let _ = Query::<grants::GrantQuery>::from_query(query);
    }
});
