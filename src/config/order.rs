//! Start order from `depends-on`: dependencies first, declaration order otherwise.

use super::service::Service;

/// Service names in start order, or the names on one dependency cycle.
/// Unknown and self references are ignored here (validation reports them).
pub fn dependency_order(services: &[Service]) -> Result<Vec<&str>, Vec<String>> {
    let index = |name: &str| services.iter().position(|s| s.name.value == name);
    let deps: Vec<Vec<usize>> = services
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut d: Vec<usize> = s
                .depends_on
                .iter()
                .filter_map(|n| index(&n.value))
                .filter(|&j| j != i)
                .collect();
            d.sort_unstable();
            d.dedup();
            d
        })
        .collect();
    let mut done = vec![false; services.len()];
    let mut order = Vec::with_capacity(services.len());
    while order.len() < services.len() {
        let next = (0..services.len()).find(|&i| !done[i] && deps[i].iter().all(|&d| done[d]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(services[i].name.value.as_str());
            }
            None => return Err(find_cycle(services, &deps, &done)),
        }
    }
    Ok(order)
}

fn find_cycle(services: &[Service], deps: &[Vec<usize>], done: &[bool]) -> Vec<String> {
    // Every remaining node has a remaining dependency: walk until a node repeats.
    let start = done.iter().position(|d| !d).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    while let Some(&next) = deps[current].iter().find(|&&d| !done[d]) {
        if let Some(pos) = path.iter().position(|&p| p == next) {
            let mut cycle: Vec<String> = path[pos..].iter().map(|&i| services[i].name.value.clone()).collect();
            cycle.push(services[next].name.value.clone());
            return cycle;
        }
        path.push(next);
        current = next;
    }
    path.iter().map(|&i| services[i].name.value.clone()).collect()
}
