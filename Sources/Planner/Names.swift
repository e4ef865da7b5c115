/// Name matching for presets and hardware: case-insensitive, and a close-names hint for typos.
public enum Names {
  /// `Llama 2 70B`, `llama_2_70b` and `LLAMA-2-70B` all become `llama-2-70b`.
  public static func normalize(_ s: String) -> String {
    String(s.lowercased().map { $0 == "_" || $0 == " " ? "-" : $0 })
  }

  /// Up to `limit` candidates closest to `name`: containment first, then edit distance.
  public static func closest(to name: String, in candidates: [String], limit: Int = 3) -> [String] {
    let key = normalize(name)
    let squashed = key.filter { $0 != "-" && $0 != "." }
    let scored = candidates.map { c -> (String, Int) in
      let cs = c.filter { $0 != "-" && $0 != "." }
      let contains = !squashed.isEmpty && (cs.contains(squashed) || squashed.contains(cs))
      return (c, contains ? 0 : editDistance(key, c))
    }
    let cutoff = max(3, key.count / 2)
    return scored.filter { $0.1 <= cutoff }
      .sorted { $0.1 != $1.1 ? $0.1 < $1.1 : $0.0 < $1.0 }
      .prefix(limit).map(\.0)
  }

  /// Levenshtein distance over characters.
  static func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
      cur[0] = i
      for j in 1...b.count {
        cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
      }
      swap(&prev, &cur)
    }
    return prev[b.count]
  }
}
