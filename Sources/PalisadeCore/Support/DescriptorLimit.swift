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
        guard status == 0, limit.rlim_cur != RLIM_INFINITY, limit.rlim_cur < UInt64(Int.max) else { return Int.max }
        return Int(limit.rlim_cur)
    }
}
