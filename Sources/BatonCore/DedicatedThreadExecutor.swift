import Foundation

/// A task executor with a thread of its own, for work that blocks its thread: a SQLite
/// commit waits for the disk there, not on one of the shared pool's few threads, and the
/// loop that commits runs there too, so a commit costs no hop between threads.
///
/// Jobs run one at a time, in the order they came. The thread lives as long as the
/// process: make one per kind of work, not per object.
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// Guards `jobs` and `started`, and wakes the thread when either changes.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    /// Whether `Thread.start()` has returned, so Foundation knows which thread it made.
    private var started = false

    public init(name: String) {
        Thread { [self] in
            nameThread(name)
            runJobs()
        }.start()
        condition.withLock {
            started = true
            condition.broadcast()
        }
    }

    /// Names the thread, as `top -H` and `perf` show it, once `start()` has returned.
    ///
    /// Before then Foundation does not know the thread and drops a name set from inside.
    /// A name set from outside does not hold either: the new thread renames itself, as it
    /// starts, to the name it inherited from the thread that started it.
    private func nameThread(_ name: String) {
        condition.withLock {
            while !started { condition.wait() }
        }
        Thread.current.name = name
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func runJobs() {
        var running: [UnownedJob] = []
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            swap(&running, &jobs)
            condition.unlock()
            for job in running { job.runSynchronously(on: asUnownedTaskExecutor()) }
            running.removeAll(keepingCapacity: true)
        }
    }
}
