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
/// A `GLIBC_TUNABLES` that sets any `glibc.malloc` tunable wins: then nothing is changed.
public enum AllocatorTuning {
    /// Free memory kept at the top of a heap before it is returned to the kernel.
    public static let trimThreshold: Int32 = 16 << 20
    /// Allocations at least this large get a mapping of their own.
    public static let mmapThreshold: Int32 = 4 << 20

    /// Applies the settings, unless `environment` tunes `malloc` itself. Returns whether
    /// they were applied.
    @discardableResult
    public static func apply(environment: [String: String]) -> Bool {
        if environment["GLIBC_TUNABLES"]?.contains("glibc.malloc.") == true { return false }
        return mallopt(mTrimThreshold, trimThreshold) == 1 && mallopt(mMmapThreshold, mmapThreshold) == 1
    }

    // <malloc.h> is not part of Swift's Glibc module: its two parameters and the call.
    private static let mTrimThreshold: Int32 = -1
    private static let mMmapThreshold: Int32 = -3
}

@_silgen_name("mallopt")
private func mallopt(_ parameter: Int32, _ value: Int32) -> Int32
