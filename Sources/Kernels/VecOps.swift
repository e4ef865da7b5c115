import CKernels

/// Fast f32 vector helpers for the model layer (AVX2 when available, portable C otherwise).
public enum VecOps {
  nonisolated(unsafe) private static let k = KernelLevel.preferred.table

  /// Σ a[i] * b[i].
  @inline(__always)
  public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
    k.pointee.dot_f32(Int32(n), a, b)
  }

  /// y[0..<n] += a * x[0..<n].
  @inline(__always)
  public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    k.pointee.axpy_f32(Int32(n), a, x, y)
  }

  /// y[0..<n] *= a.
  @inline(__always)
  public static func scale(_ a: Float, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    k.pointee.scale_f32(Int32(n), a, y)
  }

  /// g[0..<n] = silu(g) * u (SwiGLU's gate times up).
  @inline(__always)
  public static func siluMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
    k.pointee.silu_mul(Int32(n), g, u)
  }

  /// g[0..<n] = gelu_tanh(g) * u (GeGLU's gate times up).
  @inline(__always)
  public static func geluMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int) {
    k.pointee.gelu_mul(Int32(n), g, u)
  }

  /// The same operations at a given level (for tests comparing levels).
  public static func siluMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int, level: KernelLevel) {
    level.table.pointee.silu_mul(Int32(n), g, u)
  }
  public static func geluMul(_ g: UnsafeMutablePointer<Float>, _ u: UnsafePointer<Float>, _ n: Int, level: KernelLevel) {
    level.table.pointee.gelu_mul(Int32(n), g, u)
  }
  public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int, level: KernelLevel) -> Float {
    level.table.pointee.dot_f32(Int32(n), a, b)
  }
  public static func axpy(_ a: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, level: KernelLevel) {
    level.table.pointee.axpy_f32(Int32(n), a, x, y)
  }
  public static func scale(_ a: Float, _ y: UnsafeMutablePointer<Float>, _ n: Int, level: KernelLevel) {
    level.table.pointee.scale_f32(Int32(n), a, y)
  }
}
