//! Feature `async`: awaiting a `Future<T>` on tokio.
#![cfg(feature = "async")]

use std::time::Duration;

use weft_futures::{TaskError, promise};

/// Bounds the waits for a task or thread that is sure to complete the future: only a hang
/// exceeds it. Under Miri, beside the other checks on a loaded machine, seconds pass between
/// two steps of one thread.
const LIMIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "current_thread")]
async fn await_does_not_block_the_runtime_thread() {
    // One runtime thread: if `await` blocked it, the completing task could never run.
    let (p, f) = promise::<u32>();
    let completer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        p.set_result(7);
    });
    assert_eq!(f.await, Ok(7));
    completer.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completed_from_a_plain_thread() {
    let mut handles = Vec::new();
    let n: u32 = if cfg!(miri) { 10 } else { 100 };
    for i in 0..n {
        let (p, f) = promise::<u32>();
        std::thread::spawn(move || p.set_result(i));
        handles.push(tokio::spawn(f.into_future_checked()));
    }
    let mut sum = 0;
    for h in handles {
        sum += h.await.unwrap().unwrap();
    }
    assert_eq!(sum, (0..n).sum());
}

trait IntoFutureChecked: std::future::IntoFuture {
    fn into_future_checked(self) -> Self::IntoFuture;
}
impl<T: std::future::IntoFuture> IntoFutureChecked for T {
    fn into_future_checked(self) -> Self::IntoFuture {
        self.into_future()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn already_done_is_ready_at_once() {
    let (p, f) = promise::<&str>();
    p.set_result("now");
    assert_eq!(f.await, Ok("now"));
    let (_p, f) = promise::<&str>();
    f.cancel();
    assert_eq!(f.await, Err(TaskError::Cancelled));
}

#[tokio::test(flavor = "current_thread")]
async fn cancel_and_abandon_wake_the_task() {
    let (p, f) = promise::<u8>();
    let t = tokio::spawn(async move { f.await });
    tokio::task::yield_now().await;
    drop(p);
    assert_eq!(t.await.unwrap(), Err(TaskError::Abandoned));

    let (p, f) = promise::<u8>();
    let t = tokio::spawn(async move { f.await });
    tokio::task::yield_now().await;
    assert!(p.cancel());
    assert_eq!(t.await.unwrap(), Err(TaskError::Cancelled));
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_awaiting_task_does_not_cancel() {
    let (p, f) = promise::<u8>();
    let t = tokio::spawn(async move { f.await });
    tokio::task::yield_now().await;
    t.abort();
    assert!(t.await.unwrap_err().is_cancelled());
    assert!(!p.is_cancelled());
    assert!(
        p.complete(Ok(1)),
        "the future was not cancelled by the abort"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn timeout_around_await_then_complete() {
    let (p, f) = promise::<u8>();
    let mut fut = std::pin::pin!(std::future::IntoFuture::into_future(f));
    assert!(
        tokio::time::timeout(Duration::from_millis(10), &mut fut)
            .await
            .is_err()
    );
    p.set_result(4);
    assert_eq!(fut.await, Ok(4));
}

#[test]
fn block_on_without_a_runtime() {
    let (p, f) = promise::<u8>();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        p.set_result(3);
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(async { f.await }), Ok(3));
    t.join().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_and_tasks_wait_on_one_future() {
    use std::sync::Arc;
    let (p, f) = promise::<u32>();
    let f = Arc::new(f);
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || f.wait())
        })
        .collect();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move { f.wait_async().await })
        })
        .collect();
    tokio::task::yield_now().await;
    p.set_result(8);
    for t in tasks {
        tokio::time::timeout(LIMIT, t)
            .await
            .expect("a task was not woken")
            .unwrap();
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(Arc::try_unwrap(f).unwrap().result(), Ok(8));
}

#[tokio::test(flavor = "current_thread")]
async fn wait_async_timed_out_then_done() {
    let (p, f) = promise::<u8>();
    // The runtime's timeout drops the wait: its entry leaves the queue.
    assert!(
        tokio::time::timeout(Duration::from_millis(10), f.wait_async())
            .await
            .is_err()
    );
    assert!(!f.done());
    let thread = std::thread::spawn(move || p.set_result(9));
    tokio::time::timeout(LIMIT, f.wait_async())
        .await
        .expect("the second wait was not woken");
    thread.join().unwrap();
    assert_eq!(f.await, Ok(9));
}
