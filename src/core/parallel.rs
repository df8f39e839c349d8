//! Work spread over the machine's cores.

/// `f(0), f(1), …, f(n - 1)` computed on every available core (contiguous ranges, one thread
/// each), in order. The result is the same as a sequential map whatever the number of cores,
/// so `f` must not depend on which thread runs it (seed random draws by the index).
pub fn map_indices<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = std::thread::available_parallelism().map_or(2, |c| c.get()).min(n.max(1));
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let chunk = n.div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| scope.spawn(move || (start..(start + chunk).min(n)).map(f).collect::<Vec<T>>()))
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn results_come_in_order_for_any_length() {
        for n in [0, 1, 2, 7, 1000] {
            assert_eq!(super::map_indices(n, |i| i * 3), (0..n).map(|i| i * 3).collect::<Vec<_>>());
        }
    }
}
