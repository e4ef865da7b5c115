import Engine

/// Merges the event streams of a request's `n` choices into one stream tagged by choice index.
/// When the consumer goes away, the forwarding tasks stop (and the engine cancels the requests
/// as their streams terminate).
func mergeChoices(_ streams: [AsyncStream<GenerationEvent>]) -> AsyncStream<(index: Int, event: GenerationEvent)> {
  let (out, cont) = AsyncStream<(index: Int, event: GenerationEvent)>.makeStream(bufferingPolicy: .unbounded)
  let group = Task {
    await withTaskGroup(of: Void.self) { g in
      for (i, s) in streams.enumerated() {
        g.addTask {
          for await e in s {
            if Task.isCancelled { break }
            cont.yield((i, e))
          }
        }
      }
    }
    cont.finish()
  }
  cont.onTermination = { _ in group.cancel() }
  return out
}

/// What a finished choice produced, gathered from its events.
struct ChoiceResult {
  var text = ""
  var finish: FinishReason = .stop
  var usage = Usage(promptTokens: 0, completionTokens: 0)
  var logprobs: [TokenLogprob] = []
  var failure: String? = nil
  var done = false

  mutating func apply(_ e: GenerationEvent) {
    switch e {
    case .admitted: break
    case .token(_, let t, let lp):
      text += t
      if let lp { logprobs.append(lp) }
    case .finished(let reason, let t, let u):
      text += t
      finish = reason
      usage = u
      done = true
    case .failed(let m):
      failure = m
      done = true
    }
  }
}
