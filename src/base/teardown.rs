//! Values whose drop takes long, dropped on a thread of their own. Tearing down ONNX Runtime
//! sessions takes 5–20 ms a stage here; dropped in place, a stage that has ended held the stages
//! after it (and the end of a short clip's analysis) for that long (docs/performance.md).

use std::ops::{Deref, DerefMut};

/// Owns a `T` and drops it aside: on a short-lived thread, or in place when none can be started.
pub struct DropAside<T: Send + 'static>(Option<T>);

impl<T: Send + 'static> DropAside<T> {
    pub fn new(value: T) -> Self {
        Self(Some(value))
    }
}

impl<T: Send + 'static> Deref for DropAside<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // Always Some until drop.
        self.0
            .as_ref()
            .expect("DropAside holds its value until dropped")
    }
}

impl<T: Send + 'static> DerefMut for DropAside<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0
            .as_mut()
            .expect("DropAside holds its value until dropped")
    }
}

impl<T: Send + 'static> Drop for DropAside<T> {
    fn drop(&mut self) {
        if let Some(value) = self.0.take() {
            // A failed spawn hands the closure back to be dropped: the value goes here instead.
            let _ = std::thread::Builder::new()
                .name("teardown".into())
                .spawn(move || drop(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    struct Slow(Arc<AtomicBool>);
    impl Drop for Slow {
        fn drop(&mut self) {
            std::thread::sleep(Duration::from_millis(200));
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_value_is_dropped_without_holding_up_its_owner() {
        let done = Arc::new(AtomicBool::new(false));
        let aside = DropAside::new(Slow(done.clone()));
        let t = Instant::now();
        drop(aside);
        assert!(t.elapsed() < Duration::from_millis(100));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !done.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(done.load(Ordering::SeqCst), "dropped in the end");
    }
}
