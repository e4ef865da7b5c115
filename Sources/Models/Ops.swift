import Foundation
import Kernels

/// Small element-wise operations of the forward pass. Matrix products are in Kernels; these are
/// the cheap steps between them, written as plain loops the compiler vectorizes.
enum Ops {
  /// out = x / rms(x) * weight, over `n` elements. Sums in Double: the norm's accuracy sets every
  /// later error, and it costs nothing next to a matrix product.
  @inline(__always)
  static func rmsNorm(_ x: UnsafePointer<Float>, _ weight: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, n: Int, eps: Float) {
    var ss: Double = 0
    for i in 0..<n { ss += Double(x[i]) * Double(x[i]) }
    let scale = Float(1 / (ss / Double(n) + Double(eps)).squareRoot())
    for i in 0..<n { out[i] = x[i] * scale * weight[i] }
  }

  /// RMSNorm of each of `rows` consecutive vectors of length `n`, in place (Gemma's QK-norm).
  static func rmsNormRows(_ x: UnsafeMutablePointer<Float>, _ weight: UnsafePointer<Float>, rows: Int, n: Int, eps: Float) {
    for r in 0..<rows { rmsNorm(x + r * n, weight, x + r * n, n: n, eps: eps) }
  }

  static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, n: Int) {
    for i in 0..<n { x[i] += y[i] }
  }

  static func scale(_ x: UnsafeMutablePointer<Float>, by s: Float, n: Int) {
    for i in 0..<n { x[i] *= s }
  }

  /// Adds a bias to each of `rows` rows of length `n`, rows `stride` apart.
  static func addBias(_ x: UnsafeMutablePointer<Float>, _ bias: UnsafePointer<Float>, rows: Int, n: Int, stride: Int) {
    for r in 0..<rows { add(x + r * stride, bias, n: n) }
  }

  /// gate = silu(gate) * up (SwiGLU), eight lanes at a time with a vector exp.
  static func swiglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
    VecOps.siluMul(gate, up, n)
  }

  /// gate = gelu_tanh(gate) * up (GeGLU, Gemma), computed as gate / (1 + e^(-2u)).
  static func geglu(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, n: Int) {
    VecOps.geluMul(gate, up, n)
  }
}

/// Rotary position embedding tables: inverse frequencies for one base, applied in place.
struct RoPE {
  let dim: Int  // rotated dimensions (pairs = dim / 2)
  let style: RoPEStyle
  let invFreq: [Double]

  init(dim: Int, base: Double, style: RoPEStyle) {
    self.dim = dim
    self.style = style
    invFreq = (0..<(dim / 2)).map { pow(base, -Double(2 * $0) / Double(dim)) }
  }

  /// cos and sin of position `pos`'s angles (dim / 2 of each). Angles are computed in Double so
  /// that long positions keep their precision.
  func angles(pos: Int, cos: UnsafeMutablePointer<Float>, sin: UnsafeMutablePointer<Float>) {
    for i in 0..<(dim / 2) {
      let theta = Double(pos) * invFreq[i]
      cos[i] = Float(Foundation.cos(theta))
      sin[i] = Float(Foundation.sin(theta))
    }
  }

  /// Rotates `heads` vectors of length `headDim` by the angles in cos/sin (from `angles`).
  func apply(_ x: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, cos: UnsafePointer<Float>, sin: UnsafePointer<Float>) {
    let half = dim / 2
    for h in 0..<heads {
      let v = x + h * headDim
      switch style {
      case .normal:
        for i in 0..<half {
          let a = v[2 * i], b = v[2 * i + 1]
          v[2 * i] = a * cos[i] - b * sin[i]
          v[2 * i + 1] = a * sin[i] + b * cos[i]
        }
      case .neox:
        for i in 0..<half {
          let a = v[i], b = v[i + half]
          v[i] = a * cos[i] - b * sin[i]
          v[i + half] = a * sin[i] + b * cos[i]
        }
      }
    }
  }
}
