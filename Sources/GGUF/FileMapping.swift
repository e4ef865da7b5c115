import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Read-only mappings of model files, laid out for huge pages.
///
/// Decoding reads every weight once per token, so with 4 KB pages each page costs a TLB miss
/// and a page walk per token (24,000 for SmolLM2's 97 MB). Linux 6.x maps a file with 2 MB
/// entries where the mapping is 2 MB-aligned, asks for huge pages (`MADV_HUGEPAGE`), and the
/// page cache holds the file in 2 MB folios, which ext4 and xfs read it into for such a mapping.
/// Decode then runs about 3 % faster (SmolLM2 and Qwen2.5, 2 threads, docs/performance.md).
///
/// A file whose pages are already cached in small folios (just written or copied, or read by
/// another program first) keeps them. For a file of at least `repairMinBytes`, `map` then writes
/// out its dirty pages, drops its cached pages that no one maps (`POSIX_FADV_DONTNEED`) and maps
/// it again, so that it is read back in huge folios: one read from disk, after which every load
/// finds them. If that does not help (a file system without large folios), it stops trying for
/// the rest of the process. `HEARTH_HUGE_PAGES=off` turns both off.
public enum FileMapping {
  static let hugePage = 2 << 20
  /// Smaller files are left alone: a test fixture or a tokenizer gains nothing from huge pages.
  static let repairMinBytes = 64 << 20

  /// False once a repair has not helped; held while repairing, so one thread repairs at a time.
  private static let repairWorks = Mutex(true)

  /// False once this process found that re-reading a file does not give it huge pages.
  public static var repairHelps: Bool { repairWorks.withLock { $0 } }
  private static let enabled: Bool = {
    guard let v = getenv("HEARTH_HUGE_PAGES") else { return true }
    return String(cString: v) != "off"
  }()

  /// Maps `size` bytes of `fd` read-only, 2 MB-aligned where huge pages are on; nil with errno set
  /// when mmap fails.
  static func map(fd: Int32, size: Int) -> UnsafeMutableRawPointer? {
    guard enabled else {
      let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
      return p == MAP_FAILED ? nil : p
    }
    guard let p = mapAligned(fd: fd, size: size) else { return nil }
    #if os(Linux)
    guard size >= repairMinBytes, let probe = probeOffset(size: size) else { return p }
    // (An address, not a pointer: the lock's result must be Sendable.)
    let address = Int(bitPattern: p)
    let mapped = repairWorks.withLock { works -> Int in
      let p = UnsafeMutableRawPointer(bitPattern: address)!
      guard works, isHuge(p, probe: probe) == false else { return address }
      munmap(p, size)
      // Dirty pages (a file just written) are not dropped: write them out first.
      _ = fdatasync(fd)
      _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)
      guard let q = mapAligned(fd: fd, size: size) else { return 0 }
      if isHuge(q, probe: probe) == false { works = false }
      return Int(bitPattern: q)
    }
    return UnsafeMutableRawPointer(bitPattern: mapped)
    #else
    return p
    #endif
  }

  /// Bytes of the mapping at `start` that are mapped by huge pages, from /proc/self/smaps; nil
  /// where that is not known (not Linux, or no such mapping).
  public static func hugeBytes(mappingAt start: UnsafeRawPointer) -> Int? {
    #if os(Linux)
    guard let f = fopen("/proc/self/smaps", "r") else { return nil }
    defer { fclose(f) }
    let header = String(UInt(bitPattern: start), radix: 16) + "-"
    var line: UnsafeMutablePointer<CChar>?
    var cap = 0
    defer { free(line) }
    var inside = false
    while getline(&line, &cap, f) > 0, let l = line {
      let text = String(cString: l)
      if text.hasPrefix(header) { inside = true; continue }
      guard inside else { continue }
      // Field names start with a capital; the next mapping's header with a hex digit.
      if let c = text.first, c.isNumber || ("a"..."f").contains(c) { return 0 }
      if text.hasPrefix("FilePmdMapped:") {
        let kb = text.dropFirst("FilePmdMapped:".count).split(separator: " ").first.flatMap { Int($0) }
        return kb.map { $0 * 1024 }
      }
    }
    return inside ? 0 : nil
    #else
    return nil
    #endif
  }

  /// The start of a 2 MB window in the middle of the file, or nil for a file too small to hold one.
  static func probeOffset(size: Int) -> Int? {
    let offset = (size / 2) / hugePage * hugePage
    return offset + hugePage <= size && offset > 0 ? offset : nil
  }

  /// Faults in the probe window, then asks whether the mapping has any huge page; nil when it
  /// cannot tell.
  static func isHuge(_ p: UnsafeMutableRawPointer, probe: Int) -> Bool? {
    #if os(Linux)
    // MADV_POPULATE_READ (Linux 5.14): a fault the optimizer cannot drop, as it may a load whose
    // value is unused.
    guard madvise(p + probe, hugePage, 22) == 0 else { return nil }
    return hugeBytes(mappingAt: p).map { $0 > 0 }
    #else
    return nil
    #endif
  }

  /// `mmap` at a 2 MB-aligned address, with `MADV_HUGEPAGE`.
  static func mapAligned(fd: Int32, size: Int) -> UnsafeMutableRawPointer? {
    let page = Int(sysconf(Int32(_SC_PAGESIZE)))
    let length = (size + page - 1) / page * page
    // Reserve enough address space to hold an aligned start, map the file over the aligned part,
    // and give back the rest.
    guard let reserve = mmap(nil, length + hugePage, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
          reserve != MAP_FAILED else { return nil }
    let start = (Int(bitPattern: reserve) + hugePage - 1) / hugePage * hugePage
    guard let p = mmap(UnsafeMutableRawPointer(bitPattern: start), size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0),
          p != MAP_FAILED else {
      let saved = errno
      munmap(reserve, length + hugePage)
      errno = saved
      return nil
    }
    let head = start - Int(bitPattern: reserve)
    if head > 0 { munmap(reserve, head) }
    if hugePage - head > 0 { munmap(p + length, hugePage - head) }
    #if os(Linux)
    _ = madvise(p, size, MADV_HUGEPAGE)  // advice only: a kernel without file THP ignores it
    #endif
    return p
  }
}
