//! Gives references in an action's attributes their values from the recorded state, before a
//! provider applies the action: `value = "server.creo-dev-01.ip"` becomes `value = "203.0.113.7"`.
//!
//! Assumptions (the plan engine renders references through [`lookup_in`] too, so a plan and an
//! apply always agree on what a reference names):
//! - a reference is an attribute value that [`ValueOrRef::parse`] reads as one
//!   (`kind.name.attribute`, kind one of `server`, `r2-bucket`, `worker`, `dns`);
//! - the referenced resource is recorded at its plan address in the same fleet: first in the
//!   same stage (`creo:dev/server.creo-dev-01`), then fleet-wide (`creo/server.creo-dev-01`);
//!   kind `dns` is recorded as `dns-record`;
//! - the value is the state resource's attribute of the referenced name, so a server provider
//!   records its address as attribute `ip` for `server.NAME.ip` to resolve.
//!
//! The plan shows such values as `(known after apply)`; an action must carry the reference
//! text itself, since the placeholder no longer says what it stands for.

use std::collections::BTreeMap;

use super::KNOWN_AFTER_APPLY;
use super::state::State;
use crate::config::cloud::{ResourceRef, ValueOrRef};

/// An attribute whose value cannot be known yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attribute `{attribute}` = {reference}: {reason}")]
pub struct Unresolved {
    /// The attribute of the action (`value`).
    pub attribute: String,
    /// The reference as written (`server.creo-dev-01.ip`).
    pub reference: String,
    pub reason: String,
}

/// `attrs` with every reference replaced by the referenced value recorded in `state`;
/// `address` is the plan address of the resource the attributes belong to (its fleet and stage
/// scope the lookup). Pure: reads `state` only.
pub fn resolve(
    address: &str,
    attrs: &BTreeMap<String, String>,
    state: &State,
) -> Result<BTreeMap<String, String>, Unresolved> {
    attrs
        .iter()
        .map(|(key, value)| {
            if value == KNOWN_AFTER_APPLY {
                return Err(Unresolved {
                    attribute: key.clone(),
                    reference: value.clone(),
                    reason: "the action carries the plan's placeholder; pass the reference text \
                             (`server.NAME.ip`) so it can be looked up"
                        .into(),
                });
            }
            match ValueOrRef::parse(value) {
                ValueOrRef::Literal(v) => Ok((key.clone(), v)),
                ValueOrRef::Reference(r) => lookup(address, &r, state)
                    .map(|v| (key.clone(), v.to_owned()))
                    .ok_or_else(|| Unresolved {
                        attribute: key.clone(),
                        reference: r.to_string(),
                        reason: format!(
                            "the state records no {} `{}` with attribute `{}` in this fleet yet; \
                             apply that resource first",
                            r.kind, r.name, r.attribute
                        ),
                    }),
            }
        })
        .collect()
}

/// The recorded value of `reference` as seen from the resource at `address`.
pub fn lookup<'a>(address: &str, reference: &ResourceRef, state: &'a State) -> Option<&'a str> {
    let (scope, _) = address.split_once('/')?;
    let (fleet, stage) = match scope.split_once(':') {
        Some((fleet, stage)) => (fleet, Some(stage)),
        None => (scope, None),
    };
    lookup_in(fleet, stage, reference, state)
}

/// The recorded value of `reference` for a resource of `fleet` (and `stage`): the one lookup
/// behind [`resolve`] (apply) and the plan engine's rendering of references.
pub fn lookup_in<'a>(fleet: &str, stage: Option<&str>, reference: &ResourceRef, state: &'a State) -> Option<&'a str> {
    let kind = match reference.kind.as_str() {
        "dns" => "dns-record",
        other => other,
    };
    let name = format!("{kind}.{}", reference.name);
    let scoped = stage.map(|s| format!("{fleet}:{s}/{name}"));
    let fleet_wide = format!("{fleet}/{name}");
    scoped
        .iter()
        .chain([&fleet_wide])
        .find_map(|a| state.resource(a)?.attributes.get(&reference.attribute))
        .map(String::as_str)
}
