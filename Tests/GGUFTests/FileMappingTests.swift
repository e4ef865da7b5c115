import Foundation
import Testing

@testable import GGUF

/// Model files are mapped 2 MB-aligned for huge pages, and a file cached in small pages is read
/// again once so that it gets them (FileMapping).
@Suite struct FileMappingTests {
  /// A fresh copy of a real model: its pages sit in the page cache as the copy wrote them, in
  /// small folios, which is the case the loader repairs.
  @Test func aFreshlyWrittenModelIsMappedByHugePages() throws {
    let source = modelPath("SmolLM2-135M-Instruct.Q4_1.gguf")
    guard FileManager.default.fileExists(atPath: source) else {
      Issue.record("missing \(source): run scripts/fetch-models"); return
    }
    let copy = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-mapping-\(getpid()).gguf").path
    try? FileManager.default.removeItem(atPath: copy)
    try FileManager.default.copyItem(atPath: source, toPath: copy)
    defer { try? FileManager.default.removeItem(atPath: copy) }

    let f = try GGUFFile(path: copy)
    let base = Int(bitPattern: f.bytes.baseAddress!)
    #expect(base % FileMapping.hugePage == 0, "mapped at \(String(base, radix: 16))")
    // The mapping reads what the file holds, across the re-read (and this faults in every 2 MB
    // window, which the count of huge pages below needs).
    let expected = try Data(contentsOf: URL(fileURLWithPath: source))
    #expect(f.bytes.count == expected.count)
    var differing = 0
    for offset in stride(from: 0, to: expected.count, by: 65_537) where f.bytes[offset] != expected[offset] { differing += 1 }
    #expect(differing == 0)
    #expect(f.bytes[expected.count - 1] == expected[expected.count - 1])
    #if os(Linux)
    let huge = try #require(f.hugePageBytes)
    print("[mapping] \(huge >> 20) of \(f.fileSize >> 20) MB in 2 MB pages; repair helps: \(FileMapping.repairHelps)")
    // Where the kernel and file system give files huge folios, most of the model is mapped by
    // them; elsewhere the one futile repair is remembered.
    if Self.fileHugePagesExpected(at: copy) {
      #expect(huge >= f.fileSize / 2, "\(huge) of \(f.fileSize) bytes in huge pages")
    } else {
      #expect(huge >= f.fileSize / 2 || !FileMapping.repairHelps)
    }
    #endif
  }

  #if os(Linux)
  /// Transparent huge pages on, and a file system that caches files in large folios: xfs since
  /// Linux 5.18, ext4 since 6.16.
  static func fileHugePagesExpected(at path: String) -> Bool {
    guard let thp = try? String(contentsOfFile: "/sys/kernel/mm/transparent_hugepage/enabled", encoding: .utf8),
          !thp.contains("[never]") else { return false }
    var u = utsname()
    uname(&u)
    let release = withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    let v = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
    guard v.count == 2 else { return false }
    let kernel = v[0] * 100 + v[1]
    // The file system of the longest mount point holding the file.
    guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return false }
    let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    var best = "", type = ""
    for line in mounts.split(separator: "\n") {
      let f = line.split(separator: " ")
      guard f.count >= 3 else { continue }
      let point = String(f[1])
      if (real == point || real.hasPrefix(point == "/" ? "/" : point + "/")) && point.count >= best.count {
        best = point
        type = String(f[2])
      }
    }
    switch type {
    case "xfs": return kernel >= 518
    case "ext4": return kernel >= 616
    default: return false
    }
  }
  #endif

  /// A small file is mapped aligned too, but never re-read; an address that starts no mapping
  /// has no huge-page figure.
  @Test func smallFilesAndUnknownAddresses() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-small-\(getpid()).bin").path
    let bytes = (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    defer { try? FileManager.default.removeItem(atPath: path) }
    let fd = open(path, O_RDONLY)
    #expect(fd >= 0)
    defer { close(fd) }
    let p = try #require(FileMapping.map(fd: fd, size: bytes.count))
    defer { munmap(p, bytes.count) }
    #expect(Int(bitPattern: p) % FileMapping.hugePage == 0)
    let mapped = UnsafeRawBufferPointer(start: p, count: bytes.count)
    #expect(mapped.elementsEqual(bytes))
    #if os(Linux)
    #expect(FileMapping.hugeBytes(mappingAt: p) != nil)
    let heap = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 64)
    defer { heap.deallocate() }
    #expect(FileMapping.hugeBytes(mappingAt: heap + 16) == nil)
    #endif
  }
}
