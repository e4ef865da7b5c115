import Foundation
import GGUF
import Models
import Testing

@testable import Engine

/// all-MiniLM-L6-v2 against sentence-transformers' vectors (float64 reference), from its own
/// safetensors folder and from the GGUF `hearth convert` writes. Run with `-c release`.
@Suite(.serialized) struct MiniLMTests {
  /// Cosine of every reference text's vector; the ids must match exactly first.
  private func check(_ e: Embedder, _ ref: MiniLMReference, minimum: Double, label: String) throws -> Double {
    let texts = ref.embeddings.map(\.text)
    #expect(e.tokenize(texts) == ref.embeddings.map(\.ids), "\(label): token ids differ from tokenizer.json's")
    let result = try e.embed(texts)
    #expect(result.tokenCounts == ref.embeddings.map(\.ids.count))
    var worst = 1.0
    for (v, r) in zip(result.vectors, ref.embeddings) {
      #expect(v.count == 384)
      #expect(abs(norm(v) - 1) < 1e-5)
      let c = cosine(v, r.embedding)
      #expect(c >= minimum, "\(label): cosine \(c) for \(r.text.debugDescription)")
      worst = min(worst, c)
    }
    print("\(label): minimum cosine \(String(format: "%.9f (1 - cos = %.1e)", worst, 1 - worst)) over \(ref.embeddings.count) texts")
    return worst
  }

  @Test func folderMatchesSentenceTransformers() throws {
    guard let ref = try MiniLMReference.load(), let dir = Paths.require(Paths.minilm + "/model.safetensors") else { return }
    let e = try Embedder(path: URL(fileURLWithPath: dir).deletingLastPathComponent().path)
    #expect(e.kind == .encoder && !e.isDecoderPooled && e.dimension == 384 && e.maxTokens == 256)
    _ = try check(e, ref, minimum: 0.999, label: "safetensors")
  }

  @Test func convertedGGUFMatchesSentenceTransformers() throws {
    guard let ref = try MiniLMReference.load() else { return }
    try withConverted(.f32) { gguf in
      let e = try Embedder(path: gguf)
      #expect(e.kind == .encoder && e.dimension == 384 && e.maxTokens == 256)
      _ = try check(e, ref, minimum: 0.999, label: "gguf f32")
    }
  }

  /// Smaller files keep most of the accuracy; the bounds record what was measured.
  @Test(arguments: [(BertConverter.OutputType.f16, 0.9999), (.q8_0, 0.998)])
  func quantizedGGUF(_ type: BertConverter.OutputType, _ minimum: Double) throws {
    guard let ref = try MiniLMReference.load() else { return }
    try withConverted(type) { _ = try check(try Embedder(path: $0), ref, minimum: minimum, label: "gguf \(type.rawValue)") }
  }

  @Test func similarityMatrix() throws {
    guard let ref = try MiniLMReference.load() else { return }
    let s = ref.similarity_check
    let embedders = try withConverted(.f32) { [try Embedder(path: Paths.minilm), try Embedder(path: $0)] } ?? []
    for e in embedders {
      let v = try e.embed(s.sentences).vectors
      for i in v.indices {
        for j in v.indices { #expect(abs(cosine(v[i], v[j]) - s.cosine_matrix[i][j]) < 1e-3, "[\(i)][\(j)]") }
      }
      // The paraphrases score far above the unrelated pairs.
      #expect(cosine(v[0], v[1]) > 0.9 && cosine(v[0], v[2]) < 0.2 && cosine(v[2], v[3]) < 0.2)
    }
  }

  @Test func convertedFileIsLlamaCppShaped() throws {
    try withConverted(.f32) { try checkMetadata(GGUFFile(path: $0)) }
  }

  private func checkMetadata(_ f: GGUFFile) throws {
    #expect(f.architecture == "bert")
    #expect(f.int("bert.embedding_length") == 384 && f.int("bert.block_count") == 6 && f.int("bert.context_length") == 512)
    #expect(f.int("bert.attention.head_count") == 12 && f.int("bert.feed_forward_length") == 1536)
    #expect(f.int("bert.pooling_type") == 1 && f.bool("bert.attention.causal") == false)
    #expect(f.int(BertConfig.maxTokensKey) == 256)
    #expect(f.string("tokenizer.ggml.model") == "bert")
    let tokens = try #require(f.array("tokenizer.ggml.tokens")?.strings)
    #expect(tokens.count == 30522)
    #expect(tokens[101] == "[CLS]" && tokens[7592] == "\u{2581}hello" && tokens[2015] == "s")  // "##s" loses its prefix
    #expect(f.int("tokenizer.ggml.bos_token_id") == 101 && f.int("tokenizer.ggml.seperator_token_id") == 102)
    #expect(f.int("tokenizer.ggml.unknown_token_id") == 100 && f.int("tokenizer.ggml.padding_token_id") == 0)
    #expect(f.tensors.count == 5 + 6 * 16)
    #expect(f.tensor(named: "token_embd.weight")?.dims == [384, 30522])
    #expect(f.tensor(named: "blk.5.ffn_up.weight")?.dims == [384, 1536])
    #expect(f.string("tokenizer.huggingface.json") == (try String(contentsOfFile: Paths.minilm + "/tokenizer.json", encoding: .utf8)))
  }

  /// A GGUF as llama.cpp's converter writes it (no tokenizer.json inside, no Hearth keys): the
  /// tokenizer is rebuilt from the token list and still matches tokenizer.json's ids.
  @Test func llamaCppStyleGGUF() throws {
    guard let ref = try MiniLMReference.load() else { return }
    try withConverted(.f32) { gguf in
      let f = try GGUFFile(path: gguf)
      var w = GGUFWriter()
      w.copyMetadata(from: f)
      w.remove("tokenizer.huggingface.json")
      w.remove(BertConfig.maxTokensKey)
      for t in f.tensors { try w.addTensor(name: t.name, dims: t.dims, type: t.type, bytes: Array(f.data(for: t))) }
      let plain = gguf + ".plain.gguf"
      try w.write(to: plain)
      defer { try? FileManager.default.removeItem(atPath: plain) }
      let e = try Embedder(path: plain)
      #expect(e.maxTokens == 512)
      _ = try check(e, ref, minimum: 0.999, label: "gguf without tokenizer.json")
    }
  }

  @Test func truncatesLongTextsAndRefusesLongTokenInputs() throws {
    guard Paths.require(Paths.minilm + "/model.safetensors") != nil else { return }
    let e = try Embedder(path: Paths.minilm)
    let long = String(repeating: "hello world ", count: 400)
    let r = try e.embed([long, "short"])
    #expect(r.tokenCounts == [256, 3])
    #expect(abs(norm(r.vectors[0]) - 1) < 1e-5)
    #expect { try e.embed(tokens: [Array(repeating: 7592, count: 257)]) } throws: { error in
      if case .tooManyTokens(0, 257, 256) = error as? EmbedderError { true } else { false }
    }
    #expect { try e.embed(tokens: [[101, 30522, 102]]) } throws: { error in
      if case .bert(_, .badToken(30522, 30522)) = error as? EmbedderError { true } else { false }
    }
    #expect { try e.embed([]) } throws: { error in if case .emptyInput = error as? EmbedderError { true } else { false } }
  }

  @Test func refusesBadPaths() throws {
    #expect { try Embedder(path: "/nonexistent/model") } throws: { if case .notFound = $0 as? EmbedderError { true } else { false } }
    let dir = try Paths.tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try Data("not a model".utf8).write(to: URL(fileURLWithPath: dir + "/x.gguf"))
    #expect { try Embedder(path: dir + "/x.gguf") } throws: { if case .model(_, .gguf(.tooSmall)) = $0 as? EmbedderError { true } else { false } }
    #expect { try Embedder(path: dir) } throws: { if case .bert(_, .cannotRead) = $0 as? EmbedderError { true } else { false } }
    #expect { try BertConverter.convert(folder: dir + "/none", to: dir + "/out.gguf") } throws: {
      if case .notFound = $0 as? EmbedderError { true } else { false }
    }
    #expect(!FileManager.default.fileExists(atPath: dir + "/out.gguf"))
  }
}

/// Converts the real folder to a temporary GGUF of `type`, runs `body` on it, removes it.
func withConverted<T>(_ type: BertConverter.OutputType, sourceLocation: SourceLocation = #_sourceLocation, _ body: (String) throws -> T) throws -> T? {
  guard Paths.require(Paths.minilm + "/model.safetensors", sourceLocation: sourceLocation) != nil else { return nil }
  let dir = try Paths.tempDir()
  defer { try? FileManager.default.removeItem(atPath: dir) }
  let out = dir + "/minilm-\(type.rawValue).gguf"
  let summary = try BertConverter.convert(folder: Paths.minilm, to: out, type: type)
  #expect(summary.tensors == 101 && summary.bytes > 0, sourceLocation: sourceLocation)
  return try body(out)
}
