import CEmberSupport
import Foundation

/// Freed large blocks of host memory, kept by size for the next allocation of that size.
/// A training step allocates the same tensor sizes every step; reusing the blocks avoids
/// the kernel zeroing fresh pages for every large tensor (page faults were a tenth of a
/// ResNet step), and with large frees returned to the system (see `init`) the resident
/// size stays near the live set instead of growing with malloc's heap.
final class BlockCache: @unchecked Sendable {
    static let shared = BlockCache()

    /// Blocks below this size go to malloc, which is fast for them.
    static let minimumSize = 65_536
    /// Bytes the cache may hold; beyond it freed blocks go back to the system.
    let limit: Int
    private var blocks: [Int: [UnsafeMutableRawPointer]] = [:]
    private var cachedBytes = 0
    /// Allocated once: a mutex must not move, which a stored property does not promise.
    private let lock: UnsafeMutablePointer<pthread_mutex_t> = {
        let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        return mutex
    }()

    private init() {
        let physical = Int(ProcessInfo.processInfo.physicalMemory)
        limit = Swift.min(4 << 30, physical / 8)
        // A fixed threshold: blocks above it are mapped, and unmapped when freed.
        ember_set_mmap_threshold(Int32(Self.minimumSize))
    }

    /// Sizes are rounded up to whole pages so that near-equal requests share blocks.
    static func roundedSize(_ byteCount: Int) -> Int { (byteCount + 4095) & ~4095 }

    /// A cached block of exactly `size` bytes (a rounded size), if there is one.
    func take(_ size: Int) -> UnsafeMutableRawPointer? {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        guard let block = blocks[size]?.popLast() else { return nil }
        cachedBytes -= size
        return block
    }

    /// Keeps a freed block for reuse, or frees it when the cache is full.
    func give(_ block: UnsafeMutableRawPointer, _ size: Int) {
        pthread_mutex_lock(lock)
        if cachedBytes + size <= limit {
            blocks[size, default: []].append(block)
            cachedBytes += size
            pthread_mutex_unlock(lock)
        } else {
            pthread_mutex_unlock(lock)
            free(block)
        }
    }

    /// Returns every cached block to the system.
    func empty() {
        pthread_mutex_lock(lock)
        let all = blocks.values.flatMap { $0 }
        blocks = [:]
        cachedBytes = 0
        pthread_mutex_unlock(lock)
        all.forEach { free($0) }
    }
}
