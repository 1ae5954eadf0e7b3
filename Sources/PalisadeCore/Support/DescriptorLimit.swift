#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The process's soft limit on open file descriptors (`ulimit -n`, RLIMIT_NOFILE).
enum DescriptorLimit {
    /// Unlimited or unreadable limits read as `Int.max`.
    static var current: Int {
        var limit = rlimit()
        #if canImport(Glibc)
        let status = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
        #else
        let status = getrlimit(RLIMIT_NOFILE, &limit)
        #endif
        // RLIM_INFINITY is all ones (its C definition does not import): no limit.
        guard status == 0, limit.rlim_cur < rlim_t(Int.max) else { return Int.max }
        return Int(limit.rlim_cur)
    }
}
