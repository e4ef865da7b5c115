import Foundation

/// Where the control plane reads the time: the system clock in production, a manual clock in tests
/// (rate-limit windows, expiry and budgets are then tested without sleeping).
public protocol TimeSource: Sendable {
  func now() -> Date
}

public struct SystemTime: TimeSource {
  public init() {}
  public func now() -> Date { Date() }
}

/// A clock that moves only when told to.
public final class ManualTime: TimeSource {
  private let current: Locked<Date>

  public init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = Locked(start) }

  public func now() -> Date { current.withLock { $0 } }

  public func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }

  public func set(_ date: Date) { current.withLock { $0 = date } }
}

/// UTC calendar helpers for usage days and budget periods.
enum UTCDay {
  static let calendar: Calendar = {
    var c = Calendar(identifier: .gregorian)
    c.timeZone = TimeZone(identifier: "UTC")!
    return c
  }()

  /// `YYYY-MM-DD` of `date` in UTC.
  static func day(_ date: Date) -> String {
    let c = calendar.dateComponents([.year, .month, .day], from: date)
    return String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
  }

  /// The first and last day of the period containing `date`, and when the period ends.
  static func period(_ p: BudgetPeriod, containing date: Date) -> (from: String, to: String, end: Date) {
    switch p {
    case .day:
      let start = calendar.startOfDay(for: date)
      return (day(start), day(start), calendar.date(byAdding: .day, value: 1, to: start)!)
    case .month:
      let start = calendar.date(from: calendar.dateComponents([.year, .month], from: date))!
      let end = calendar.date(byAdding: .month, value: 1, to: start)!
      return (day(start), day(end.addingTimeInterval(-1)), end)
    }
  }
}
