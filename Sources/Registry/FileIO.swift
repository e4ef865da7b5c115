import Crypto
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Reports long work: a phase name ("hashing", "copying"), bytes done and the total.
public typealias ProgressHandler = (_ phase: String, _ done: Int, _ total: Int) -> Void

/// The POSIX calls behind the registry's durability promises: temp file, fsync, rename (or link
/// for create-only), fsync of the directory; reflink with a copying fallback; streaming SHA-256.
enum FileIO {
  static let chunk = 4 << 20

  static var errorText: String { String(cString: strerror(errno)) }

  static func ioError(_ path: String, _ op: String) -> RegistryError { .io(path: path, operation: op, reason: errorText) }

  /// `mkdir -p` with mode 0755.
  static func makeDirectories(_ path: String) throws(RegistryError) {
    do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
      throw .io(path: path, operation: "cannot create directory", reason: (error as NSError).localizedDescription)
    }
  }

  /// Flushes a directory's entries, so a rename or unlink in it survives a crash.
  /// fsync of a file written by someone else (an encrypter), before it is renamed into place.
  static func syncFile(_ path: String) throws(RegistryError) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ioError(path, "cannot open") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw ioError(path, "cannot fsync") }
  }

  static func syncDirectory(_ dir: String) throws(RegistryError) {
    let fd = open(dir, O_RDONLY | O_DIRECTORY)
    guard fd >= 0 else { throw ioError(dir, "cannot open directory") }
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw ioError(dir, "cannot fsync directory") }
  }

  static func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int, path: String) throws(RegistryError) {
    var done = 0
    while done < n {
      let w = write(fd, p + done, n - done)
      if w < 0 {
        if errno == EINTR { continue }
        throw ioError(path, "cannot write")
      }
      done += w
    }
  }

  /// A unique name for a temporary file next to `path` (same directory, so rename is atomic).
  static func tempPath(for path: String) -> String {
    path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
  }

  /// Writes `data` to `path` durably. With `createOnly`, an existing file is left alone and the
  /// result is false (link(2) refuses to replace, so two writers cannot both win); otherwise the
  /// file is replaced atomically.
  @discardableResult
  static func writeAtomically(_ data: Data, to path: String, createOnly: Bool) throws(RegistryError) -> Bool {
    let tmp = tempPath(for: path)
    let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ioError(tmp, "cannot create") }
    defer { unlink(tmp) }
    do {
      defer { close(fd) }
      // withUnsafeBytes rethrows untyped errors, so the typed one is carried out as a value.
      let failure: RegistryError? = data.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> RegistryError? in
        guard let base = b.baseAddress else { return nil }
        do throws(RegistryError) { try writeAll(fd, base, b.count, path: tmp) } catch { return error }
        return nil
      }
      if let failure { throw failure }
      guard fsync(fd) == 0 else { throw ioError(tmp, "cannot fsync") }
    }
    if createOnly {
      if link(tmp, path) != 0 {
        if errno == EEXIST { return false }
        throw ioError(path, "cannot create")
      }
    } else if rename(tmp, path) != 0 {
      throw ioError(path, "cannot replace")
    }
    try syncDirectory((path as NSString).deletingLastPathComponent)
    return true
  }

  /// Creates `path` with `mode` and writes `data`; fails if anything exists there. The mode is
  /// set by open(2) itself, so a private key is never readable by others, even briefly.
  static func createExclusive(_ path: String, _ data: Data, mode: mode_t) throws(RegistryError) {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw ioError(path, "cannot create") }
    defer { close(fd) }
    let failure: RegistryError? = data.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> RegistryError? in
      guard let base = b.baseAddress else { return nil }
      do throws(RegistryError) { try writeAll(fd, base, b.count, path: path) } catch { return error }
      return nil
    }
    if let failure {
      unlink(path)
      throw failure
    }
    guard fsync(fd) == 0 else { throw ioError(path, "cannot fsync") }
  }

  /// Size of a regular file, or nil when there is none at `path`.
  static func regularFileSize(_ path: String) -> Int? {
    var st = stat()
    guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
    return Int(st.st_size)
  }

  /// SHA-256 of a whole file, read in 4 MiB chunks.
  static func hashFile(_ path: String, progress: ProgressHandler?) throws(RegistryError) -> (Digest, Int) {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw ioError(path, "cannot open") }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw ioError(path, "cannot stat") }
    let total = Int(st.st_size)
    var hasher = SHA256()
    var done = 0
    let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buf.deallocate() }
    progress?("hashing", 0, total)
    while true {
      let n = read(fd, buf, chunk)
      if n < 0 {
        if errno == EINTR { continue }
        throw ioError(path, "cannot read")
      }
      if n == 0 { break }
      hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buf, count: n))
      done += n
      progress?("hashing", done, total)
    }
    return (Digest(sha256: hasher.finalize()), done)
  }

  enum StoreMethod: String { case reflink, copy }

  /// Puts the bytes of `source` into the new file `destination`: a reflink (FICLONE, shared
  /// extents, no data copied) where the filesystem allows it, else a copy. Returns the SHA-256
  /// of what was written, read back from `destination` after a reflink or hashed on the way
  /// through a copy, so the digest always describes the stored bytes. `destination` is fsynced.
  static func store(_ source: String, to destination: String, progress: ProgressHandler?) throws(RegistryError) -> (Digest, Int, StoreMethod) {
    let src = open(source, O_RDONLY | O_CLOEXEC)
    guard src >= 0 else { throw .sourceUnreadable(path: source, reason: errorText) }
    defer { close(src) }
    var st = stat()
    guard fstat(src, &st) == 0 else { throw .sourceUnreadable(path: source, reason: errorText) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw .sourceUnreadable(path: source, reason: "not a regular file") }
    let total = Int(st.st_size)
    let dst = open(destination, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard dst >= 0 else { throw ioError(destination, "cannot create") }
    defer { close(dst) }

    // FICLONE = _IOW(0x94, 9, int): the destination shares the source's extents (Btrfs, XFS, ...).
    let ficlone: UInt = 0x4004_9409
    if ioctl(dst, ficlone, src) == 0 {
      guard fsync(dst) == 0 else { throw ioError(destination, "cannot fsync") }
      let (digest, size) = try hashFile(destination, progress: progress)
      return (digest, size, .reflink)
    }

    var hasher = SHA256()
    var done = 0
    let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
    defer { buf.deallocate() }
    progress?("copying", 0, total)
    while true {
      let n = read(src, buf, chunk)
      if n < 0 {
        if errno == EINTR { continue }
        throw .sourceUnreadable(path: source, reason: errorText)
      }
      if n == 0 { break }
      hasher.update(bufferPointer: UnsafeRawBufferPointer(start: buf, count: n))
      try writeAll(dst, buf, n, path: destination)
      done += n
      progress?("copying", done, total)
    }
    guard fsync(dst) == 0 else { throw ioError(destination, "cannot fsync") }
    return (Digest(sha256: hasher.finalize()), done, .copy)
  }

  /// An exclusive lock on `path` (created if needed) held until `body` returns, so that imports
  /// and removals in different processes don't race on blob reference counts.
  static func withLock<T>(_ path: String, _ body: () throws(RegistryError) -> T) throws(RegistryError) -> T {
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw ioError(path, "cannot open lock") }
    defer { close(fd) }
    while flock(fd, LOCK_EX) != 0 {
      if errno != EINTR { throw ioError(path, "cannot lock") }
    }
    defer { flock(fd, LOCK_UN) }
    return try body()
  }
}
