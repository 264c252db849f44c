//! `CeleryExecutor` as a `weft_futures::Executor`, on a real `redis-server` with a weft worker:
//! the checks every executor passes (`weft_futures::conformance`, run on the thread and process
//! pools too), tasks declared once with `task!` and registered by `register_task::<T>()`, and
//! what only a remote executor has to get right (a cancelled map's tasks leave the queue).

mod common;

use weft_celery::{Celery, WorkerBuilder, WorkerHandle};
use weft_futures::{
    Executor, MapOptions, Task, TaskError,
    conformance::{self, Add, Mark, PanicOnTwo, Square},
    task,
};

/// A weft worker that knows every conformance task, running `concurrency` at once.
fn worker(app: &Celery, concurrency: usize) -> WorkerHandle {
    register_all(app.worker())
        .concurrency(concurrency)
        .build()
        .unwrap()
        .spawn()
}

fn register_all(b: WorkerBuilder) -> WorkerBuilder {
    b.register_task::<Square>()
        .register_task::<Add>()
        .register_task::<PanicOnTwo>()
        .register_task::<Mark>()
}

#[test]
fn conformance_work() {
    let Some(redis) = common::redis("conformance_work") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = worker(&app, 4);
    let ex = app.executor();
    conformance::work(&ex);
    Executor::shutdown(&ex, true, false);
    assert_eq!(app.pending(), 0);
    handle.stop();
}

#[test]
fn conformance_map_is_eager_then_lazy() {
    let Some(redis) = common::redis("conformance_map_is_eager_then_lazy") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = worker(&app, 2);
    conformance::map_is_eager_then_lazy(&app.executor());
    handle.stop();
}

#[test]
fn conformance_map_fails_items_alone() {
    let Some(redis) = common::redis("conformance_map_fails_items_alone") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = worker(&app, 2);
    conformance::map_fails_items_alone(&app.executor());
    handle.stop();
}

#[test]
fn conformance_map_cancels_unconsumed_tasks_on_drop() {
    let Some(redis) = common::redis("conformance_map_cancels_unconsumed") else {
        return;
    };
    // A weft worker takes a message only when one of its threads is free (Celery's prefetch
    // multiplier of 1), so every task it has not started is still cancellable.
    for (db, workers) in [(0, 1), (1, 2)] {
        let app = Celery::connect(&redis.url(db)).unwrap();
        let handle = worker(&app, workers);
        conformance::map_cancels_unconsumed_tasks_on_drop(&app.executor(), workers);
        handle.stop();
        // The cancelled tasks left the queue: nothing waits there for a worker.
        let mut c = redis.conn(db);
        let queued: usize = redis::cmd("LLEN").arg("celery").query(&mut c).unwrap();
        assert_eq!(queued, 0, "cancelled tasks stayed on the queue");
    }
}

#[test]
fn conformance_refuses_after_shutdown() {
    let Some(redis) = common::redis("conformance_refuses_after_shutdown") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = worker(&app, 1);
    let ex = app.executor();
    conformance::refuses_after_shutdown(&ex);
    // The inherent API refuses too, as Python's `submit` raises after `shutdown`.
    let late = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        ex.submit_named::<i64>("weft.conformance.add", (1, 2))
    }));
    assert!(late.is_err(), "submit_named after shutdown must panic");
    handle.stop();
}

task! {
    /// Declared once, here: runs on a weft worker by its name.
    struct Concat = "weft.tests.concat";
    fn run((a, b): (String, String)) -> String { a + &b }

    /// A one-element vector as the only argument.
    struct Total = "weft.tests.total";
    fn run(xs: Vec<u64>) -> u64 { xs.iter().sum() }
}

#[test]
fn declared_tasks_round_trip_and_mix_with_named_ones() {
    let Some(redis) = common::redis("declared_tasks_round_trip") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    let handle = app
        .worker()
        .register_task::<Concat>()
        .register_task::<Total>()
        .register_fn("weft.tests.neg", |x: i64| -x)
        .concurrency(2)
        .build()
        .unwrap()
        .spawn();
    let ex = app.executor();
    assert_eq!(
        ex.submit::<Concat>(("we".into(), "ft".into())).result(),
        Ok("weft".to_owned())
    );
    for xs in [vec![], vec![7], vec![1, 2, 3]] {
        let want: u64 = xs.iter().sum();
        assert_eq!(ex.submit::<Total>(xs.clone()).result(), Ok(want), "{xs:?}");
    }
    // A declared task's name is what `submit_named` reaches, and the other way round.
    assert_eq!(
        ex.submit_named::<String>(Concat::NAME, ("a", "b")).result(),
        Ok("ab".to_owned())
    );
    // A chunked map whose items fail: each item its own result, in order.
    let out: Vec<_> = ex
        .map_with::<Total, _>(
            (0..10u64).map(|i| vec![i; i as usize]),
            MapOptions::default().chunksize(3).buffersize(2),
        )
        .collect();
    assert_eq!(
        out,
        (0..10u64)
            .map(|i| Ok(i * i))
            .collect::<Vec<Result<u64, TaskError>>>()
    );
    // An unregistered declared task fails its own future with Celery's `NotRegistered`.
    task! {
        struct Unknown = "weft.tests.unknown";
        fn run(_: ()) -> () {}
    }
    let r = ex.submit::<Unknown>(()).result();
    assert!(
        matches!(&r, Err(TaskError::Failed(m)) if m.contains("NotRegistered")),
        "{r:?}"
    );
    handle.stop();
}

#[test]
fn dropping_a_chunked_map_takes_its_tasks_off_the_queue() {
    let Some(redis) = common::redis("dropping_a_chunked_map") else {
        return;
    };
    let app = Celery::connect(&redis.url(0)).unwrap();
    // No worker: every task stays queued until the map is dropped.
    let ex = app.executor();
    let map = ex.map_with::<Square, _>(0..100, MapOptions::default().chunksize(4).buffersize(3));
    let mut c = redis.conn(0);
    let queued: usize = redis::cmd("LLEN").arg("celery").query(&mut c).unwrap();
    assert_eq!(
        queued, 12,
        "three chunks of four are submitted when map is called"
    );
    drop(map);
    let queued: usize = redis::cmd("LLEN").arg("celery").query(&mut c).unwrap();
    assert_eq!(
        queued, 0,
        "dropping the map takes every unconsumed task off the queue"
    );
    Executor::shutdown(&ex, true, false);
    assert_eq!(app.pending(), 0);
}
