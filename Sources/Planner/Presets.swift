/// Built-in models with their published architecture numbers.
///
/// Each entry's numbers are the `config.json` values of the Hugging Face repository named in its
/// comment (hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads, head_dim,
/// intermediate_size, vocab_size, max_position_embeddings, tie_word_embeddings, num_local_experts,
/// num_experts_per_tok, sliding_window). Gemma 3 4B and larger are multimodal: these are their text
/// models (`text_config`); the vision tower (~0.4 B) is not counted.
public enum Presets {
  public static let all: [ModelSpec] = llama + qwen + mistral + gemma + small

  public static func named(_ name: String) -> ModelSpec? {
    let key = Names.normalize(name)
    return all.first { $0.name == key }
  }

  static let llama: [ModelSpec] = [
    // meta-llama/Llama-2-7b-hf: 4096 hidden, 32 layers, 32 heads, 32 KV heads (no GQA), 11008 FFN, 32000 vocab, 4096 ctx.
    ModelSpec(name: "llama-2-7b", family: "llama", layers: 32, hidden: 4096, heads: 32, kvHeads: 32,
              vocab: 32000, ffn: 11008, tiedEmbeddings: false, maxContext: 4096),
    // meta-llama/Llama-2-13b-hf: 5120 hidden, 40 layers, 40 heads, 40 KV heads, 13824 FFN.
    ModelSpec(name: "llama-2-13b", family: "llama", layers: 40, hidden: 5120, heads: 40, kvHeads: 40,
              vocab: 32000, ffn: 13824, tiedEmbeddings: false, maxContext: 4096),
    // meta-llama/Llama-2-70b-hf: 8192 hidden, 80 layers, 64 heads, 8 KV heads, 28672 FFN.
    ModelSpec(name: "llama-2-70b", family: "llama", layers: 80, hidden: 8192, heads: 64, kvHeads: 8,
              vocab: 32000, ffn: 28672, tiedEmbeddings: false, maxContext: 4096),
    // meta-llama/Meta-Llama-3-8B: 4096 hidden, 32 layers, 32 heads, 8 KV heads, 14336 FFN, 128256 vocab, 8192 ctx.
    ModelSpec(name: "llama-3-8b", family: "llama", layers: 32, hidden: 4096, heads: 32, kvHeads: 8,
              vocab: 128_256, ffn: 14336, tiedEmbeddings: false, maxContext: 8192),
    // meta-llama/Meta-Llama-3-70B: 8192 hidden, 80 layers, 64 heads, 8 KV heads, 28672 FFN, 8192 ctx.
    ModelSpec(name: "llama-3-70b", family: "llama", layers: 80, hidden: 8192, heads: 64, kvHeads: 8,
              vocab: 128_256, ffn: 28672, tiedEmbeddings: false, maxContext: 8192),
    // meta-llama/Llama-3.1-8B: as Llama 3 8B, max_position_embeddings 131072.
    ModelSpec(name: "llama-3.1-8b", family: "llama", layers: 32, hidden: 4096, heads: 32, kvHeads: 8,
              vocab: 128_256, ffn: 14336, tiedEmbeddings: false, maxContext: 131_072),
    // meta-llama/Llama-3.1-70B: as Llama 3 70B, 131072 ctx.
    ModelSpec(name: "llama-3.1-70b", family: "llama", layers: 80, hidden: 8192, heads: 64, kvHeads: 8,
              vocab: 128_256, ffn: 28672, tiedEmbeddings: false, maxContext: 131_072),
    // meta-llama/Llama-3.2-1B: 2048 hidden, 16 layers, 32 heads, 8 KV heads, head_dim 64, 8192 FFN, tied.
    ModelSpec(name: "llama-3.2-1b", family: "llama", layers: 16, hidden: 2048, heads: 32, kvHeads: 8, headDim: 64,
              vocab: 128_256, ffn: 8192, tiedEmbeddings: true, maxContext: 131_072),
    // meta-llama/Llama-3.2-3B: 3072 hidden, 28 layers, 24 heads, 8 KV heads, head_dim 128, 8192 FFN, tied.
    ModelSpec(name: "llama-3.2-3b", family: "llama", layers: 28, hidden: 3072, heads: 24, kvHeads: 8, headDim: 128,
              vocab: 128_256, ffn: 8192, tiedEmbeddings: true, maxContext: 131_072),
    // meta-llama/Llama-3.3-70B-Instruct: the Llama 3.1 70B architecture.
    ModelSpec(name: "llama-3.3-70b", family: "llama", layers: 80, hidden: 8192, heads: 64, kvHeads: 8,
              vocab: 128_256, ffn: 28672, tiedEmbeddings: false, maxContext: 131_072),
  ]

  // Qwen2.5 context: the model cards give 32,768 for 0.5B–3B and 131,072 (with YaRN) for 7B and up.
  static let qwen: [ModelSpec] = [
    // Qwen/Qwen2.5-0.5B: 896 hidden, 24 layers, 14 heads, 2 KV heads, 4864 FFN, 151936 vocab, tied.
    ModelSpec(name: "qwen2.5-0.5b", family: "qwen2", layers: 24, hidden: 896, heads: 14, kvHeads: 2,
              vocab: 151_936, ffn: 4864, tiedEmbeddings: true, maxContext: 32768, attentionBias: true),
    // Qwen/Qwen2.5-1.5B: 1536 hidden, 28 layers, 12 heads, 2 KV heads, 8960 FFN, tied.
    ModelSpec(name: "qwen2.5-1.5b", family: "qwen2", layers: 28, hidden: 1536, heads: 12, kvHeads: 2,
              vocab: 151_936, ffn: 8960, tiedEmbeddings: true, maxContext: 32768, attentionBias: true),
    // Qwen/Qwen2.5-3B: 2048 hidden, 36 layers, 16 heads, 2 KV heads, 11008 FFN, tied.
    ModelSpec(name: "qwen2.5-3b", family: "qwen2", layers: 36, hidden: 2048, heads: 16, kvHeads: 2,
              vocab: 151_936, ffn: 11008, tiedEmbeddings: true, maxContext: 32768, attentionBias: true),
    // Qwen/Qwen2.5-7B: 3584 hidden, 28 layers, 28 heads, 4 KV heads, 18944 FFN, 152064 vocab.
    ModelSpec(name: "qwen2.5-7b", family: "qwen2", layers: 28, hidden: 3584, heads: 28, kvHeads: 4,
              vocab: 152_064, ffn: 18944, tiedEmbeddings: false, maxContext: 131_072, attentionBias: true),
    // Qwen/Qwen2.5-14B: 5120 hidden, 48 layers, 40 heads, 8 KV heads, 13824 FFN.
    ModelSpec(name: "qwen2.5-14b", family: "qwen2", layers: 48, hidden: 5120, heads: 40, kvHeads: 8,
              vocab: 152_064, ffn: 13824, tiedEmbeddings: false, maxContext: 131_072, attentionBias: true),
    // Qwen/Qwen2.5-32B: 5120 hidden, 64 layers, 40 heads, 8 KV heads, 27648 FFN.
    ModelSpec(name: "qwen2.5-32b", family: "qwen2", layers: 64, hidden: 5120, heads: 40, kvHeads: 8,
              vocab: 152_064, ffn: 27648, tiedEmbeddings: false, maxContext: 131_072, attentionBias: true),
    // Qwen/Qwen2.5-72B: 8192 hidden, 80 layers, 64 heads, 8 KV heads, 29568 FFN.
    ModelSpec(name: "qwen2.5-72b", family: "qwen2", layers: 80, hidden: 8192, heads: 64, kvHeads: 8,
              vocab: 152_064, ffn: 29568, tiedEmbeddings: false, maxContext: 131_072, attentionBias: true),
  ]

  static let mistral: [ModelSpec] = [
    // mistralai/Mistral-7B-v0.3: 4096 hidden, 32 layers, 32 heads, 8 KV heads, 14336 FFN, 32768 vocab, 32768 ctx.
    ModelSpec(name: "mistral-7b", family: "llama", layers: 32, hidden: 4096, heads: 32, kvHeads: 8,
              vocab: 32768, ffn: 14336, tiedEmbeddings: false, maxContext: 32768),
    // mistralai/Mixtral-8x7B-v0.1: Mistral 7B's attention, 8 experts of 14336 FFN, 2 active, 32000 vocab.
    ModelSpec(name: "mixtral-8x7b", family: "llama", layers: 32, hidden: 4096, heads: 32, kvHeads: 8,
              vocab: 32000, ffn: 14336, experts: 8, activeExperts: 2, tiedEmbeddings: false, maxContext: 32768),
    // mistralai/Mixtral-8x22B-v0.1: 6144 hidden, 56 layers, 48 heads, 8 KV heads, 8 × 16384 FFN, 2 active, 65536 ctx.
    ModelSpec(name: "mixtral-8x22b", family: "llama", layers: 56, hidden: 6144, heads: 48, kvHeads: 8,
              vocab: 32000, ffn: 16384, experts: 8, activeExperts: 2, tiedEmbeddings: false, maxContext: 65536),
  ]

  // Gemma 3: five sliding-window layers per global one (sliding_window_pattern 6), tied embeddings.
  static let gemma: [ModelSpec] = [
    // google/gemma-3-270m: 640 hidden, 18 layers, 4 heads, 1 KV head, head_dim 256, 2048 FFN, 262144 vocab, window 512.
    ModelSpec(name: "gemma-3-270m", family: "gemma3", layers: 18, hidden: 640, heads: 4, kvHeads: 1, headDim: 256,
              vocab: 262_144, ffn: 2048, tiedEmbeddings: true, maxContext: 32768, slidingWindow: 512, slidingPattern: 6),
    // google/gemma-3-1b-it: 1152 hidden, 26 layers, 4 heads, 1 KV head, head_dim 256, 6912 FFN, window 512.
    ModelSpec(name: "gemma-3-1b", family: "gemma3", layers: 26, hidden: 1152, heads: 4, kvHeads: 1, headDim: 256,
              vocab: 262_144, ffn: 6912, tiedEmbeddings: true, maxContext: 32768, slidingWindow: 512, slidingPattern: 6),
    // google/gemma-3-4b-it text_config: 2560 hidden, 34 layers, 8 heads, 4 KV heads, head_dim 256, 10240 FFN, window 1024.
    ModelSpec(name: "gemma-3-4b", family: "gemma3", layers: 34, hidden: 2560, heads: 8, kvHeads: 4, headDim: 256,
              vocab: 262_208, ffn: 10240, tiedEmbeddings: true, maxContext: 131_072, slidingWindow: 1024, slidingPattern: 6),
    // google/gemma-3-12b-it text_config: 3840 hidden, 48 layers, 16 heads, 8 KV heads, head_dim 256, 15360 FFN.
    ModelSpec(name: "gemma-3-12b", family: "gemma3", layers: 48, hidden: 3840, heads: 16, kvHeads: 8, headDim: 256,
              vocab: 262_208, ffn: 15360, tiedEmbeddings: true, maxContext: 131_072, slidingWindow: 1024, slidingPattern: 6),
    // google/gemma-3-27b-it text_config: 5376 hidden, 62 layers, 32 heads, 16 KV heads, head_dim 128, 21504 FFN.
    ModelSpec(name: "gemma-3-27b", family: "gemma3", layers: 62, hidden: 5376, heads: 32, kvHeads: 16, headDim: 128,
              vocab: 262_208, ffn: 21504, tiedEmbeddings: true, maxContext: 131_072, slidingWindow: 1024, slidingPattern: 6),
  ]

  static let small: [ModelSpec] = [
    // HuggingFaceTB/SmolLM2-135M: 576 hidden, 30 layers, 9 heads, 3 KV heads, 1536 FFN, 49152 vocab, 8192 ctx, tied.
    ModelSpec(name: "smollm2-135m", family: "llama", layers: 30, hidden: 576, heads: 9, kvHeads: 3,
              vocab: 49152, ffn: 1536, tiedEmbeddings: true, maxContext: 8192),
  ]
}
