import Foundation

/// A task executor with a thread of its own, for work that blocks its thread: a SQLite
/// commit waits for the disk there, not on one of the shared pool's few threads, and the
/// loop that commits runs there too, so a commit costs no hop between threads.
///
/// Jobs run one at a time, in the order they came. The thread lives as long as the
/// process: make one per kind of work, not per object.
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    /// Guards `jobs`, and wakes the thread when one is added.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []

    public init(name: String) {
        // Named from inside: Foundation names the OS thread only when it is the current one.
        Thread { [self] in
            Thread.current.name = name
            runJobs()
        }.start()
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
