import Dispatch
import Engine

/// Runs an embedder's forward passes one at a time on its own queue, off the async executors.
public final class EmbeddingService: Sendable {
  public let embedder: Embedder
  private let queue = DispatchQueue(label: "hearth-embed")

  init(embedder: Embedder) { self.embedder = embedder }

  func embed(tokens: [[Int]]) async throws -> EmbeddingResult {
    try await withCheckedThrowingContinuation { cont in
      queue.async {
        do { cont.resume(returning: try self.embedder.embed(tokens: tokens)) } catch { cont.resume(throwing: error) }
      }
    }
  }
}
