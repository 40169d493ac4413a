//! The resolution rules of the contract (§1): from the candidates of a verified instance ID and
//! an optional agent name to exactly one agent, or the error that says why not.
//!
//! The candidates arrive already filtered by the store's one query (same instance ID, the
//! endpoint's cloud, root agents, latest build of a workspace build job, workspace not deleted);
//! this module only applies the name rules, so it is pure and tested row by row.

use idgate_store::Candidate;

use crate::error::ApiError;

/// Picks the one agent that `name` (already trimmed; `None` when not given) selects.
pub fn resolve(
    instance_id: &str,
    name: Option<&str>,
    candidates: Vec<Candidate>,
) -> Result<Candidate, ApiError> {
    if candidates.is_empty() {
        return Err(ApiError::InstanceNotFound {
            instance_id: instance_id.to_owned(),
        });
    }
    match name {
        Some(name) => resolve_named(instance_id, name, candidates),
        None => resolve_unnamed(instance_id, candidates),
    }
}

fn resolve_named(
    instance_id: &str,
    name: &str,
    candidates: Vec<Candidate>,
) -> Result<Candidate, ApiError> {
    let all_names = distinct_sorted_names(&candidates);
    let mut matching: Vec<Candidate> = candidates
        .into_iter()
        .filter(|c| c.agent_name == name)
        .collect();
    match matching.len() {
        0 => Err(ApiError::AgentNameNotFound {
            instance_id: instance_id.to_owned(),
            name: name.to_owned(),
            candidates: all_names,
        }),
        1 => Ok(matching.remove(0)),
        _ => Err(ApiError::AmbiguousName {
            instance_id: instance_id.to_owned(),
            name: name.to_owned(),
        }),
    }
}

fn resolve_unnamed(
    instance_id: &str,
    mut candidates: Vec<Candidate>,
) -> Result<Candidate, ApiError> {
    if candidates.len() == 1 {
        return Ok(candidates.remove(0));
    }
    Err(ApiError::Ambiguous {
        instance_id: instance_id.to_owned(),
        names: distinct_sorted_names(&candidates),
    })
}

/// The distinct names, sorted by byte order.
fn distinct_sorted_names(candidates: &[Candidate]) -> Vec<String> {
    let mut names: Vec<String> = candidates.iter().map(|c| c.agent_name.clone()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn candidate(name: &str) -> Candidate {
        Candidate {
            agent_id: Uuid::new_v4(),
            agent_name: name.to_owned(),
            workspace_id: Uuid::new_v4(),
        }
    }

    /// Runs one row of the resolution table and returns the status and message.
    fn check(names: &[&str], requested: Option<&str>) -> (u16, String) {
        let candidates = names.iter().map(|n| candidate(n)).collect();
        match resolve("i-0abc", requested, candidates) {
            Ok(c) => (200, c.agent_name),
            Err(e) => {
                let (status, body) = e.into_parts();
                (status.as_u16(), body.message)
            }
        }
    }

    #[test]
    fn no_candidates() {
        assert_eq!(
            check(&[], None),
            (404, r#"Instance with id "i-0abc" not found."#.into())
        );
        assert_eq!(
            check(&[], Some("main")),
            (404, r#"Instance with id "i-0abc" not found."#.into())
        );
    }

    #[test]
    fn named() {
        assert_eq!(check(&["dev", "main"], Some("main")), (200, "main".into()));
        assert_eq!(
            check(&["dev", "main"], Some("Main")),
            (
                404,
                r#"No agent found with instance ID "i-0abc" and name "Main"."#.into()
            )
        );
        assert_eq!(
            check(&["main", "main"], Some("main")),
            (
                409,
                r#"Multiple agents named "main" found with instance ID "i-0abc"."#.into()
            )
        );
    }

    #[test]
    fn unnamed() {
        assert_eq!(check(&["main"], None), (200, "main".into()));
        assert_eq!(
            check(&["main", "dev", "main", "Zed"], None),
            (
                409,
                r#"Multiple agents found with instance ID "i-0abc". Set CODER_AGENT_NAME to one of: Zed, dev, main"#
                    .into()
            )
        );
    }

    #[test]
    fn name_not_found_lists_candidates() {
        let (_, body) = resolve("i-1", Some("x"), vec![candidate("b"), candidate("a")])
            .unwrap_err()
            .into_parts();
        assert_eq!(
            body.detail.as_deref(),
            Some("Agents on this instance: a, b.")
        );
    }
}
