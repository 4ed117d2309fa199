import Glibc

/// glibc `malloc` settings for a process that frees and allocates the same working set
/// at a high rate, applied once at start.
///
/// By default glibc hands the free memory at the top of a heap back to the kernel once
/// more than 128 KiB of it gathers (`M_TRIM_THRESHOLD`), and serves allocations from
/// 128 KiB up from fresh mappings (`M_MMAP_THRESHOLD`). Under load every message then
/// pays for `madvise` and the page faults that bring the same pages back: a quarter of
/// the CPU time per message, measured (bench/README.md). Keeping up to 16 MiB free at the
/// top of each heap and serving allocations up to 4 MiB from the heaps ends that churn;
/// a burst's memory above that is still returned.
///
/// Each thread's cache of freed chunks (tcache) holds 7 per size by default; past that a
/// free goes to the shared bins, under the arena's lock, and the next large allocation
/// (a task's first 1 KiB slab) consolidates them. glibc reads that count only from
/// `GLIBC_TUNABLES` at exec, so the unit sets it (``unitTunables``): 256 per size
/// answered 7 % more messages per second for 8 % less CPU time each (README.md, the
/// table of what changes did).
///
/// A `glibc.malloc` tunable `GLIBC_TUNABLES` sets wins over the setting here it names.
public enum AllocatorTuning {
    /// The `GLIBC_TUNABLES` the shipped unit gives `baton serve`.
    public static let unitTunables = "glibc.malloc.tcache_count=256"

    /// Free memory kept at the top of a heap before it is returned to the kernel.
    public static let trimThreshold: Int32 = 16 << 20
    /// Allocations at least this large get a mapping of their own.
    public static let mmapThreshold: Int32 = 4 << 20

    /// Applies each setting `environment`'s `GLIBC_TUNABLES` does not set itself. Returns
    /// whether all it applied took.
    @discardableResult
    public static func apply(environment: [String: String]) -> Bool {
        let tunables = environment["GLIBC_TUNABLES"] ?? ""
        var applied = true
        if !tunables.contains("glibc.malloc.trim_threshold=") {
            applied = mallopt(mTrimThreshold, trimThreshold) == 1 && applied
        }
        if !tunables.contains("glibc.malloc.mmap_threshold=") {
            applied = mallopt(mMmapThreshold, mmapThreshold) == 1 && applied
        }
        return applied
    }

    /// Hands the free memory inside the heaps back to the kernel, not only what gathers at
    /// their top: after a one-time peak (a store upgrade's sorts of millions of rows) the
    /// process would otherwise keep it until it ends.
    public static func returnFreeMemory() {
        _ = malloc_trim(0)
    }

    // <malloc.h> is not part of Swift's Glibc module: its two parameters and the calls.
    private static let mTrimThreshold: Int32 = -1
    private static let mMmapThreshold: Int32 = -3
}

@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32

@_silgen_name("malloc_trim")
private func malloc_trim(_ pad: Int) -> Int32
